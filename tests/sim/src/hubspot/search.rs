//! `POST /crm/v3/objects/{type}/search`: filter groups, one sort, offset
//! paging and the 10,000-result cap.
//!
//! Reference: "CRM API | Search" (https://developers.hubspot.com/docs/api/crm/search):
//! - "filterGroups": groups are ORed, filters in a group are ANDed; operators
//!   EQ, NEQ, LT, LTE, GT, GTE, BETWEEN (value, highValue), IN, NOT_IN (values),
//!   HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN;
//!   at most 5 groups, 10 filters a group and 25 in all (changelog 2024-08-26,
//!   "Expanded filtering capabilities ... in HubSpot's Search API").
//! - "sorts": one sorting rule; `{"propertyName","direction"}`.
//! - Paging: `limit` (default 10) and `after`, an offset returned as
//!   `paging.next.after`. Limitations: "The maximum number of supported
//!   objects per page is 200", "The search endpoints are limited to 10,000
//!   total results for any given query. Attempting to page beyond 10,000 will
//!   result in a 400 error", "A query can contain a maximum of 3,000
//!   characters in the body", "Archived CRM objects won't appear in any
//!   search results".
//! - Date and datetime values may be given in milliseconds or as ISO 8601.

use serde_json::{json, Value};
use std::cmp::Ordering;

use super::model::{ApiError, ObjectType, PropType};
use super::store::{Record, Store};
use super::values::parse_time;

pub(crate) const MAX_LIMIT: usize = 200;
pub(crate) const MAX_RESULTS: usize = 10_000;
pub(crate) const MAX_BODY_CHARS: usize = 3_000;
const MAX_GROUPS: usize = 5;
const MAX_FILTERS_PER_GROUP: usize = 10;
const MAX_FILTERS: usize = 25;

/// A value in the form it is compared in.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Key {
    Num(f64),
    Text(String),
}

fn cmp_keys(a: &Key, b: &Key) -> Ordering {
    a.partial_cmp(b).unwrap_or(Ordering::Equal)
}

struct Prop {
    name: String,
    kind: PropType,
}

impl Prop {
    fn resolve(store: &Store, ty: ObjectType, name: &str) -> Result<Prop, ApiError> {
        let def = store.of(ty).props.get(name).ok_or_else(|| {
            ApiError::validation(format!(
                "There was a problem with the request: property {name} does not exist on {}",
                ty.name()
            ))
        })?;
        Ok(Prop {
            name: name.to_string(),
            kind: def.kind,
        })
    }

    /// The key of a given (filter) value.
    fn key_of(&self, v: &Value) -> Option<Key> {
        match self.kind {
            PropType::Number => match v {
                Value::Number(n) => n.as_f64().map(Key::Num),
                Value::String(s) => s.trim().parse().ok().map(Key::Num),
                _ => None,
            },
            PropType::Date | PropType::Datetime => {
                parse_time(v).map(|t| Key::Num(t.timestamp_millis() as f64))
            }
            _ => match v {
                Value::String(s) => Some(Key::Text(s.to_lowercase())),
                Value::Number(_) | Value::Bool(_) => Some(Key::Text(v.to_string())),
                _ => None,
            },
        }
    }

    fn key(&self, ty: ObjectType, r: &Record) -> Option<Key> {
        // The system properties are kept as numbers, not as text to parse.
        match self.name.as_str() {
            "hs_object_id" => return Some(Key::Num(r.id as f64)),
            "createdate" => return Some(Key::Num(r.created.timestamp_millis() as f64)),
            n if n == ty.modified_property() => {
                return Some(Key::Num(r.updated.timestamp_millis() as f64))
            }
            _ => {}
        }
        let v = Store::value(ty, r, &self.name)?;
        self.key_of(&Value::String(v))
    }
}

type Pred = Box<dyn Fn(&Record) -> bool>;

fn bad(what: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("There was a problem with the request: {what}"))
}

fn filter(store: &Store, ty: ObjectType, f: &Value) -> Result<Pred, ApiError> {
    let name = f["propertyName"]
        .as_str()
        .ok_or_else(|| bad(format!("filter {f} has no propertyName")))?;
    let prop = Prop::resolve(store, ty, name)?;
    let op = f["operator"].as_str().unwrap_or("EQ").to_string();
    let one = |key: &str| -> Result<Key, ApiError> {
        prop.key_of(&f[key]).ok_or_else(|| {
            bad(format!(
                "{op} on {name} needs a valid `{key}`, got {}",
                f[key]
            ))
        })
    };
    let pred: Pred = match op.as_str() {
        "EQ" | "NEQ" | "LT" | "LTE" | "GT" | "GTE" => {
            let want = one("value")?;
            let test: fn(Ordering) -> bool = match op.as_str() {
                "EQ" => |o| o == Ordering::Equal,
                "NEQ" => |o| o != Ordering::Equal,
                "LT" => |o| o == Ordering::Less,
                "LTE" => |o| o != Ordering::Greater,
                "GT" => |o| o == Ordering::Greater,
                _ => |o| o != Ordering::Less,
            };
            let neq = op == "NEQ";
            Box::new(move |r| match prop.key(ty, r) {
                Some(k) => test(cmp_keys(&k, &want)),
                None => neq,
            })
        }
        "BETWEEN" => {
            let (lo, hi) = (one("value")?, one("highValue")?);
            Box::new(move |r| {
                prop.key(ty, r).is_some_and(|k| {
                    cmp_keys(&k, &lo) != Ordering::Less && cmp_keys(&k, &hi) != Ordering::Greater
                })
            })
        }
        "IN" | "NOT_IN" => {
            let values = f["values"]
                .as_array()
                .ok_or_else(|| bad(format!("{op} on {name} needs `values`")))?;
            let keys: Vec<Key> = values.iter().filter_map(|v| prop.key_of(v)).collect();
            let inside = op == "IN";
            Box::new(move |r| {
                let hit = prop
                    .key(ty, r)
                    .is_some_and(|k| keys.iter().any(|w| cmp_keys(&k, w) == Ordering::Equal));
                hit == inside
            })
        }
        "HAS_PROPERTY" => Box::new(move |r| prop.key(ty, r).is_some()),
        "NOT_HAS_PROPERTY" => Box::new(move |r| prop.key(ty, r).is_none()),
        "CONTAINS_TOKEN" | "NOT_CONTAINS_TOKEN" => {
            let token = f["value"]
                .as_str()
                .ok_or_else(|| bad(format!("{op} on {name} needs a string `value`")))?
                .trim_matches('*')
                .to_lowercase();
            let contains = op == "CONTAINS_TOKEN";
            Box::new(move |r| {
                let hit = Store::value(ty, r, &prop.name)
                    .is_some_and(|v| v.to_lowercase().contains(&token));
                hit == contains
            })
        }
        other => return Err(bad(format!("unknown operator {other}"))),
    };
    Ok(pred)
}

/// Runs a search; `body` is the raw request body.
pub(crate) fn search(store: &Store, ty: ObjectType, raw: &str) -> Result<Value, ApiError> {
    if raw.chars().count() > MAX_BODY_CHARS {
        return Err(bad(format!(
            "the request body is longer than {MAX_BODY_CHARS} characters"
        )));
    }
    let body: Value = if raw.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(raw).map_err(|e| {
            ApiError::validation(format!(
                "Invalid input JSON on line {}, column {}: {e}",
                e.line(),
                e.column()
            ))
        })?
    };
    // Filters.
    let groups = body["filterGroups"].as_array().cloned().unwrap_or_default();
    if groups.len() > MAX_GROUPS {
        return Err(bad(format!(
            "at most {MAX_GROUPS} filterGroups are allowed, got {}",
            groups.len()
        )));
    }
    let mut preds: Vec<Vec<Pred>> = Vec::new();
    let mut total_filters = 0;
    for g in &groups {
        let filters = g["filters"].as_array().cloned().unwrap_or_default();
        if filters.len() > MAX_FILTERS_PER_GROUP {
            return Err(bad(format!(
                "at most {MAX_FILTERS_PER_GROUP} filters are allowed in a filterGroup"
            )));
        }
        total_filters += filters.len();
        preds.push(
            filters
                .iter()
                .map(|f| filter(store, ty, f))
                .collect::<Result<_, _>>()?,
        );
    }
    if total_filters > MAX_FILTERS {
        return Err(bad(format!(
            "at most {MAX_FILTERS} filters are allowed in all"
        )));
    }
    // Sort: one rule.
    let sorts = body["sorts"].as_array().cloned().unwrap_or_default();
    if sorts.len() > 1 {
        return Err(bad("only one sort is allowed"));
    }
    let sort = match sorts.first() {
        None => None,
        Some(s) => {
            // `"sorts": ["-createdate"]` is the short form of a descending sort.
            let (name, descending) = match s {
                Value::String(p) => match p.strip_prefix('-') {
                    Some(p) => (p.to_string(), true),
                    None => (p.clone(), false),
                },
                _ => (
                    s["propertyName"]
                        .as_str()
                        .ok_or_else(|| bad("a sort needs a propertyName"))?
                        .to_string(),
                    s["direction"].as_str() == Some("DESCENDING"),
                ),
            };
            Some((Prop::resolve(store, ty, &name)?, descending))
        }
    };
    // Paging.
    let limit = match &body["limit"] {
        Value::Null => 10,
        v => v
            .as_u64()
            .filter(|n| (1..=MAX_LIMIT as u64).contains(n))
            .ok_or_else(|| bad(format!("limit must be between 1 and {MAX_LIMIT}, got {v}")))?
            as usize,
    };
    let after = match &body["after"] {
        Value::Null => 0,
        Value::Number(n) => {
            n.as_u64()
                .ok_or_else(|| bad("after must be a non-negative offset"))? as usize
        }
        Value::String(s) if s.is_empty() => 0,
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| bad(format!("after must be a non-negative offset, got {s}")))?,
        v => return Err(bad(format!("after must be a non-negative offset, got {v}"))),
    };
    if after >= MAX_RESULTS {
        return Err(bad(format!(
            "paging beyond {MAX_RESULTS} results is not supported (after = {after}); \
             narrow the query instead"
        )));
    }
    let properties: Option<Vec<String>> = body["properties"].as_array().map(|a| {
        a.iter()
            .filter_map(|p| p.as_str().map(String::from))
            .collect()
    });
    let query = body["query"].as_str().map(str::to_lowercase);

    let objects = store.of(ty);
    let mut hits: Vec<&Record> = objects
        .records
        .values()
        .filter(|r| r.archived_at.is_none())
        .filter(|r| preds.is_empty() || preds.iter().any(|g| g.iter().all(|p| p(r))))
        .filter(|r| match &query {
            None => true,
            Some(q) => r
                .values
                .values()
                .any(|v| v.to_lowercase().contains(q.as_str())),
        })
        .collect();
    if let Some((prop, descending)) = &sort {
        // Records without a value sort last; equal keys keep id order.
        let mut keyed: Vec<(Option<Key>, &Record)> =
            hits.into_iter().map(|r| (prop.key(ty, r), r)).collect();
        keyed.sort_by(|(ka, a), (kb, b)| {
            let o = match (ka, kb) {
                (Some(x), Some(y)) if *descending => cmp_keys(y, x),
                (Some(x), Some(y)) => cmp_keys(x, y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            o.then(a.id.cmp(&b.id))
        });
        hits = keyed.into_iter().map(|(_, r)| r).collect();
    }
    let total = hits.len();
    let end = (after + limit).min(total).min(MAX_RESULTS);
    let page = hits.get(after.min(end)..end).unwrap_or_default();
    let results: Vec<Value> = page
        .iter()
        .map(|r| store.render(ty, r, properties.as_deref()))
        .collect();
    let mut out = json!({ "total": total, "results": results });
    if end < total {
        // Past the cap this still points on, at an offset the API refuses.
        out["paging"] = json!({ "next": { "after": end.to_string() } });
    }
    Ok(out)
}
