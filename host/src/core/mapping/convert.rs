//! Conversions of one value into another field kind: the kind of the side
//! being written decides. Pure functions; the mapper adds field names to the
//! errors. References are converted here only as lists of ids; translating
//! ids between platforms is the mapper's job (through the link table).
//!
//! Lossless there and back (the property test in `tests.rs` pins them):
//! anything to text, select or JSON and back, except as below; bool to
//! number; date to datetime (midnight in the field's zone); select to
//! multi-select; multi-select and reference to each other. Lossy: a datetime
//! written to a date loses its time; text read as a bool or number takes its
//! normal spelling (`"yes"` comes back `"true"`, `"2.50"` as `"2.5"`); a list
//! written as text loses options that contain the separator and comes back
//! sorted and de-duplicated; a text that is a JSON object or array comes back
//! in compact form; a JSON number or boolean written as text comes back a
//! JSON string.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone};

use super::FieldKind;
use crate::core::value::Value;

/// What a conversion needs besides the value: how a list is written as text
/// and in which zone a date becomes a datetime (and back).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Options {
    pub separator: String,
    pub timezone: FixedOffset,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            separator: ", ".to_string(),
            timezone: utc(),
        }
    }
}

pub(super) fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("zero offset")
}

/// Whether values of `from` can be converted into `to` at all. Some pairs
/// that pass may still fail for one value (text `"abc"` into a number); the
/// pairs that fail here fail for every value, so a job that maps them is
/// refused before anything is read.
pub(super) fn compatible(from: FieldKind, to: FieldKind) -> bool {
    use FieldKind::*;
    match (from, to) {
        _ if from == to => true,
        (_, Text | Json | Select) | (Text | Json | Select, _) => true,
        (Number, Bool) | (Bool, Number) => true,
        (Date, Datetime) | (Datetime, Date) => true,
        (MultiSelect, Reference) | (Reference, MultiSelect) => true,
        _ => false,
    }
}

/// Converts `value` into a value of kind `to`. Null stays null. On failure
/// returns what was expected, in words for the person who wrote the value.
pub(super) fn convert(value: &Value, to: FieldKind, options: &Options) -> Result<Value, String> {
    use FieldKind as K;
    if value.is_null() {
        return Ok(Value::Null);
    }
    if FieldKind::of(value) == Some(to) {
        return Ok(value.clone());
    }
    let converted = match (value, to) {
        (Value::Json(json), _) => return from_json(json, to, options),
        (_, K::Json) => Some(Value::Json(to_json(value))),
        (_, K::Text) => Some(Value::Text(to_text(value, options))),
        (Value::MultiSelect(items) | Value::Reference(items), K::Select) => {
            match items.as_slice() {
                [] => Some(Value::Null),
                [one] => Some(Value::Select(one.clone())),
                _ => None,
            }
        }
        (_, K::Select) => Some(Value::Select(to_text(value, options))),
        (Value::Text(s) | Value::Select(s), K::Number) => parse_number(s).map(Value::Number),
        (Value::Bool(b), K::Number) => Some(Value::Number(if *b { 1.0 } else { 0.0 })),
        (Value::Text(s) | Value::Select(s), K::Bool) => parse_bool(s).map(Value::Bool),
        (Value::Number(n), K::Bool) if *n == 1.0 || *n == 0.0 => Some(Value::Bool(*n == 1.0)),
        (Value::Text(s) | Value::Select(s), K::Date) => {
            parse_date(s, options.timezone).map(Value::Date)
        }
        (Value::Datetime(s), K::Date) => datetime_to_date(s, options.timezone).map(Value::Date),
        (Value::Text(s) | Value::Select(s), K::Datetime) => {
            parse_datetime(s, options.timezone).map(Value::Datetime)
        }
        (Value::Date(d), K::Datetime) => date_to_datetime(d, options.timezone).map(Value::Datetime),
        (Value::Text(s), K::MultiSelect | K::Reference) => {
            Some(list(to, split(s, &options.separator)))
        }
        (Value::Select(s), K::MultiSelect | K::Reference) => Some(list(to, vec![s.clone()])),
        (Value::MultiSelect(items) | Value::Reference(items), K::MultiSelect | K::Reference) => {
            Some(list(to, items.clone()))
        }
        _ => None,
    };
    converted.ok_or_else(|| expected(to, options))
}

/// What a value of kind `kind` must look like, for error messages.
pub(super) fn expected(kind: FieldKind, options: &Options) -> String {
    match kind {
        FieldKind::Text => "a text".to_string(),
        FieldKind::Number => "a number written as a plain decimal, such as -12.5".to_string(),
        FieldKind::Bool => "a boolean: true/false, yes/no or 1/0".to_string(),
        FieldKind::Date => "a date YYYY-MM-DD (or an RFC 3339 datetime)".to_string(),
        FieldKind::Datetime => {
            "an RFC 3339 datetime such as 2024-05-01T12:00:00Z, or a date YYYY-MM-DD".to_string()
        }
        FieldKind::Select => "a single option".to_string(),
        FieldKind::MultiSelect => {
            format!(
                "a list of options, or a text separated by `{}`",
                options.separator
            )
        }
        FieldKind::Reference => format!(
            "a list of record ids, or a text separated by `{}`",
            options.separator
        ),
        FieldKind::Json => "a JSON value".to_string(),
    }
}

/// A value as a person would read it in an error message.
pub(super) fn display(value: &Value) -> String {
    let text = match value {
        Value::Null => "null".to_string(),
        Value::Json(json) => json.to_string(),
        other => to_text(other, &Options::default()),
    };
    if text.chars().count() > 120 {
        format!("{}...", text.chars().take(117).collect::<String>())
    } else {
        text
    }
}

/// The text form of a scalar, used to match a value map's keys; lists and
/// JSON have none.
pub(super) fn atom(value: &Value) -> Option<String> {
    match value {
        Value::Text(s) | Value::Select(s) | Value::Date(s) | Value::Datetime(s) => Some(s.clone()),
        Value::Number(n) => Some(number_text(*n)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn list(kind: FieldKind, items: Vec<String>) -> Value {
    match kind {
        FieldKind::Reference => Value::Reference(items),
        _ => Value::MultiSelect(items),
    }
}

/// Splits a text on the separator. A separator with visible characters is
/// matched without its spaces and each item trimmed, so `"a,b"` and
/// `"a , b"` both read as two items with the default `", "`.
fn split(text: &str, separator: &str) -> Vec<String> {
    let needle = if separator.trim().is_empty() {
        separator
    } else {
        separator.trim()
    };
    text.split(needle)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn to_text(value: &Value, options: &Options) -> String {
    match value {
        Value::Null => String::new(),
        Value::Text(s) | Value::Select(s) | Value::Date(s) => s.clone(),
        Value::Number(n) => number_text(*n),
        Value::Bool(b) => b.to_string(),
        Value::Datetime(s) => match DateTime::parse_from_rfc3339(s.trim()) {
            Ok(t) => t
                .with_timezone(&options.timezone)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            Err(_) => s.clone(),
        },
        Value::MultiSelect(items) | Value::Reference(items) => items.join(&options.separator),
        Value::Json(serde_json::Value::String(s)) => s.clone(),
        Value::Json(json) => json.to_string(),
    }
}

/// Integral numbers without a fraction; never an exponent, so the text
/// parses back as a plain decimal to the same number.
pub(super) fn number_text(n: f64) -> String {
    if n == 0.0 {
        "0".to_string()
    } else {
        format!("{n}")
    }
}

/// A plain decimal: optional sign, digits, optional fraction. No thousands
/// separators, no decimal comma, no exponent, no `NaN` or `inf`.
fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

fn parse_naive_datetime(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
}

/// A text as a date: `YYYY-MM-DD`, or a datetime (RFC 3339 or without an
/// offset, then read in `zone`) whose date in `zone` is taken.
fn parse_date(text: &str, zone: FixedOffset) -> Option<String> {
    let t = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(date.format("%Y-%m-%d").to_string());
    }
    if let Some(date) = datetime_to_date(t, zone) {
        return Some(date);
    }
    parse_naive_datetime(t).map(|naive| naive.date().format("%Y-%m-%d").to_string())
}

/// A text as a datetime: RFC 3339 as it is; a date and time without an
/// offset, or a date alone (midnight), read in `zone`.
fn parse_datetime(text: &str, zone: FixedOffset) -> Option<String> {
    let t = text.trim();
    if DateTime::parse_from_rfc3339(t).is_ok() {
        return Some(t.to_string());
    }
    if let Some(naive) = parse_naive_datetime(t) {
        let local = zone.from_local_datetime(&naive).single()?;
        return Some(local.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    date_to_datetime(t, zone)
}

/// The date that a datetime falls on in `zone`.
fn datetime_to_date(datetime: &str, zone: FixedOffset) -> Option<String> {
    let t = DateTime::parse_from_rfc3339(datetime.trim()).ok()?;
    Some(
        t.with_timezone(&zone)
            .date_naive()
            .format("%Y-%m-%d")
            .to_string(),
    )
}

/// Midnight of a date in `zone`.
fn date_to_datetime(date: &str, zone: FixedOffset) -> Option<String> {
    let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let local = zone
        .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .single()?;
    Some(local.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// A value as JSON: a text is a JSON string unless it is itself a JSON
/// object or array; lists are arrays of strings.
fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Text(s) => {
            let t = s.trim();
            if t.starts_with(['{', '[']) {
                if let Ok(json) = serde_json::from_str(t) {
                    return json;
                }
            }
            J::String(s.clone())
        }
        Value::Select(s) | Value::Date(s) | Value::Datetime(s) => J::String(s.clone()),
        Value::Number(n) => serde_json::Number::from_f64(*n)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::Bool(b) => J::Bool(*b),
        Value::MultiSelect(items) | Value::Reference(items) => {
            J::Array(items.iter().cloned().map(J::String).collect())
        }
        Value::Json(json) => json.clone(),
    }
}

/// A JSON value read as kind `to`: strings, numbers and booleans as the
/// matching value, arrays of strings and numbers as a list; to text,
/// anything but a string is written as compact JSON.
fn from_json(json: &serde_json::Value, to: FieldKind, options: &Options) -> Result<Value, String> {
    use serde_json::Value as J;
    let natural = match json {
        J::Null => return Ok(Value::Null),
        _ if to == FieldKind::Json => return Ok(Value::Json(json.clone())),
        J::String(s) => Value::Text(s.clone()),
        _ if to == FieldKind::Text => return Ok(Value::Text(json.to_string())),
        J::Number(n) => Value::Number(n.as_f64().ok_or_else(|| expected(to, options))?),
        J::Bool(b) => Value::Bool(*b),
        J::Array(items) => {
            let items = items
                .iter()
                .map(|item| match item {
                    J::String(s) => Some(s.clone()),
                    J::Number(n) => n.as_f64().map(number_text),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| expected(to, options))?;
            Value::MultiSelect(items)
        }
        J::Object(_) => return Err(expected(to, options)),
    };
    convert(&natural, to, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use FieldKind as K;

    fn opts(tz: &str) -> Options {
        Options {
            separator: ", ".into(),
            timezone: super::super::field::parse_timezone(tz).unwrap(),
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// (value, into kind, expected result) with the default options (UTC).
    #[test]
    fn converts_each_pair() {
        let cases: Vec<(Value, FieldKind, Value)> = vec![
            // text <-> number
            (text("12.5"), K::Number, Value::Number(12.5)),
            (text(" -3 "), K::Number, Value::Number(-3.0)),
            (text(".5"), K::Number, Value::Number(0.5)),
            (Value::Number(12.5), K::Text, text("12.5")),
            (Value::Number(3.0), K::Text, text("3")),
            (Value::Number(-0.0), K::Text, text("0")),
            (Value::Number(1e21), K::Text, text("1000000000000000000000")),
            // date <-> datetime (UTC)
            (
                Value::Date("2024-05-01".into()),
                K::Datetime,
                Value::Datetime("2024-05-01T00:00:00Z".into()),
            ),
            (
                Value::Datetime("2024-05-01T23:30:00Z".into()),
                K::Date,
                Value::Date("2024-05-01".into()),
            ),
            (
                text("2024-05-01"),
                K::Date,
                Value::Date("2024-05-01".into()),
            ),
            (
                text("2024-05-01T10:00:00+02:00"),
                K::Datetime,
                Value::Datetime("2024-05-01T10:00:00+02:00".into()),
            ),
            (
                text("2024-05-01 10:00"),
                K::Datetime,
                Value::Datetime("2024-05-01T10:00:00Z".into()),
            ),
            (
                text("2024-05-01"),
                K::Datetime,
                Value::Datetime("2024-05-01T00:00:00Z".into()),
            ),
            (
                Value::Date("2024-05-01".into()),
                K::Text,
                text("2024-05-01"),
            ),
            (
                Value::Datetime("2024-05-01T10:00:00Z".into()),
                K::Text,
                text("2024-05-01T10:00:00Z"),
            ),
            // select <-> text
            (Value::Select("Done".into()), K::Text, text("Done")),
            (text("Done"), K::Select, Value::Select("Done".into())),
            // multi-select <-> list <-> text
            (
                Value::MultiSelect(strings(&["a", "b"])),
                K::Text,
                text("a, b"),
            ),
            (
                text("a, b"),
                K::MultiSelect,
                Value::MultiSelect(strings(&["a", "b"])),
            ),
            (
                text("a,b ,, c"),
                K::MultiSelect,
                Value::MultiSelect(strings(&["a", "b", "c"])),
            ),
            (
                Value::MultiSelect(strings(&["x"])),
                K::Reference,
                Value::Reference(strings(&["x"])),
            ),
            (
                Value::Reference(strings(&["x", "y"])),
                K::MultiSelect,
                Value::MultiSelect(strings(&["x", "y"])),
            ),
            (
                Value::Reference(strings(&["x", "y"])),
                K::Text,
                text("x, y"),
            ),
            (
                text("r1, r2"),
                K::Reference,
                Value::Reference(strings(&["r1", "r2"])),
            ),
            (
                Value::Select("a, b".into()),
                K::MultiSelect,
                Value::MultiSelect(strings(&["a, b"])),
            ),
            (
                Value::MultiSelect(strings(&["only"])),
                K::Select,
                Value::Select("only".into()),
            ),
            (Value::MultiSelect(vec![]), K::Select, Value::Null),
            // bool <-> text, bool <-> number
            (Value::Bool(true), K::Bool, Value::Bool(true)),
            (text("YES"), K::Bool, Value::Bool(true)),
            (text("False"), K::Bool, Value::Bool(false)),
            (text("1"), K::Bool, Value::Bool(true)),
            (text("no"), K::Bool, Value::Bool(false)),
            (Value::Bool(false), K::Text, text("false")),
            (Value::Number(1.0), K::Bool, Value::Bool(true)),
            (Value::Number(0.0), K::Bool, Value::Bool(false)),
            (Value::Bool(true), K::Number, Value::Number(1.0)),
            // json <-> anything
            (Value::Number(2.5), K::Json, Value::Json(json!(2.5))),
            (text("plain"), K::Json, Value::Json(json!("plain"))),
            (text(r#"{"a": 1}"#), K::Json, Value::Json(json!({"a": 1}))),
            (
                Value::MultiSelect(strings(&["a"])),
                K::Json,
                Value::Json(json!(["a"])),
            ),
            (Value::Json(json!({"a": 1})), K::Text, text(r#"{"a":1}"#)),
            (Value::Json(json!("plain")), K::Text, text("plain")),
            (Value::Json(json!(7)), K::Number, Value::Number(7.0)),
            (Value::Json(json!("7")), K::Number, Value::Number(7.0)),
            (Value::Json(json!(true)), K::Bool, Value::Bool(true)),
            (
                Value::Json(json!(["a", 2])),
                K::MultiSelect,
                Value::MultiSelect(strings(&["a", "2"])),
            ),
            (
                Value::Json(json!("2024-05-01")),
                K::Date,
                Value::Date("2024-05-01".into()),
            ),
            // null stays null
            (Value::Null, K::Number, Value::Null),
            (text("  "), K::Date, Value::Null),
            (Value::Json(json!(null)), K::Text, Value::Null),
        ];
        for (value, kind, want) in cases {
            assert_eq!(
                convert(&value, kind, &Options::default()),
                Ok(want),
                "{value:?} into {kind}"
            );
        }
    }

    #[test]
    fn refuses_what_cannot_convert() {
        let cases: Vec<(Value, FieldKind, &str)> = vec![
            (text("1,5"), K::Number, "plain decimal"),
            (text("1e5"), K::Number, "plain decimal"),
            (text("NaN"), K::Number, "plain decimal"),
            (text("abc"), K::Number, "plain decimal"),
            (text("maybe"), K::Bool, "yes/no"),
            (Value::Number(2.0), K::Bool, "yes/no"),
            (text("tomorrow"), K::Date, "YYYY-MM-DD"),
            (text("2024-13-01"), K::Datetime, "RFC 3339"),
            (Value::Datetime("garbage".into()), K::Date, "YYYY-MM-DD"),
            (
                Value::MultiSelect(strings(&["a", "b"])),
                K::Select,
                "single option",
            ),
            (Value::Json(json!({"a": 1})), K::Number, "plain decimal"),
            (
                Value::Json(json!([{"a": 1}])),
                K::MultiSelect,
                "list of options",
            ),
            (Value::Number(5.0), K::Date, "YYYY-MM-DD"),
        ];
        for (value, kind, needle) in cases {
            let err = convert(&value, kind, &Options::default())
                .expect_err(&format!("{value:?} into {kind}"));
            assert!(err.contains(needle), "{value:?} into {kind}: {err}");
        }
    }

    #[test]
    fn round_trips_where_lossless() {
        let cases: Vec<(Value, FieldKind)> = vec![
            (Value::Number(0.1), K::Text),
            (Value::Number(-1234.5678), K::Select),
            (Value::Number(1e-10), K::Text),
            (Value::Bool(true), K::Text),
            (Value::Bool(false), K::Number),
            (Value::Date("2024-02-29".into()), K::Datetime),
            (Value::Date("2024-02-29".into()), K::Text),
            (Value::Datetime("2024-05-01T10:00:00Z".into()), K::Text),
            (Value::Select("Done".into()), K::Text),
            (Value::Select("Done".into()), K::MultiSelect),
            (Value::MultiSelect(strings(&["a", "b c"])), K::Text),
            (Value::MultiSelect(strings(&["a", "b"])), K::Reference),
            (Value::Reference(strings(&["r1"])), K::Json),
            (text("hello"), K::Json),
            (Value::Json(json!({"a": [1, "x"]})), K::Text),
        ];
        for tz in ["Z", "+02:00", "-09:30"] {
            let options = opts(tz);
            for (value, kind) in &cases {
                let there = convert(value, *kind, &options).unwrap();
                let back = convert(&there, FieldKind::of(value).unwrap(), &options).unwrap();
                assert_eq!(
                    back.normalized(),
                    value.normalized(),
                    "{value:?} via {kind} in {tz}"
                );
            }
        }
    }

    #[test]
    fn dates_and_datetimes_follow_the_zone() {
        let paris = opts("+02:00");
        let date = Value::Date("2024-05-01".into());
        let midnight = convert(&date, K::Datetime, &paris).unwrap();
        assert_eq!(
            midnight,
            Value::Datetime("2024-05-01T00:00:00+02:00".into())
        );
        assert_eq!(
            midnight.normalized(),
            Value::Datetime("2024-04-30T22:00:00Z".into())
        );
        // 23:30 UTC is already the next day in +02:00, and still the same day at -05:00
        let late = Value::Datetime("2024-05-01T23:30:00Z".into());
        assert_eq!(
            convert(&late, K::Date, &paris).unwrap(),
            Value::Date("2024-05-02".into())
        );
        assert_eq!(
            convert(&late, K::Date, &opts("-05:00")).unwrap(),
            Value::Date("2024-05-01".into())
        );
        // a datetime written as text is shown in the zone; a naive text is read in it
        assert_eq!(
            convert(&late, K::Text, &paris).unwrap(),
            text("2024-05-02T01:30:00+02:00")
        );
        assert_eq!(
            convert(&text("2024-05-02 01:30:00"), K::Datetime, &paris)
                .unwrap()
                .normalized(),
            late
        );
    }

    #[test]
    fn compatibility_is_symmetric_and_refuses_nonsense() {
        let kinds = [
            K::Text,
            K::Number,
            K::Bool,
            K::Date,
            K::Datetime,
            K::Select,
            K::MultiSelect,
            K::Reference,
            K::Json,
        ];
        for a in kinds {
            for b in kinds {
                assert_eq!(compatible(a, b), compatible(b, a), "{a} {b}");
            }
        }
        assert!(!compatible(K::Number, K::Date));
        assert!(!compatible(K::Bool, K::MultiSelect));
        assert!(!compatible(K::Datetime, K::Reference));
    }
}
