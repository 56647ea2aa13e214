//! Instants as Salesforce writes and reads them, without a clock: the
//! connector measures everything in the platform's time (its `Date` header
//! and its `SystemModstamp` values). Pure functions.
//!
//! Salesforce writes dateTime values as `2013-05-07T22:07:19.000+0000`
//! (REST API, e.g. sObject Get Deleted's example response); SOQL accepts
//! `YYYY-MM-DDThh:mm:ssZ` or `YYYY-MM-DDThh:mm:ss±hh:mm` literals, unquoted
//! and without fractional seconds ("Date Formats and Date Literals in
//! WHERE", SOQL and SOSL Reference).

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

pub const MINUTE: Millis = 60_000;
pub const DAY: Millis = 86_400_000;

/// Days since the epoch of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DDThh:mm:ss[.fff][Z|±hh:mm|±hhmm]` (RFC 3339 and the
/// form Salesforce writes); `None` for anything else.
pub fn parse(s: &str) -> Option<Millis> {
    let s = s.trim();
    if s.len() < 20 || s.as_bytes()[10] != b'T' && s.as_bytes()[10] != b't' {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let rest = &rest[1..];
    let mut parts = date.split('-');
    let (y, mo, d) = (
        digits(parts.next()?)?,
        digits(parts.next()?)?,
        digits(parts.next()?)?,
    );
    if parts.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let (h, mi, sec) = (
        digits(&rest[0..2])?,
        digits(&rest[3..5])?,
        digits(&rest[6..8])?,
    );
    if &rest[2..3] != ":" || &rest[5..6] != ":" || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut tail = &rest[8..];
    let mut ms = 0;
    if let Some(frac) = tail.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..n.min(3)]);
        ms = digits(&padded)?;
        tail = &frac[n..];
    }
    let offset_min = match tail {
        "Z" | "z" => 0,
        _ => {
            let sign = match tail.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = tail[1..].replace(':', "");
            if hm.len() != 4 {
                return None;
            }
            sign * (digits(&hm[..2])? * 60 + digits(&hm[2..])?)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + ms)
}

fn parts(t: Millis) -> (i64, i64, i64, i64, i64, i64, i64) {
    let days = t.div_euclid(DAY);
    let ms_of_day = t.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    (
        y,
        m,
        d,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000,
    )
}

/// `2024-01-02T03:04:05Z`: a SOQL dateTime literal (whole seconds, UTC).
pub fn soql(t: Millis) -> String {
    let (y, m, d, h, mi, s, _) = parts(t);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `2024-01-02T03:04:05.678Z`: RFC 3339 with milliseconds, as records'
/// versions and modification times are handed to the host.
pub fn rfc3339(t: Millis) -> String {
    let (y, m, d, h, mi, s, ms) = parts(t);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// Salesforce's dateTime (`…+0000`) as RFC 3339; text that is not a
/// dateTime is returned as it is.
pub fn normalize(s: &str) -> String {
    parse(s).map(rfc3339).unwrap_or_else(|| s.to_string())
}

/// Down to the whole second.
pub fn floor_second(t: Millis) -> Millis {
    t - t.rem_euclid(1000)
}

/// Down to the whole minute.
pub fn floor_minute(t: Millis) -> Millis {
    t - t.rem_euclid(MINUTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_salesforce_datetimes() {
        let t = parse("2013-05-07T22:07:19.000+0000").unwrap();
        assert_eq!(parse("2013-05-07T22:07:19Z"), Some(t));
        assert_eq!(parse("2013-05-08T00:07:19+02:00"), Some(t));
        assert_eq!(parse("2013-05-07T22:07:19.5Z"), Some(t + 500));
        assert_eq!(rfc3339(t), "2013-05-07T22:07:19.000Z");
        assert_eq!(soql(t + 999), "2013-05-07T22:07:19Z");
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339(parse("2024-02-29T23:59:59.999Z").unwrap()),
            "2024-02-29T23:59:59.999Z"
        );
        for bad in [
            "2013-05-07",
            "2013-05-07T22:07:19",
            "yesterday",
            "2013-13-07T22:07:19Z",
            "2013-05-07T22:07:19.Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn rounds_down() {
        let t = parse("2024-01-01T10:20:30.400Z").unwrap();
        assert_eq!(rfc3339(floor_second(t)), "2024-01-01T10:20:30.000Z");
        assert_eq!(rfc3339(floor_minute(t)), "2024-01-01T10:20:00.000Z");
        assert_eq!(
            normalize("2024-01-01T10:20:30.400+0000"),
            "2024-01-01T10:20:30.400Z"
        );
        assert_eq!(normalize("not a time"), "not a time");
    }
}
