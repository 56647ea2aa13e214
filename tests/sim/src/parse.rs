//! What more than one simulator parses out of a request the same way.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Percent-decoded `s`; with `plus_space`, `+` is a space first, as in a
/// query string (`application/x-www-form-urlencoded`). Invalid escapes stay
/// as written, and bytes that are not UTF-8 become U+FFFD.
pub(crate) fn pct_decode(s: &str, plus_space: bool) -> String {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    if plus_space {
        decode(&s.replace('+', " "))
    } else {
        decode(s)
    }
}

/// An ISO 8601 date or date-time; without an offset it is UTC.
pub(crate) fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_as_a_query_string_or_a_path() {
        assert_eq!(pct_decode("a+b%2Bc%20d", true), "a b+c d");
        assert_eq!(pct_decode("a+b%2Bc", false), "a+b+c");
        assert_eq!(pct_decode("%zz%4", true), "%zz%4");
        assert_eq!(pct_decode("%C3%A9%FF", false), "é\u{FFFD}");
    }

    #[test]
    fn reads_dates_and_date_times() {
        let at = |s| parse_datetime(s).map(|t| t.to_rfc3339());
        assert_eq!(at("2024-05-01"), Some("2024-05-01T00:00:00+00:00".into()));
        assert_eq!(
            at("2024-05-01T10:00:00"),
            Some("2024-05-01T10:00:00+00:00".into())
        );
        assert_eq!(
            at("2024-05-01T12:00:00+02:00"),
            Some("2024-05-01T10:00:00+00:00".into())
        );
        assert_eq!(
            at("2024-05-01 10:00"),
            Some("2024-05-01T10:00:00+00:00".into())
        );
        assert_eq!(at("2024-05-01x"), None);
    }
}
