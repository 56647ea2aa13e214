//! Pages and the cursor of a read.
//!
//! A read lists the collection's items in primary key order, one page past
//! the last key seen (keyset pagination), so a cursor saved before a restart
//! resumes exactly where it stopped. An incremental read then lists the
//! collection's deletions from the activity log as tombstones. The
//! checkpoint is Directus' own clock (the `Date` of the read's first answer),
//! never the connector's: anything changed after that moment is at or after
//! it, and the host overlaps its next `since` to cover coarse timestamps.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use synchost_sdk::{cursor, ConnectorError, Page, Record};

use crate::convert;
use crate::schema::Collection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Items,
    Deletions,
}

/// Everything a later page needs; what the cursor carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CursorState {
    pub phase: Phase,
    /// the last primary key read
    pub after: Option<Value>,
    /// the `since` this read started with, so every page filters the same
    pub since: Option<String>,
    /// Directus' time when the read started: the checkpoint
    pub started: Option<String>,
    /// the last activity id read in the deletions phase
    pub activity_after: u64,
    /// the newest version seen: the checkpoint if Directus sent no `Date`
    pub latest: Option<String>,
}

impl CursorState {
    /// The state for a read from `cursor`, or a new read with `since`.
    pub fn resume(
        cursor: Option<&str>,
        since: Option<&str>,
    ) -> Result<CursorState, ConnectorError> {
        match cursor {
            Some(c) => cursor::decode(c),
            None => Ok(CursorState {
                phase: Phase::Items,
                after: None,
                since: since.map(String::from),
                started: None,
                activity_after: 0,
                latest: None,
            }),
        }
    }

    fn note_version(&mut self, version: Option<&str>) {
        if let Some(v) = version {
            if self.latest.as_deref().is_none_or(|l| later(v, l)) {
                self.latest = Some(v.to_string());
            }
        }
    }

    /// The checkpoint to hand back on the last page.
    fn checkpoint(&self) -> Option<String> {
        self.started
            .clone()
            .or_else(|| self.latest.clone())
            .or_else(|| self.since.clone())
    }
}

/// Whether RFC 3339 time `a` is after `b`, for the UTC forms Directus writes
/// (`...Z`): those compare as text once their fractions are aligned.
fn later(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim_end_matches('Z');
        match s.split_once('.') {
            Some((whole, frac)) => format!("{whole}.{frac:0<9}"),
            None => format!("{s}.000000000"),
        }
    }
    norm(a) > norm(b)
}

/// The page of items in `body` (the answer to `query::items_url`).
pub fn items_page(
    c: &Collection,
    body: &Value,
    limit: u32,
    mut state: CursorState,
    deletions: bool,
) -> Result<Page, ConnectorError> {
    let items = body["data"].as_array().ok_or_else(|| {
        synchost_sdk::errors::bad_body(&format!("GET /items/{}", c.name), "no `data` array")
    })?;
    let mut records = Vec::with_capacity(items.len());
    for item in items {
        let record = convert::to_record(c, item).ok_or_else(|| {
            ConnectorError::Fatal(format!(
                "an item of `{}` has no primary key `{}`",
                c.name, c.pk
            ))
        })?;
        state.note_version(record.version.as_deref());
        records.push(record);
    }
    if items.len() as u32 >= limit && limit > 0 {
        state.after = items.last().map(|i| i[c.pk.as_str()].clone());
        return Ok(Page::new(records).next(Some(cursor::encode(&state))));
    }
    if deletions && state.since.is_some() {
        state.phase = Phase::Deletions;
        return Ok(Page::new(records).next(Some(cursor::encode(&state))));
    }
    let checkpoint = state.checkpoint();
    Ok(Page::new(records).checkpoint(checkpoint))
}

/// The page of tombstones in `body` (the answer to `query::deletions_url`).
pub fn deletions_page(
    body: &Value,
    limit: u32,
    mut state: CursorState,
) -> Result<Page, ConnectorError> {
    let entries = body["data"]
        .as_array()
        .ok_or_else(|| synchost_sdk::errors::bad_body("GET /activity", "no `data` array"))?;
    let mut records = Vec::with_capacity(entries.len());
    for entry in entries {
        let activity = entry["id"].as_u64().ok_or_else(|| {
            synchost_sdk::errors::bad_body("GET /activity", "an entry without a numeric id")
        })?;
        state.activity_after = state.activity_after.max(activity);
        // A batch delete logs one entry per item; an entry without an item
        // names nothing to delete.
        let Some(id) = convert::id_text(&entry["item"]) else {
            continue;
        };
        let at = entry["timestamp"].as_str().map(String::from);
        records.push(Record::new(&id).deleted(true).updated_at(at));
    }
    if entries.len() as u32 >= limit && limit > 0 {
        return Ok(Page::new(records).next(Some(cursor::encode(&state))));
    }
    let checkpoint = state.checkpoint();
    Ok(Page::new(records).checkpoint(checkpoint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{parse_fields, tests_support::tasks_body};
    use serde_json::json;

    fn items(range: std::ops::Range<u32>) -> Value {
        json!({"data": range.map(|i| json!({"id": i, "name": format!("T{i}"),
            "date_created": format!("2024-01-01T00:00:{:02}.000Z", i % 60), "date_updated": null}))
            .collect::<Vec<_>>()})
    }

    #[test]
    fn a_full_page_continues_after_its_last_key() {
        let c = parse_fields("tasks", &tasks_body()).unwrap();
        let mut state = CursorState::resume(None, None).unwrap();
        state.started = Some("2024-02-01T00:00:00Z".into());
        let page = items_page(&c, &items(1..4), 3, state, true).unwrap();
        assert_eq!(page.records.len(), 3);
        assert_eq!(page.checkpoint, None);
        let next: CursorState = cursor::decode(page.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.after, Some(json!(3)));
        assert_eq!(next.phase, Phase::Items);
        assert_eq!(next.latest.as_deref(), Some("2024-01-01T00:00:03.000Z"));
        let last = items_page(&c, &items(4..5), 3, next, true).unwrap();
        assert_eq!(last.next_cursor, None, "a full scan reads no deletions");
        assert_eq!(last.checkpoint.as_deref(), Some("2024-02-01T00:00:00Z"));
    }

    #[test]
    fn an_incremental_read_goes_on_to_deletions() {
        let c = parse_fields("tasks", &tasks_body()).unwrap();
        let mut state = CursorState::resume(None, Some("2024-01-01T00:00:00Z")).unwrap();
        state.started = Some("2024-02-01T00:00:00Z".into());
        let page = items_page(&c, &items(1..2), 3, state, true).unwrap();
        let next: CursorState = cursor::decode(page.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.phase, Phase::Deletions);
        let body = json!({"data": [
            {"id": 10, "item": "5", "timestamp": "2024-01-05T00:00:00.000Z"},
            {"id": 11, "item": "6", "timestamp": "2024-01-06T00:00:00.000Z"}
        ]});
        let page = deletions_page(&body, 2, next).unwrap();
        assert!(page.records.iter().all(|r| r.deleted));
        assert_eq!(page.records[1].id, "6");
        let next: CursorState = cursor::decode(page.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.activity_after, 11);
        let last = deletions_page(&json!({"data": []}), 2, next).unwrap();
        assert_eq!(last.next_cursor, None);
        assert_eq!(last.checkpoint.as_deref(), Some("2024-02-01T00:00:00Z"));
    }

    #[test]
    fn without_a_date_the_checkpoint_is_the_newest_version() {
        let c = parse_fields("tasks", &tasks_body()).unwrap();
        let state = CursorState::resume(None, None).unwrap();
        let page = items_page(&c, &items(1..3), 5, state, true).unwrap();
        assert_eq!(page.checkpoint.as_deref(), Some("2024-01-01T00:00:02.000Z"));
        assert!(later("2024-01-01T00:00:02.5Z", "2024-01-01T00:00:02.100Z"));
        assert!(!later("2024-01-01T00:00:02Z", "2024-01-01T00:00:02.000Z"));
    }

    #[test]
    fn a_bad_cursor_is_invalid_input() {
        assert!(matches!(
            CursorState::resume(Some("%%%"), None),
            Err(ConnectorError::InvalidInput(_))
        ));
    }
}
