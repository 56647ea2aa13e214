//! Reading an object type: the phases of a read, their requests, records out
//! of responses, and the cursor that carries a read from page to page. Pure
//! functions; `lib.rs` makes the requests.
//!
//! A full scan lists active records (`GET /crm/v3/objects/{type}`), then
//! archived ones (`archived=true`) as tombstones. An incremental read
//! searches (`POST /crm/v3/objects/{type}/search`) for records whose
//! last-modified date is at or after `since`, sorted ascending by it, then
//! lists archived records and keeps those archived at or after `since`:
//! "Archived CRM objects won't appear in any search results" (Search:
//! Limitations), so deletes are only seen through the archived list.
//!
//! Search pages by offset and "the search endpoints are limited to 10,000
//! total results for any given query. Attempting to page beyond 10,000 will
//! result in a 400 error" (Search: Limitations). The connector therefore never
//! follows `after`: every page is a new window that starts at the greatest
//! last-modified date seen so far (carried in the cursor, with the ids already
//! returned at that instant, which the next window skips). A query never pages
//! at all, so it never meets the cap, and an edit during the read cannot shift
//! a record across an offset and out of the read. When a whole page shares one
//! instant, the window cannot move on by date: the connector then pages that
//! instant by `hs_object_id` (filter `GT` the last id, sorted by it) and goes on
//! strictly after it.
//!
//! Merges: the records merged away are neither archived nor listed, and
//! search cannot show what is gone. Contacts and companies merge into a new
//! record ("a new record with a new ID will be created for the resulting
//! merged record, with both records merged into the new one", changelog
//! "Updated merge functionality for contacts and companies"), which a read
//! returns as created or modified; its `hs_merged_object_ids` ("For all
//! objects, you can use the Merged [record] IDs property to view previously
//! merged records", "Merge records") names the ids it absorbed, and each
//! becomes a tombstone. So a merge is seen by an incremental read too.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use synchost_sdk::{cursor, ConnectorError, Page, Record};

use crate::api;
use crate::schema::ObjectSchema;
use crate::time;

/// The largest `limit` of a list request (Objects: at most 100).
pub const MAX_LIST_LIMIT: u32 = 100;
/// The largest `limit` of a search request ("The maximum number of supported
/// objects per page is 200").
pub const MAX_SEARCH_LIMIT: u32 = 200;
/// "A query can contain a maximum of 3,000 characters in the body."
pub const MAX_SEARCH_BODY: usize = 3_000;

/// Where a read is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// listing active records (full scan)
    #[default]
    #[serde(rename = "a")]
    Active,
    /// searching records modified since `since` (incremental)
    #[serde(rename = "s")]
    Search,
    /// paging one instant by `hs_object_id` (incremental, ties)
    #[serde(rename = "t")]
    Ties,
    /// listing archived records: tombstones
    #[serde(rename = "x")]
    Archived,
}

/// What a read carries from one page to the next, inside the opaque cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorState {
    #[serde(rename = "p", default)]
    pub phase: Phase,
    /// HubSpot's `paging.next.after` of a list
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// the `since` this read started with
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// HubSpot's time (its `Date` header) when the first page was answered:
    /// everything modified before it is in this read, so it is the checkpoint
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// the greatest `updatedAt` seen, the checkpoint when there is no `Date`
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub max_seen: Option<String>,
    /// search: where the window starts, in milliseconds
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub lower_ms: Option<i64>,
    /// search: the window starts strictly after `lower_ms`
    #[serde(rename = "g", default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
    /// search: ids already returned whose last-modified date is `lower_ms`
    #[serde(rename = "k", default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
    /// ties: the last `hs_object_id` returned at `lower_ms`
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub tie_after: Option<String>,
}

impl CursorState {
    /// Decoded from `cursor` when resuming; otherwise a fresh read: a full
    /// scan, or a search from `since`.
    pub fn resume(
        cursor: Option<&str>,
        since: Option<&str>,
    ) -> Result<CursorState, ConnectorError> {
        if let Some(c) = cursor {
            return cursor::decode(c);
        }
        let Some(since) = since else {
            return Ok(CursorState::default());
        };
        let lower = time::to_millis(since).ok_or_else(|| {
            ConnectorError::InvalidInput(format!("`since` is not an RFC 3339 timestamp: {since}"))
        })?;
        Ok(CursorState {
            phase: Phase::Search,
            since: Some(since.to_string()),
            lower_ms: Some(lower),
            ..Default::default()
        })
    }

    pub fn encode(&self) -> String {
        cursor::encode(self)
    }

    /// The checkpoint of a finished read: HubSpot's time when it began, else
    /// the greatest modification seen, else the `since` it started from.
    pub fn checkpoint(&self) -> Option<String> {
        self.started
            .clone()
            .or_else(|| self.max_seen.clone())
            .or_else(|| self.since.clone())
    }
}

/// The page size to ask for: the request's, capped at `max`; `max` when 0.
pub fn page_size(requested: u32, max: u32) -> u32 {
    match requested {
        0 => max,
        n => n.min(max),
    }
}

/// The path of one list page: active or archived records of `object_type`.
pub fn list_path(
    object_type: &str,
    limit: u32,
    after: Option<&str>,
    archived: bool,
    properties: &[String],
) -> String {
    let mut path = format!("/crm/v3/objects/{object_type}?limit={limit}&archived={archived}");
    if !properties.is_empty() {
        path.push_str("&properties=");
        path.push_str(&api::encode_query(&properties.join(",")));
    }
    if let Some(after) = after {
        path.push_str("&after=");
        path.push_str(&api::encode_query(after));
    }
    path
}

/// The body of the search for the window `state` is in. `modified` is the
/// object type's last-modified property.
pub fn search_body(
    state: &CursorState,
    modified: &str,
    limit: u32,
    properties: &[String],
) -> Value {
    let lower = state.lower_ms.unwrap_or(0).to_string();
    let (filters, sort) = match state.phase {
        Phase::Ties => {
            let mut filters =
                vec![json!({"propertyName": modified, "operator": "EQ", "value": lower})];
            if let Some(after) = &state.tie_after {
                filters.push(
                    json!({"propertyName": "hs_object_id", "operator": "GT", "value": after}),
                );
            }
            (filters, "hs_object_id")
        }
        _ => {
            let operator = if state.strict { "GT" } else { "GTE" };
            (
                vec![json!({"propertyName": modified, "operator": operator, "value": lower})],
                modified,
            )
        }
    };
    json!({
        "filterGroups": [{ "filters": filters }],
        "sorts": [{ "propertyName": sort, "direction": "ASCENDING" }],
        "properties": properties,
        "limit": limit,
    })
}

/// The property naming the ids merged into a record, `;`-separated.
pub const MERGED_IDS: &str = "hs_merged_object_ids";

/// The properties a read asks for: the schema's, and the merged ids.
pub fn read_names(schema: &ObjectSchema) -> Vec<String> {
    let mut names = schema.names();
    if !names.iter().any(|n| n == MERGED_IDS) {
        names.push(MERGED_IDS.to_string());
    }
    names
}

/// Tombstones of the records merged into `obj`: gone, as of the time the
/// merged record was last modified.
pub fn merged_tombstones(obj: &Value) -> Vec<Record> {
    let own = obj["id"].as_str().unwrap_or_default();
    let updated = obj["updatedAt"].as_str().map(String::from);
    let mut ids: Vec<&str> = obj["properties"][MERGED_IDS]
        .as_str()
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|id| crate::write::valid_id(id) && *id != own)
        .collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .map(|id| Record::new(id).updated_at(updated.clone()).deleted(true))
        .collect()
}

/// A page's records and the tombstones of what they absorbed, each id once.
pub fn with_merged(objects: &[Value], records: Vec<Record>) -> Vec<Record> {
    let mut seen: std::collections::HashSet<String> =
        records.iter().map(|r| r.id.clone()).collect();
    let mut out = records;
    for obj in objects {
        for t in merged_tombstones(obj) {
            if seen.insert(t.id.clone()) {
                out.push(t);
            }
        }
    }
    out
}

/// Whether a search body is within HubSpot's 3,000 characters.
pub fn fits(body: &Value) -> bool {
    body.to_string().chars().count() <= MAX_SEARCH_BODY
}

/// A record object as a record: id, `updatedAt` as version and modification
/// time, `archived` as the tombstone, and one field per schema property.
pub fn to_record(obj: &Value, schema: &ObjectSchema) -> Result<Record, ConnectorError> {
    let id = obj["id"]
        .as_str()
        .ok_or_else(|| ConnectorError::Fatal(format!("a {} record has no id", schema.entity)))?;
    let updated = obj["updatedAt"].as_str().map(String::from);
    let archived = obj["archived"].as_bool() == Some(true);
    let mut record = Record::new(id)
        .version(updated.clone())
        .updated_at(updated)
        .deleted(archived);
    // A tombstone says that the record is gone; its last values are not news.
    if !archived {
        record.fields = schema.fields(&obj["properties"]);
    }
    Ok(record)
}

fn results(body: &Value, what: &str) -> Result<Vec<Value>, ConnectorError> {
    body["results"]
        .as_array()
        .cloned()
        .ok_or_else(|| ConnectorError::Fatal(format!("{what} response has no `results` array")))
}

fn later(a: Option<String>, b: Option<&str>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) if time::to_millis(b) > time::to_millis(&a) => Some(b.to_string()),
        (a, b) => a.or(b.map(String::from)),
    }
}

/// What one page of a read brings: its items, and the state after it —
/// the next page's, or the finished read's when `done`.
#[derive(Debug)]
pub struct Step<T> {
    pub items: Vec<T>,
    pub state: CursorState,
    pub done: bool,
}

/// The step of one list page (active or archived records). In an
/// incremental read, archived records are kept only when archived at or
/// after `since`. After the active records come the archived ones; after
/// those the read is done.
pub fn after_list(
    mut state: CursorState,
    body: &Value,
    schema: &ObjectSchema,
) -> Result<Step<Record>, ConnectorError> {
    let since_ms = state.since.as_deref().and_then(time::to_millis);
    let mut records = Vec::new();
    let objects = results(body, "list")?;
    for obj in &objects {
        if state.phase == Phase::Archived {
            let at = obj["archivedAt"].as_str().or(obj["updatedAt"].as_str());
            if let (Some(since), Some(at)) = (since_ms, at.and_then(time::to_millis)) {
                if at < since {
                    continue;
                }
            }
        }
        let record = to_record(obj, schema)?;
        state.max_seen = later(state.max_seen, record.updated_at.as_deref());
        records.push(record);
    }
    let records = match state.phase {
        Phase::Active => with_merged(&objects, records),
        _ => records,
    };
    let next = body["paging"]["next"]["after"].as_str().map(String::from);
    let (state, done) = match (next, state.phase) {
        (Some(after), _) => (
            CursorState {
                after: Some(after),
                ..state
            },
            false,
        ),
        (None, Phase::Active) => (
            CursorState {
                phase: Phase::Archived,
                after: None,
                ..state
            },
            false,
        ),
        (None, _) => (
            CursorState {
                after: None,
                ..state
            },
            true,
        ),
    };
    Ok(Step {
        items: records,
        state,
        done,
    })
}

/// One search result: its id and last-modified instant.
fn stamp(obj: &Value, modified: &str) -> Result<(String, i64), ConnectorError> {
    let id = obj["id"]
        .as_str()
        .ok_or_else(|| ConnectorError::Fatal("a search result has no id".into()))?;
    let at = obj["properties"][modified]
        .as_str()
        .or(obj["updatedAt"].as_str())
        .and_then(time::to_millis)
        .ok_or_else(|| {
            ConnectorError::Fatal(format!("search result {id} has no valid `{modified}`"))
        })?;
    Ok((id.to_string(), at))
}

/// The search results of one window that this read has not returned yet,
/// and the next state: another window, the ties of one instant, or the
/// archived list once the search is exhausted.
pub fn after_search(
    mut state: CursorState,
    body: &Value,
    modified: &str,
    limit: u32,
) -> Result<Step<Value>, ConnectorError> {
    let all = results(body, "search")?;
    let lower = state.lower_ms.unwrap_or(0);
    let full = all.len() >= limit as usize || body["paging"]["next"]["after"].is_string();
    let mut fresh = Vec::new();
    let mut last: Option<(String, i64)> = None;
    let mut at_last: Vec<String> = Vec::new();
    for obj in &all {
        let (id, at) = stamp(obj, modified)?;
        if at == lower && state.skip.contains(&id) {
            continue;
        }
        state.max_seen = later(state.max_seen, obj["updatedAt"].as_str());
        if last.as_ref().is_some_and(|(_, t)| *t == at) {
            at_last.push(id.clone());
        } else {
            at_last = vec![id.clone()];
        }
        last = Some((id, at));
        fresh.push(obj.clone());
    }
    let next = match state.phase {
        Phase::Ties => {
            let mut skip = std::mem::take(&mut state.skip);
            if full {
                // Ids rise through the ties: the last one is where to go on,
                // and only ids above it come back, so the skip list shrinks.
                let tie_after = all.last().and_then(|o| o["id"].as_str()).map(String::from);
                let bound = tie_after.as_deref().and_then(|t| t.parse::<u64>().ok());
                skip.retain(|id| {
                    id.parse::<u64>()
                        .ok()
                        .zip(bound)
                        .is_some_and(|(i, b)| i > b)
                });
                CursorState {
                    tie_after,
                    skip,
                    ..state
                }
            } else {
                // That instant is through: go on strictly after it.
                CursorState {
                    phase: Phase::Search,
                    strict: true,
                    skip: Vec::new(),
                    tie_after: None,
                    ..state
                }
            }
        }
        _ if !full => CursorState {
            phase: Phase::Archived,
            after: None,
            skip: Vec::new(),
            lower_ms: None,
            strict: false,
            ..state
        },
        _ => {
            let every_at_lower = all.iter().all(|o| {
                stamp(o, modified)
                    .map(|(_, at)| at == lower)
                    .unwrap_or(false)
            });
            if every_at_lower {
                // The window cannot move by date: page this instant by id. Records
                // already returned at it stay skipped.
                let mut skip = std::mem::take(&mut state.skip);
                skip.extend(at_last);
                CursorState {
                    phase: Phase::Ties,
                    tie_after: None,
                    strict: false,
                    skip,
                    ..state
                }
            } else {
                let (_, at) = last.expect("a page that is not all at `lower` has fresh results");
                let mut skip = at_last;
                if at == lower {
                    skip.extend(std::mem::take(&mut state.skip));
                }
                CursorState {
                    lower_ms: Some(at),
                    strict: false,
                    skip,
                    ..state
                }
            }
        }
    };
    Ok(Step {
        items: fresh,
        state: next,
        done: false,
    })
}

/// The page handed to the host: the records, and either the cursor of the
/// next page or, on the last one, the checkpoint.
pub fn finish(records: Vec<Record>, state: &CursorState, done: bool) -> Page {
    if done {
        Page::new(records).checkpoint(state.checkpoint())
    } else {
        Page::new(records).next(Some(state.encode()))
    }
}
