//! When a job runs: the spec's words (`every_15_minutes`, `hourly`, `manual`,
//! ...) and standard cron expressions, parsed and validated when the job is.
//!
//! Intervals are aligned to the Unix epoch in UTC: `every_15_minutes` runs at
//! :00, :15, :30 and :45 of every hour, `every_hour` on the hour, `daily` at
//! midnight UTC. Cron expressions are evaluated in UTC.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// What the `schedule` field accepts, for error messages and the docs.
pub const ACCEPTED: &str = "one of manual, every_minute, every_N_minutes (N from 1 to 1440), \
     every_15_minutes, every_hour, hourly, every_N_hours (N from 1 to 168), daily, every_day, \
     or a cron expression: 5 fields `minute hour day-of-month month day-of-week` \
     (e.g. \"*/10 * * * *\", \"0 9 * * MON-FRI\"), 6 or 7 fields with seconds first and an \
     optional year last, or @hourly, @daily, @weekly, @monthly, @yearly";

const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// When a job runs by itself. `Manual` jobs run only when asked to (CLI, API, webhook).
#[derive(Clone, Debug)]
pub enum Schedule {
    Manual,
    /// Every interval, aligned to the Unix epoch (see the module docs).
    Every(Duration),
    /// `expr` is the expression as written (whitespace collapsed); `schedule`
    /// is what the `cron` crate made of it (with seconds).
    Cron {
        expr: String,
        schedule: cron::Schedule,
    },
}

/// Why a schedule was refused; `ACCEPTED` lists what would be taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ScheduleError {
    pub reason: String,
}

fn refuse(reason: impl Into<String>) -> ScheduleError {
    ScheduleError {
        reason: reason.into(),
    }
}

impl Schedule {
    /// Parses one of the words in [`ACCEPTED`] or a cron expression.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(refuse("an empty schedule"));
        }
        let word = text.to_ascii_lowercase();
        let every = |secs: u64| Ok(Schedule::Every(Duration::from_secs(secs)));
        match word.as_str() {
            "manual" => return Ok(Schedule::Manual),
            "every_minute" => return every(MINUTE),
            "hourly" | "every_hour" => return every(HOUR),
            "daily" | "every_day" => return every(DAY),
            _ => {}
        }
        if let Some(rest) = word.strip_prefix("every_") {
            return parse_every(rest).map(Schedule::Every);
        }
        if text.starts_with('@') || text.split_whitespace().count() > 1 {
            return parse_cron(text);
        }
        Err(refuse("not a schedule word nor a cron expression"))
    }

    /// The first time strictly after `after` at which the job is due; `None`
    /// for a manual job or a cron expression that never fires again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Manual => None,
            Schedule::Every(period) => {
                let period = period.as_secs().max(1) as i64;
                let next = (after.timestamp().div_euclid(period) + 1).checked_mul(period)?;
                DateTime::from_timestamp(next, 0)
            }
            Schedule::Cron { schedule, .. } => schedule.after(&after).next(),
        }
    }

    pub fn is_manual(&self) -> bool {
        matches!(self, Schedule::Manual)
    }
}

/// `rest` is what follows `every_`: `N_minutes`, `N_minute`, `N_hours`, `N_hour`.
fn parse_every(rest: &str) -> Result<Duration, ScheduleError> {
    let (count, unit) = rest
        .split_once('_')
        .ok_or_else(|| refuse("`every_` must be followed by N_minutes or N_hours"))?;
    let n: u64 = count
        .parse()
        .map_err(|_| refuse(format!("`{count}` is not a whole number")))?;
    let (unit_secs, max, name) = match unit {
        "minutes" | "minute" | "mins" | "min" => (MINUTE, 1440, "minutes"),
        "hours" | "hour" => (HOUR, 168, "hours"),
        _ => {
            return Err(refuse(format!(
                "`{unit}` is not a unit: use minutes or hours"
            )))
        }
    };
    if !(1..=max).contains(&n) {
        return Err(refuse(format!("every_N_{name} takes N from 1 to {max}")));
    }
    Ok(Duration::from_secs(n * unit_secs))
}

fn parse_cron(text: &str) -> Result<Schedule, ScheduleError> {
    let expr = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let fields: Vec<&str> = expr.split(' ').collect();
    let with_seconds = match fields.len() {
        1 => expr.to_ascii_lowercase(), // @daily and friends
        5 => {
            let dow = standard_day_of_week(fields[4])?;
            format!("0 {} {}", fields[..4].join(" "), dow)
        }
        6 | 7 => expr.clone(),
        n => {
            return Err(refuse(format!(
                "a cron expression has 5 fields (6 or 7 with seconds and year), this one has {n}"
            )))
        }
    };
    let schedule = cron::Schedule::from_str(&with_seconds).map_err(|e| {
        // the crate's message may quote the expression with a caret under the fault
        let text = e.to_string();
        let last = text.lines().rev().find(|l| !l.trim().is_empty());
        refuse(format!(
            "not a valid cron expression: {}",
            last.unwrap_or("").trim()
        ))
    })?;
    Ok(Schedule::Cron { expr, schedule })
}

/// Standard (5-field) cron numbers days of the week 0-7 with Sunday as 0 and
/// 7; the `cron` crate numbers them 1-7 from Sunday. Numeric items are
/// expanded and renumbered; names (`MON-FRI`), `*` and `?` pass unchanged.
fn standard_day_of_week(field: &str) -> Result<String, ScheduleError> {
    let bad = |item: &str| refuse(format!("day of week `{item}`: expected 0-7 or MON-SUN"));
    let mut out: Vec<String> = Vec::new();
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, Some(s.parse::<u32>().map_err(|_| bad(item))?)),
            None => (item, None),
        };
        let number = |text: &str| text.parse::<u32>().map_err(|_| bad(item));
        // Digits and dashes are a number or a range, parsed strictly below.
        let numeric = base == "*"
            || (!base.is_empty() && base.chars().all(|c| c.is_ascii_digit() || c == '-'));
        if !numeric || (base == "*" && step.is_none()) {
            out.push(item.to_string());
            continue;
        }
        // `a-b` has exactly one dash between two numbers; `1-2-3` is refused.
        let (lo, hi) = match base {
            "*" => (0, 6),
            _ => match base.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => {
                    let n = number(base)?;
                    (n, if step.is_some() { 6 } else { n })
                }
            },
        };
        if lo > 7 || hi > 7 || lo > hi || step == Some(0) {
            return Err(bad(item));
        }
        let mut days: Vec<u32> = (lo..=hi)
            .step_by(step.unwrap_or(1) as usize)
            .map(|d| d % 7 + 1)
            .collect();
        days.sort_unstable();
        days.dedup();
        out.extend(days.iter().map(u32::to_string));
    }
    Ok(out.join(","))
}

impl FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schedule::parse(s)
    }
}

/// The canonical text: parsing it gives the same schedule back.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Manual => f.write_str("manual"),
            Schedule::Every(d) => {
                let secs = d.as_secs();
                match secs {
                    DAY => f.write_str("daily"),
                    HOUR => f.write_str("every_hour"),
                    MINUTE => f.write_str("every_minute"),
                    s if s % HOUR == 0 => write!(f, "every_{}_hours", s / HOUR),
                    s if s % MINUTE == 0 => write!(f, "every_{}_minutes", s / MINUTE),
                    // not produced by the parser: only a Duration built in code
                    s => write!(f, "every_{s}_seconds"),
                }
            }
            Schedule::Cron { expr, .. } => f.write_str(expr),
        }
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Schedule::Manual, Schedule::Manual) => true,
            (Schedule::Every(a), Schedule::Every(b)) => a == b,
            (Schedule::Cron { expr: a, .. }, Schedule::Cron { expr: b, .. }) => a == b,
            _ => false,
        }
    }
}

impl serde::Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Schedule::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The schema of the `schedule` field: a string, one of the words, an
/// `every_N_...` word or a cron expression.
pub(crate) struct ScheduleText;

impl schemars::JsonSchema for ScheduleText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Schedule".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": format!("When the job runs by itself (default manual): {ACCEPTED}. \
                Intervals are aligned to the Unix epoch in UTC (every_15_minutes runs at :00, :15, \
                :30, :45); cron expressions are evaluated in UTC."),
            "anyOf": [
                { "enum": ["manual", "every_minute", "every_15_minutes", "every_hour", "hourly", "daily", "every_day"] },
                { "pattern": "^every_[0-9]+_(minutes?|mins?|hours?)$" },
                { "pattern": "^\\s*\\S+(\\s+\\S+){4,6}\\s*$", "description": "cron expression" },
                { "pattern": "^@(yearly|annually|monthly|weekly|daily|hourly)$" }
            ],
            "examples": ["every_15_minutes", "every_hour", "manual", "0 9 * * MON-FRI"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 7, 25, h, m, s).unwrap()
    }

    #[test]
    fn words() {
        let cases = [
            ("manual", None, "manual"),
            ("every_minute", Some(60), "every_minute"),
            ("every_15_minutes", Some(900), "every_15_minutes"),
            ("every_1_minutes", Some(60), "every_minute"),
            ("every_90_minutes", Some(5400), "every_90_minutes"),
            ("every_120_minutes", Some(7200), "every_2_hours"),
            ("every_1440_minutes", Some(86400), "daily"),
            ("every_hour", Some(3600), "every_hour"),
            ("hourly", Some(3600), "every_hour"),
            ("Every_Hour", Some(3600), "every_hour"),
            ("every_6_hours", Some(21600), "every_6_hours"),
            ("every_1_hour", Some(3600), "every_hour"),
            ("daily", Some(86400), "daily"),
            ("every_day", Some(86400), "daily"),
        ];
        for (text, secs, canonical) in cases {
            let s = Schedule::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            match secs {
                None => assert_eq!(s, Schedule::Manual),
                Some(n) => assert_eq!(s, Schedule::Every(Duration::from_secs(n)), "{text}"),
            }
            assert_eq!(s.to_string(), canonical);
            assert_eq!(
                Schedule::parse(canonical).unwrap(),
                s,
                "round trip of {text}"
            );
        }
    }

    #[test]
    fn bad_words() {
        for text in [
            "",
            "every_0_minutes",
            "every_1441_minutes",
            "every_169_hours",
            "every_x_minutes",
            "every_5_weeks",
            "every_fortnight",
            "sometimes",
        ] {
            assert!(Schedule::parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn intervals_are_aligned_to_the_clock() {
        let s = Schedule::parse("every_15_minutes").unwrap();
        assert_eq!(s.next_after(at(12, 7, 30)), Some(at(12, 15, 0)));
        assert_eq!(s.next_after(at(12, 15, 0)), Some(at(12, 30, 0)));
        assert_eq!(
            s.next_after(at(23, 59, 0)),
            Some(at(0, 0, 0) + chrono::Days::new(1))
        );
        let daily = Schedule::parse("daily").unwrap();
        assert_eq!(
            daily.next_after(at(8, 0, 0)),
            Some(at(0, 0, 0) + chrono::Days::new(1))
        );
        assert_eq!(Schedule::Manual.next_after(at(8, 0, 0)), None);
    }

    #[test]
    fn cron_with_five_fields_gets_seconds() {
        let s = Schedule::parse("  */10  * * * *").unwrap();
        assert_eq!(s.to_string(), "*/10 * * * *");
        assert_eq!(s.next_after(at(12, 7, 30)), Some(at(12, 10, 0)));
        let s = Schedule::parse("30 9 * * *").unwrap();
        assert_eq!(
            s.next_after(at(12, 0, 0)),
            Some(at(9, 30, 0) + chrono::Days::new(1))
        );
    }

    #[test]
    fn cron_with_six_and_seven_fields() {
        let s = Schedule::parse("15 */5 * * * *").unwrap();
        assert_eq!(s.next_after(at(12, 7, 30)), Some(at(12, 10, 15)));
        let s = Schedule::parse("0 0 6 * * * 2025").unwrap();
        assert_eq!(
            s.next_after(at(7, 0, 0)),
            Some(at(6, 0, 0) + chrono::Days::new(1))
        );
        assert_eq!(
            s.next_after(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
            None
        );
        let s = Schedule::parse("@hourly").unwrap();
        assert_eq!(s.next_after(at(12, 7, 30)), Some(at(13, 0, 0)));
    }

    #[test]
    fn standard_days_of_week_start_on_sunday_zero() {
        // 2025-07-25 is a Friday.
        let next = |e: &str| {
            Schedule::parse(e)
                .unwrap()
                .next_after(at(12, 0, 0))
                .unwrap()
        };
        assert_eq!(next("0 9 * * 0"), at(9, 0, 0) + chrono::Days::new(2)); // Sunday
        assert_eq!(next("0 9 * * 7"), at(9, 0, 0) + chrono::Days::new(2)); // Sunday too
        assert_eq!(next("0 9 * * 1-5"), at(9, 0, 0) + chrono::Days::new(3)); // Monday
        assert_eq!(next("0 9 * * MON-FRI"), at(9, 0, 0) + chrono::Days::new(3));
        assert_eq!(next("0 9 * * 6,0"), at(9, 0, 0) + chrono::Days::new(1)); // Saturday
        assert_eq!(next("0 9 * * 5-7"), at(9, 0, 0) + chrono::Days::new(1)); // Fri-Sun
        assert_eq!(next("0 13 * * */2"), at(13, 0, 0) + chrono::Days::new(1)); // Sun,Tue,Thu,Sat
        assert!(Schedule::parse("0 9 * * 8").is_err());
    }

    #[test]
    fn bad_cron() {
        let e = Schedule::parse("61 * * * *").unwrap_err();
        assert!(e.reason.starts_with("not a valid cron expression"), "{e}");
        let e = Schedule::parse("* * *").unwrap_err();
        assert!(e.reason.contains("has 3"), "{e}");
        assert!(Schedule::parse("* * * * * * * *").is_err());
    }
}
