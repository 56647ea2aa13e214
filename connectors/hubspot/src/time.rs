//! Times as HubSpot writes them, converted without a clock: RFC 3339
//! (`2019-10-30T03:30:17.883Z`), bare dates (`2019-10-30`) and milliseconds
//! since the epoch (`1572406217883`), which the API accepts and sometimes
//! returns for date properties ("CRM API | Properties": date and datetime
//! values). Pure functions.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM-DD` as days since the epoch.
fn parse_date(s: &str) -> Option<i64> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y as i64, m, d))
}

/// Milliseconds since the epoch of an RFC 3339 timestamp (any offset,
/// fractions of a second allowed), a bare date (midnight UTC), or a string of
/// digits that already is milliseconds.
pub fn to_millis(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    if s.len() == 10 {
        return parse_date(s).map(|d| d * 86_400_000);
    }
    let (date, rest) = s.split_at_checked(10)?;
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let days = parse_date(date)?;
    // Split the time from its offset.
    let (time, offset_ms) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':')?;
        let (h, m) = (num(h)? as i64, num(m)? as i64);
        (t, sign * (h * 3_600_000 + m * 60_000))
    };
    let (hms, frac) = match time.split_once('.') {
        Some((hms, frac)) => (hms, frac),
        None => (time, ""),
    };
    let mut hms = hms.split(':');
    let (h, m, sec) = (num(hms.next()?)?, num(hms.next()?)?, num(hms.next()?)?);
    if hms.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let ms = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        num(&digits)? as i64
    };
    let in_day = (h as i64 * 3600 + m as i64 * 60 + sec as i64) * 1000 + ms;
    Some(days * 86_400_000 + in_day - offset_ms)
}

/// `2019-10-30T03:30:17.883Z`, HubSpot's own timestamp format.
pub fn from_millis(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let (h, rest) = (in_day / 3_600_000, in_day % 3_600_000);
    let (mi, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// The `YYYY-MM-DD` of a millisecond timestamp, in UTC.
pub fn date_of_millis(ms: i64) -> String {
    from_millis(ms)[..10].to_string()
}

/// The milliseconds until the next midnight UTC after `now_ms`.
pub fn until_next_midnight(now_ms: i64) -> i64 {
    86_400_000 - now_ms.rem_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_hubspot_writes() {
        assert_eq!(to_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            to_millis("2019-10-30T03:30:17.883Z"),
            Some(1_572_406_217_883)
        );
        assert_eq!(
            to_millis("2019-10-30T05:30:17.883+02:00"),
            Some(1_572_406_217_883)
        );
        assert_eq!(to_millis("2019-10-30T03:30:17Z"), Some(1_572_406_217_000));
        assert_eq!(to_millis("2019-10-31"), Some(1_572_480_000_000));
        assert_eq!(to_millis("1572480000000"), Some(1_572_480_000_000));
        assert_eq!(to_millis("2024-02-29T23:59:59.9Z"), Some(1_709_251_199_900));
        for bad in [
            "",
            "yesterday",
            "2019-13-01",
            "2019-10-30T25:00:00Z",
            "2019-10-30T03:30",
        ] {
            assert_eq!(to_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(from_millis(1_572_406_217_883), "2019-10-30T03:30:17.883Z");
        assert_eq!(from_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(date_of_millis(1_572_480_000_000), "2019-10-31");
        for ms in [0, 951_782_400_000, 1_709_251_199_900, 4_102_444_800_000] {
            assert_eq!(to_millis(&from_millis(ms)), Some(ms));
        }
        assert_eq!(until_next_midnight(1_572_480_000_000 - 1), 1);
        assert_eq!(until_next_midnight(1_572_480_000_000), 86_400_000);
    }
}
