//! Comparing RFC 3339 timestamps without a clock or a date library: the
//! guest has neither, and the checkpoint must never move backwards.

/// Seconds and nanoseconds since the Unix epoch of an RFC 3339 timestamp
/// (`2024-05-02T12:34:56.789Z`, `2024-05-02T14:34:56+02:00`).
pub fn parse(s: &str) -> Option<(i64, u32)> {
    let digits = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let b = s.as_bytes();
    let sep = |at: usize, allowed: &[u8]| b.get(at).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let mut rest = s.get(19..)?;
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let kept = &fraction[..len.min(9)];
        nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
        rest = &fraction[len..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let off = rest.get(1..)?;
            if off.len() != 5 || off.as_bytes()[2] != b':' {
                return None;
            }
            let hh: i64 = off.get(0..2)?.parse().ok()?;
            let mm: i64 = off.get(3..5)?.parse().ok()?;
            sign * (hh * 3600 + mm * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some((
        days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        nanos,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `ts` moved by `secs` seconds (the fraction dropped), in UTC:
/// `2024-05-02T12:33:56Z`.
pub fn shifted(ts: &str, secs: i64) -> Option<String> {
    let t = parse(ts)?.0 + secs;
    let (days, in_day) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (in_day / 3600, in_day % 3600 / 60, in_day % 60);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"
    ))
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (the
/// inverse of `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The later of two timestamps; compared as text when either does not parse.
pub fn later<'a>(a: &'a str, b: &'a str) -> &'a str {
    let a_after = match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x >= y,
        _ => a >= b,
    };
    if a_after {
        a
    } else {
        b
    }
}

/// Whether two timestamps name the same instant (as text when either does
/// not parse).
pub fn same_instant(a: &str, b: &str) -> bool {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_and_offsets() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(parse("1970-01-02T00:00:00.5Z"), Some((86_400, 500_000_000)));
        assert_eq!(
            parse("2024-05-02T12:34:56.789Z"),
            Some((1_714_653_296, 789_000_000))
        );
        assert_eq!(
            parse("2024-05-02T14:34:56.789+02:00"),
            parse("2024-05-02T12:34:56.789Z")
        );
        assert_eq!(parse("1969-12-31T23:00:00-01:00"), Some((0, 0)));
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "2024-05-02",
            "2024-05-02T12:34:56",
            "2024-13-02T00:00:00Z",
            "x024-05-02T12:34:56Z",
            "2024-05-02T12:34:56.Z",
            "2024-05-02T12:34:56+0200",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn shifted_moves_across_days_months_and_leap_years() {
        assert_eq!(
            shifted("2024-05-02T12:34:56.789Z", -60).as_deref(),
            Some("2024-05-02T12:33:56Z")
        );
        assert_eq!(
            shifted("2024-03-01T00:00:30Z", -60).as_deref(),
            Some("2024-02-29T23:59:30Z")
        );
        assert_eq!(
            shifted("2023-12-31T23:59:59+00:00", 1).as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            shifted("1970-01-01T00:00:00Z", -1).as_deref(),
            Some("1969-12-31T23:59:59Z")
        );
        assert_eq!(shifted("not a time", -60), None);
    }

    #[test]
    fn later_compares_instants_not_text() {
        assert_eq!(
            later("2024-05-02T12:34:56.500Z", "2024-05-02T12:34:56Z"),
            "2024-05-02T12:34:56.500Z"
        );
        assert_eq!(
            later("2024-05-02T12:00:00Z", "2024-05-02T13:00:00+02:00"),
            "2024-05-02T12:00:00Z"
        );
        assert_eq!(later("b", "a"), "b");
    }

    #[test]
    fn same_instant_ignores_format() {
        assert!(same_instant(
            "2024-05-02T12:34:56.000Z",
            "2024-05-02T12:34:56Z"
        ));
        assert!(same_instant(
            "2024-05-02T14:34:56+02:00",
            "2024-05-02T12:34:56Z"
        ));
        assert!(!same_instant(
            "2024-05-02T12:34:56.001Z",
            "2024-05-02T12:34:56Z"
        ));
    }
}
