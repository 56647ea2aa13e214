//! Query filters (https://developers.notion.com/reference/post-database-query-filter,
//! 2022-06-28): each filter object parsed into a predicate on pages, seen
//! through the minute-rounded values the API shows.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde_json::{json, Value};

use super::model::{
    minute, normalize_id, parse_iso, plain_text, ApiError, DataSource as Database, Page, PropSchema,
};

pub(super) type Pred = Box<dyn Fn(&Page) -> bool>;

pub(super) fn invalid(path: &str, what: &str, v: &Value) -> ApiError {
    ApiError::validation(format!(
        "body failed validation: {path} should be {what}, instead was `{v}`."
    ))
}

#[derive(Clone, Copy)]
enum DateCond {
    /// lo <= x < hi
    Range(Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    Empty(bool),
}

impl DateCond {
    fn matches(self, x: Option<DateTime<Utc>>) -> bool {
        match (self, x) {
            (DateCond::Empty(e), x) => x.is_none() == e,
            (DateCond::Range(..), None) => false,
            (DateCond::Range(lo, hi), Some(x)) => {
                lo.is_none_or(|l| x >= l) && hi.is_none_or(|h| x < h)
            }
        }
    }
    fn lower(self) -> Option<DateTime<Utc>> {
        match self {
            DateCond::Range(lo, _) => lo,
            DateCond::Empty(_) => None,
        }
    }
}

/// Date filter condition (Filter database entries: Date; the timestamp filter
/// takes the same conditions). With a time, comparisons are "done with millisecond
/// precision"; a date without a time is compared "against the start and end of
/// the UTC date provided (inclusive)" (changelog: Dates with times and timezones
/// are now supported on Database Date Filters). `after` a date means after that
/// whole day, `before` a date means before it starts.
fn date_cond(c: &Value, path: &str, now: DateTime<Utc>) -> Result<DateCond, ApiError> {
    let obj = c
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| invalid(path, "an object with one condition", c))?;
    let (op, v) = obj.iter().next().expect("one key");
    let ms = Duration::milliseconds(1);
    let day = Duration::days(1);
    let rel = |d: i64| {
        Ok(DateCond::Range(
            Some(now - Duration::days(d)),
            Some(now + ms),
        ))
    };
    let next = |d: i64| Ok(DateCond::Range(Some(now), Some(now + Duration::days(d))));
    match op.as_str() {
        "equals" | "before" | "after" | "on_or_before" | "on_or_after" => {
            let parsed = v.as_str().and_then(parse_iso);
            let (t, date_only) = parsed
                .ok_or_else(|| invalid(&format!("{path}.{op}"), "an ISO 8601 date string", v))?;
            let (start, end) = if date_only { (t, t + day) } else { (t, t + ms) };
            Ok(match op.as_str() {
                "equals" => DateCond::Range(Some(start), Some(end)),
                "before" => DateCond::Range(None, Some(start)),
                "after" => DateCond::Range(Some(end), None),
                "on_or_before" => DateCond::Range(None, Some(end)),
                _ => DateCond::Range(Some(start), None),
            })
        }
        "is_empty" if v == &json!(true) => Ok(DateCond::Empty(true)),
        "is_not_empty" if v == &json!(true) => Ok(DateCond::Empty(false)),
        "past_week" => rel(7),
        "past_month" => rel(30),
        "past_year" => rel(365),
        "next_week" => next(7),
        "next_month" => next(30),
        "next_year" => next(365),
        "this_week" => {
            let monday = minute(now).date_naive()
                - Duration::days(now.weekday().num_days_from_monday() as i64);
            let lo = monday.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
            Ok(DateCond::Range(Some(lo), Some(lo + Duration::days(7))))
        }
        _ => Err(invalid(
            &format!("{path}.{op}"),
            "a supported date condition",
            v,
        )),
    }
}

fn as_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(parse_iso).map(|(t, _)| t)
}

/// The comparable form of a property value for filters and sorts.
pub(super) fn prop_time(p: &Page, prop: &PropSchema) -> Option<DateTime<Utc>> {
    let v = p.value(prop);
    match prop.kind.as_str() {
        "date" => as_time(&v["start"]),
        _ => as_time(&v),
    }
}

pub(super) fn prop_text(p: &Page, prop: &PropSchema) -> String {
    let v = p.value(prop);
    match prop.kind.as_str() {
        "title" | "rich_text" => plain_text(&v),
        "select" | "status" => v["name"].as_str().unwrap_or("").to_string(),
        _ => v.as_str().unwrap_or("").to_string(),
    }
}

pub(super) fn prop_list(p: &Page, prop: &PropSchema) -> Vec<String> {
    let key = if prop.kind == "multi_select" {
        "name"
    } else {
        "id"
    };
    let v = p.value(prop);
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x[key].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A property filter (Filter database entries: type-specific filter conditions).
fn prop_filter(
    db: &Database,
    obj: &serde_json::Map<String, Value>,
    path: &str,
    now: DateTime<Utc>,
) -> Result<Pred, ApiError> {
    let key = obj["property"].as_str().unwrap_or("");
    let prop = db.prop(key).cloned().ok_or_else(|| {
        ApiError::validation(format!("Could not find property with name or id: {key}"))
    })?;
    let (ckey, cond) = obj
        .iter()
        .find(|(k, _)| *k != "property" && *k != "type")
        .ok_or_else(|| {
            ApiError::validation(format!(
                "body failed validation: {path} should define a condition for {key}."
            ))
        })?;
    let text_kinds = ["title", "rich_text", "url", "email", "phone_number"];
    let compatible = match prop.kind.as_str() {
        k if text_kinds.contains(&k) => text_kinds.contains(&ckey.as_str()),
        "created_time" | "last_edited_time" => ckey == &prop.kind || ckey == "date",
        k => ckey == k,
    };
    if !compatible {
        return Err(ApiError::validation(format!(
            "body failed validation: {path}.{ckey} does not match the type of property {key}, which is {}.",
            prop.kind
        )));
    }
    let cpath = format!("{path}.{ckey}");
    if matches!(
        prop.kind.as_str(),
        "date" | "created_time" | "last_edited_time"
    ) {
        let c = date_cond(cond, &cpath, now)?;
        return Ok(Box::new(move |p| c.matches(prop_time(p, &prop))));
    }
    let c = cond
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| invalid(&cpath, "an object with one condition", cond))?;
    let (op, v) = c.iter().next().expect("one key");
    let (op, v) = (op.clone(), v.clone());
    let bad = || {
        invalid(
            &format!("{cpath}.{op}"),
            "a supported condition and value",
            &v,
        )
    };
    let empty_flag = matches!(op.as_str(), "is_empty" | "is_not_empty");
    if empty_flag && v != json!(true) {
        return Err(bad());
    }
    let pred: Pred = match prop.kind.as_str() {
        "number" => {
            let n = v.as_f64();
            let f: fn(f64, f64) -> bool = match op.as_str() {
                "equals" => |a, b| a == b,
                "does_not_equal" => |a, b| a != b,
                "greater_than" => |a, b| a > b,
                "less_than" => |a, b| a < b,
                "greater_than_or_equal_to" => |a, b| a >= b,
                "less_than_or_equal_to" => |a, b| a <= b,
                "is_empty" | "is_not_empty" => |_, _| true,
                _ => return Err(bad()),
            };
            if n.is_none() && !empty_flag {
                return Err(bad());
            }
            let want_empty = op == "is_empty";
            Box::new(move |p| match (p.value(&prop).as_f64(), n) {
                (x, _) if empty_flag => x.is_none() == want_empty,
                (Some(x), Some(b)) => f(x, b),
                _ => false,
            })
        }
        "checkbox" => {
            let b = v.as_bool().ok_or_else(bad)?;
            let eq = match op.as_str() {
                "equals" => true,
                "does_not_equal" => false,
                _ => return Err(bad()),
            };
            Box::new(move |p| (p.value(&prop).as_bool() == Some(b)) == eq)
        }
        "multi_select" | "relation" | "people" => {
            let s = v.as_str().map(|s| {
                if prop.kind == "multi_select" {
                    s.to_string()
                } else {
                    normalize_id(s).unwrap_or_default()
                }
            });
            if s.is_none() && !empty_flag {
                return Err(bad());
            }
            let s = s.unwrap_or_default();
            match op.as_str() {
                "contains" => Box::new(move |p| prop_list(p, &prop).contains(&s)),
                "does_not_contain" => Box::new(move |p| !prop_list(p, &prop).contains(&s)),
                "is_empty" => Box::new(move |p| prop_list(p, &prop).is_empty()),
                "is_not_empty" => Box::new(move |p| !prop_list(p, &prop).is_empty()),
                _ => return Err(bad()),
            }
        }
        _ => {
            // text-like, select and status: compare as strings
            let s = v.as_str().map(str::to_string);
            if s.is_none() && !empty_flag {
                return Err(bad());
            }
            let s = s.unwrap_or_default();
            let select = matches!(prop.kind.as_str(), "select" | "status");
            let f: fn(&str, &str) -> bool = match op.as_str() {
                "equals" => |a, b| a == b,
                "does_not_equal" => |a, b| a != b,
                "contains" if !select => |a, b| a.contains(b),
                "does_not_contain" if !select => |a, b| !a.contains(b),
                "starts_with" if !select => |a, b| a.starts_with(b),
                "ends_with" if !select => |a, b| a.ends_with(b),
                "is_empty" => |a, _| a.is_empty(),
                "is_not_empty" => |a, _| !a.is_empty(),
                _ => return Err(bad()),
            };
            Box::new(move |p| f(&prop_text(p, &prop), &s))
        }
    };
    Ok(pred)
}

/// Parses a filter object into a predicate, plus a lower bound on
/// last_edited_time the filter implies (used to seek in the ordered index).
/// Compound filters "can be nested up to two levels deep" (Filter database entries: Compound filter conditions).
pub(super) fn parse_filter(
    db: &Database,
    f: &Value,
    path: &str,
    depth: usize,
    now: DateTime<Utc>,
) -> Result<(Pred, Option<DateTime<Utc>>), ApiError> {
    let obj = f.as_object().ok_or_else(|| invalid(path, "an object", f))?;
    for op in ["and", "or"] {
        let Some(list) = obj.get(op) else { continue };
        if depth >= 2 {
            return Err(ApiError::validation(format!(
                "body failed validation: {path}.{op} exceeds the maximum nesting depth of 2."
            )));
        }
        let arr = list
            .as_array()
            .ok_or_else(|| invalid(&format!("{path}.{op}"), "an array", list))?;
        let mut preds = Vec::new();
        let mut lo = None;
        for (i, sub) in arr.iter().enumerate() {
            let (p, l) = parse_filter(db, sub, &format!("{path}.{op}[{i}]"), depth + 1, now)?;
            preds.push(p);
            lo = lo.max(l);
        }
        return Ok(if op == "and" {
            (Box::new(move |p: &Page| preds.iter().all(|f| f(p))), lo)
        } else {
            (Box::new(move |p: &Page| preds.iter().any(|f| f(p))), None)
        });
    }
    if let Some(ts) = obj.get("timestamp") {
        // Timestamp filter: {"timestamp": "last_edited_time", "last_edited_time": {...}}
        // (changelog: Query a database endpoint supports filtering by timestamp).
        let edited = match ts.as_str() {
            Some("last_edited_time") => true,
            Some("created_time") => false,
            _ => {
                return Err(invalid(
                    &format!("{path}.timestamp"),
                    "`\"created_time\"` or `\"last_edited_time\"`",
                    ts,
                ))
            }
        };
        let key = ts.as_str().expect("checked");
        let c = obj.get(key).ok_or_else(|| {
            ApiError::validation(format!(
                "body failed validation: {path}.{key} should be defined, instead was `undefined`."
            ))
        })?;
        let c = date_cond(c, &format!("{path}.{key}"), now)?;
        let pred: Pred = if edited {
            Box::new(move |p| c.matches(Some(minute(p.last_edited))))
        } else {
            Box::new(move |p| c.matches(Some(minute(p.created))))
        };
        return Ok((pred, if edited { c.lower() } else { None }));
    }
    if obj.get("property").is_some_and(Value::is_string) {
        return Ok((prop_filter(db, obj, path, now)?, None));
    }
    Err(invalid(
        path,
        "a property, timestamp, `and` or `or` filter",
        f,
    ))
}
