//! `POST /v1/databases/{id}/query`: filters, sorts and cursor pagination
//! (https://developers.notion.com/reference/post-database-query, 2022-06-28).
//!
//! Default order (no `sorts`; Notion does not document one): created_time
//! ascending, exact creation instant, then page id. Timestamp sorts use the
//! exact stored instant with the page id as tie-break, which agrees with the
//! minute-rounded values the API shows. Filters see the minute-rounded values.

use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Value};
use std::cmp::Ordering;

use super::filter::{invalid, parse_filter, prop_list, prop_text, prop_time, Pred};
use super::model::{ApiError, ApiVersion, DataSource as Database, Page, PageView, PropSchema};
use super::store::Store;

/// Where a cursor points: the page (its id is the cursor, as Notion's cursors are
/// page ids) and its sort keys when the cursor was issued. Resuming from the
/// issued keys keeps pagination stable when that page is edited meanwhile.
pub(crate) struct CursorMark {
    pub db: String,
    pub created: DateTime<Utc>,
    pub edited: DateTime<Utc>,
}

enum SortKey {
    Created(bool),
    Edited(bool),
    Prop(PropSchema, bool),
}

#[derive(PartialEq, PartialOrd)]
enum SortVal {
    Num(f64),
    Text(String),
    Time(DateTime<Utc>),
}

fn sort_val(p: &Page, prop: &PropSchema) -> Option<SortVal> {
    let v = p.value(prop);
    match prop.kind.as_str() {
        "number" => v.as_f64().map(SortVal::Num),
        "checkbox" => Some(SortVal::Num(if v == json!(true) { 1.0 } else { 0.0 })),
        // Selects sort in the order of their options, as in the Notion app.
        "select" | "status" => {
            let name = v["name"].as_str()?;
            prop.options
                .iter()
                .position(|o| o.name == name)
                .map(|i| SortVal::Num(i as f64))
        }
        "date" | "created_time" | "last_edited_time" => prop_time(p, prop).map(SortVal::Time),
        "multi_select" | "relation" | "people" => {
            Some(SortVal::Text(prop_list(p, prop).join(","))).filter(|_| v != json!([]))
        }
        // Text sorts ignore case, as the Notion app's do.
        _ => Some(SortVal::Text(prop_text(p, prop).to_lowercase()))
            .filter(|s| s != &SortVal::Text(String::new())),
    }
}

/// Sort objects: `{"timestamp": .., "direction": ..}` or `{"property": .., "direction": ..}`;
/// "earlier sorts taking precedence over later ones" (Query a database).
fn parse_sorts(db: &Database, v: &Value) -> Result<Vec<SortKey>, ApiError> {
    let arr = v
        .as_array()
        .ok_or_else(|| invalid("body.sorts", "an array", v))?;
    let mut out = Vec::new();
    for (i, s) in arr.iter().enumerate() {
        let path = format!("body.sorts[{i}]");
        let desc = match s.get("direction").and_then(Value::as_str) {
            Some("ascending") => false,
            Some("descending") => true,
            _ => {
                return Err(invalid(
                    &format!("{path}.direction"),
                    "`\"ascending\"` or `\"descending\"`",
                    &s["direction"],
                ))
            }
        };
        if let Some(ts) = s.get("timestamp") {
            out.push(match ts.as_str() {
                Some("created_time") => SortKey::Created(desc),
                Some("last_edited_time") => SortKey::Edited(desc),
                _ => {
                    return Err(invalid(
                        &format!("{path}.timestamp"),
                        "`\"created_time\"` or `\"last_edited_time\"`",
                        ts,
                    ))
                }
            });
        } else if let Some(name) = s.get("property").and_then(Value::as_str) {
            let prop = db.prop(name).cloned();
            let prop = prop.ok_or_else(|| {
                ApiError::validation(format!(
                    "Could not find sort property with name or id: {name}"
                ))
            })?;
            out.push(SortKey::Prop(prop, desc));
        } else {
            return Err(invalid(&path, "an object with a property or timestamp", s));
        }
    }
    Ok(out)
}

fn compare(a: &Page, b: &Page, keys: &[SortKey]) -> Ordering {
    for k in keys {
        let (ord, desc) = match k {
            SortKey::Created(d) => (a.created.cmp(&b.created), *d),
            SortKey::Edited(d) => (a.last_edited.cmp(&b.last_edited), *d),
            // Empty values sort last in either direction.
            SortKey::Prop(p, d) => match (sort_val(a, p), sort_val(b, p)) {
                (None, None) => (Ordering::Equal, false),
                (None, _) => return Ordering::Greater,
                (_, None) => return Ordering::Less,
                (Some(x), Some(y)) => (x.partial_cmp(&y).unwrap_or(Ordering::Equal), *d),
            },
        };
        let ord = if desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    (a.created, &a.id).cmp(&(b.created, &b.id))
}

/// Runs a query and renders the list response (Pagination: "Default: 100,
/// Maximum: 100"; start_cursor is "an opaque value"; next_cursor is "Only
/// available when has_more is true").
pub(crate) fn query(
    store: &mut Store,
    db_key: &str,
    body: &Value,
    now: DateTime<Utc>,
    v: ApiVersion,
) -> Result<Vec<u8>, ApiError> {
    let db = store
        .sources
        .get(db_key)
        .ok_or_else(|| ApiError::not_found("data source", db_key))?;
    let page_size = match body.get("page_size") {
        None | Some(Value::Null) => 100,
        Some(v) => match v.as_i64() {
            Some(n) if n > 100 => {
                return Err(ApiError::validation(format!(
                    "body failed validation: body.page_size should be ≤ `100`, instead was `{n}`."
                )))
            }
            Some(n) if n < 1 => {
                return Err(ApiError::validation(format!(
                    "body failed validation: body.page_size should be ≥ `1`, instead was `{n}`."
                )))
            }
            Some(n) => n as usize,
            None => return Err(invalid("body.page_size", "an integer", v)),
        },
    };
    let cursor = match body.get("start_cursor") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let mark = v.as_str().and_then(|c| {
                store
                    .cursors
                    .get(c)
                    .filter(|m| m.db == db.id)
                    .map(|m| (c.to_string(), m))
            });
            Some(mark.ok_or_else(|| {
                invalid("body.start_cursor", "a cursor returned by this endpoint", v)
            })?)
        }
    };
    let (pred, edited_lo): (Pred, _) = match body.get("filter") {
        None | Some(Value::Null) => (Box::new(|_: &Page| true), None),
        Some(f) => parse_filter(db, f, "body.filter", 0, now)?,
    };
    let sorts = match body.get("sorts") {
        None | Some(Value::Null) => vec![],
        Some(s) => parse_sorts(db, s)?,
    };
    // "If no filter is provided, non-archived pages in the database will be
    // returned" (Query a database): pages in the trash are never results, and
    // 2022-06-28 has no filter that selects them.
    let visible = |p: &Page| !p.in_trash && pred(p);
    let mut ids: Vec<&String> = Vec::with_capacity(page_size + 1);
    match sorts.first() {
        None | Some(SortKey::Created(_)) | Some(SortKey::Edited(_)) => {
            let (edited, desc) = match sorts.first() {
                Some(SortKey::Edited(d)) => (true, *d),
                Some(SortKey::Created(d)) => (false, *d),
                _ => (false, false),
            };
            let index = if edited {
                &db.by_edited
            } else {
                &db.by_created
            };
            let mut start = cursor
                .as_ref()
                .map(|(c, m)| (if edited { m.edited } else { m.created }, c.clone()));
            if let (true, false, Some(lo)) = (edited, desc, edited_lo) {
                // exact >= rounded >= lo: nothing before (lo, "") can match.
                let seek = (lo, String::new());
                if start.as_ref().is_none_or(|s| *s < seek) {
                    start = Some(seek);
                }
            }
            let iter: Box<dyn Iterator<Item = &(DateTime<Utc>, String)>> = match (desc, start) {
                (false, Some(k)) => Box::new(index.range(k..)),
                (false, None) => Box::new(index.iter()),
                (true, Some(k)) => Box::new(index.range(..=k).rev()),
                (true, None) => Box::new(index.iter().rev()),
            };
            for (_, id) in iter {
                if visible(&store.pages[id]) {
                    ids.push(id);
                    if ids.len() > page_size {
                        break;
                    }
                }
            }
        }
        Some(SortKey::Prop(..)) => {
            // Property sorts: sort the matching pages; the cursor is the position
            // of its page in that order (400 if the page no longer matches).
            let mut all: Vec<&Page> = db
                .by_created
                .iter()
                .map(|(_, id)| &store.pages[id])
                .filter(|p| visible(p))
                .collect();
            all.sort_by(|a, b| compare(a, b, &sorts));
            let from = match &cursor {
                Some((c, _)) => all.iter().position(|p| &p.id == c).ok_or_else(|| {
                    invalid(
                        "body.start_cursor",
                        "a cursor returned by this endpoint",
                        &json!(c),
                    )
                })?,
                None => 0,
            };
            ids.extend(all[from..].iter().take(page_size + 1).map(|p| &p.id));
        }
    }
    let has_more = ids.len() > page_size;
    let next = if has_more { ids.pop().cloned() } else { None };
    let results: Vec<PageView> = ids
        .iter()
        .map(|id| store.pages[*id].view(db, v, true))
        .collect();
    // From 2025-09-03 a query lists "page_or_data_source" (the notion-sdk-js
    // QueryDataSourceResponse); before, "page_or_database".
    let kind = match v {
        ApiVersion::Legacy => "page_or_database",
        ApiVersion::DataSources => "page_or_data_source",
    };
    let body = serde_json::to_vec(&List {
        has_more,
        next_cursor: next.as_deref(),
        kind,
        results,
    })
    .expect("a query's list serializes");
    let db_id = db.id.clone();
    if let Some(c) = &next {
        let p = &store.pages[c];
        let mark = CursorMark {
            db: db_id,
            created: p.created,
            edited: p.last_edited,
        };
        store.cursors.insert(c.clone(), mark);
    }
    Ok(body)
}

/// The list object a query answers (Pagination), written out with its keys
/// sorted as a `Value` writes them.
struct List<'a> {
    has_more: bool,
    next_cursor: Option<&'a str>,
    kind: &'static str,
    results: Vec<PageView<'a>>,
}

impl Serialize for List<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("has_more", &self.has_more)?;
        m.serialize_entry("next_cursor", &self.next_cursor)?;
        m.serialize_entry("object", "list")?;
        m.serialize_entry(self.kind, &Empty)?;
        m.serialize_entry("results", &self.results)?;
        m.serialize_entry("type", self.kind)?;
        m.end()
    }
}

struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}
