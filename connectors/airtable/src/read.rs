//! One page of a list read: the cursor the connector keeps between pages,
//! and the page built from Airtable's answer.
//!
//! The cursor carries Airtable's `offset`, the `since` the scan started
//! with (so every page uses the same filter) and the latest modification
//! time seen so far, which becomes the checkpoint on the last page.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use synchost_sdk::{cursor, errors, ConnectorError, Page};

use crate::convert::record_from_json;
use crate::schema::TableMeta;
use crate::time;

/// What the connector's opaque cursor holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CursorState {
    /// Airtable's `offset` for the next page
    pub offset: Option<String>,
    /// the `since` of the scan this cursor belongs to
    pub since: Option<String>,
    /// the latest modification time of the records read so far
    pub max_seen: Option<String>,
    /// the platform's time (its `Date` header) when the scan's first page was
    /// answered: everything changed before it is in this scan, so it is the
    /// checkpoint, whatever the records' own times
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
}

impl CursorState {
    /// The state of a read: decoded from `cursor`, or a first page with `since`.
    pub fn resume(cursor: Option<&str>, since: Option<&str>) -> Result<Self, ConnectorError> {
        match cursor {
            Some(c) => cursor::decode(c),
            None => Ok(CursorState {
                offset: None,
                since: since.map(String::from),
                max_seen: None,
                started: None,
            }),
        }
    }
}

/// The page for Airtable's list answer `body` (`{"records": [..], "offset"?}`).
///
/// With an `offset` the page has a next cursor; without, it is the last page
/// and its checkpoint is the latest modification time seen in the scan (never
/// earlier than `since`), or `since` when nothing was read.
pub fn build_page(
    body: &Value,
    table: &TableMeta,
    modified_field: &str,
    mut state: CursorState,
) -> Result<Page, ConnectorError> {
    let context = "the Airtable list records call";
    let items = body
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(|| errors::bad_body(context, "no `records` array"))?;
    let mut records = Vec::with_capacity(items.len());
    for item in items {
        let record = record_from_json(item, table, modified_field)?;
        if let Some(at) = &record.updated_at {
            state.max_seen = Some(match &state.max_seen {
                Some(max) => time::later(max, at).to_string(),
                None => at.clone(),
            });
        }
        records.push(record);
    }

    let offset = body
        .get("offset")
        .and_then(Value::as_str)
        .filter(|o| !o.is_empty());
    match offset {
        Some(offset) => {
            state.offset = Some(offset.to_string());
            Ok(Page::new(records).next(Some(cursor::encode(&state))))
        }
        None => {
            let checkpoint = match (state.started, state.max_seen, state.since) {
                (Some(started), _, _) => Some(started),
                (None, Some(max), Some(since)) => Some(time::later(&max, &since).to_string()),
                (None, max, since) => max.or(since),
            };
            Ok(Page::new(records).checkpoint(checkpoint))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests::sample_table;
    use serde_json::json;

    fn rec(id: &str, modified: &str) -> Value {
        json!({"id": id, "createdTime": "2024-01-01T00:00:00.000Z",
               "fields": {"Name": id, "Last Modified": modified}})
    }

    #[test]
    fn middle_page_carries_offset_since_and_max_seen() {
        let body = json!({"records": [rec("rec1", "2024-05-02T10:00:00.000Z"),
                                      rec("rec2", "2024-05-03T10:00:00.000Z"),
                                      rec("rec3", "2024-05-01T10:00:00.000Z")],
                          "offset": "itrA/rec3"});
        let state = CursorState::resume(None, Some("2024-04-01T00:00:00.000Z")).unwrap();
        let page = build_page(&body, &sample_table(), "Last Modified", state).unwrap();
        assert_eq!(page.records.len(), 3);
        assert_eq!(page.checkpoint, None);
        let next: CursorState = cursor::decode(page.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(
            next,
            CursorState {
                offset: Some("itrA/rec3".into()),
                since: Some("2024-04-01T00:00:00.000Z".into()),
                max_seen: Some("2024-05-03T10:00:00.000Z".into()),
                started: None,
            }
        );
    }

    #[test]
    fn last_page_checkpoints_the_max_seen_over_the_scan() {
        let state = CursorState {
            offset: Some("itrA/rec3".into()),
            since: None,
            max_seen: Some("2024-05-03T10:00:00.000Z".into()),
            started: None,
        };
        let cursor = cursor::encode(&state);
        let resumed = CursorState::resume(Some(&cursor), None).unwrap();
        let body = json!({"records": [rec("rec4", "2024-05-02T00:00:00.000Z")]});
        let page = build_page(&body, &sample_table(), "Last Modified", resumed).unwrap();
        assert_eq!(page.next_cursor, None);
        assert_eq!(page.checkpoint.as_deref(), Some("2024-05-03T10:00:00.000Z"));
    }

    #[test]
    fn empty_incremental_read_keeps_since() {
        let state = CursorState::resume(None, Some("2024-05-01T00:00:00.000Z")).unwrap();
        let page = build_page(
            &json!({"records": []}),
            &sample_table(),
            "Last Modified",
            state,
        )
        .unwrap();
        assert!(page.records.is_empty());
        assert_eq!(page.checkpoint.as_deref(), Some("2024-05-01T00:00:00.000Z"));
    }

    #[test]
    fn empty_full_scan_has_no_checkpoint() {
        let state = CursorState::resume(None, None).unwrap();
        let page = build_page(
            &json!({"records": []}),
            &sample_table(),
            "Last Modified",
            state,
        )
        .unwrap();
        assert_eq!(page.checkpoint, None);
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn checkpoint_never_moves_before_since() {
        // no modified field: no modification time (created time is not one)
        let state = CursorState::resume(None, Some("2024-05-01T00:00:00.000Z")).unwrap();
        let body = json!({"records": [rec("rec1", "2024-05-02T00:00:00.000Z")]});
        let page = build_page(&body, &sample_table(), "Edited", state).unwrap();
        assert_eq!(page.records[0].updated_at, None);
        assert_eq!(page.checkpoint.as_deref(), Some("2024-05-01T00:00:00.000Z"));
    }

    #[test]
    fn malformed_cursor_and_body_are_errors() {
        assert!(matches!(
            CursorState::resume(Some("not a cursor!"), None),
            Err(ConnectorError::InvalidInput(_))
        ));
        let state = CursorState::default();
        assert!(matches!(
            build_page(&json!({}), &sample_table(), "Last Modified", state),
            Err(ConnectorError::Transient(_))
        ));
    }
}
