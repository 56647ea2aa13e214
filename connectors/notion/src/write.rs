//! Writing pages: request bodies, what a write confirms, the version check
//! of conditional updates, and how a batch reacts to a rate limit. Pure
//! functions; the requests themselves are made in `lib.rs`.
//!
//! Reference: "Create a page", "Update page properties" and "Trash a page"
//! in the Notion API reference (version 2022-06-28).

use serde_json::{json, Map, Value};
use synchost_sdk::{errors, ConflictInfo, ConnectorError, OpResult, RateLimitedInfo, Written};

/// The body of `POST /v1/pages` for a new row of data source `data_source_id`
/// (upgrade guide 2025-09-03, Step 2: `"parent": {"type": "data_source_id",
/// "data_source_id": "..."}`).
pub fn create_body(data_source_id: &str, properties: Map<String, Value>) -> Value {
    json!({
        "parent": { "type": "data_source_id", "data_source_id": data_source_id },
        "properties": properties
    })
}

/// The body of `PATCH /v1/pages/{id}` that sets `properties`.
pub fn update_body(properties: Map<String, Value>) -> Value {
    json!({ "properties": properties })
}

/// The body of `PATCH /v1/pages/{id}` that moves the page to the trash
/// (the API cannot delete a page for good).
pub fn trash_body() -> Value {
    json!({ "in_trash": true })
}

/// What Notion confirmed: the page id and its `last_edited_time`, which is
/// both the version and the modification time.
pub fn written(page: &Value) -> Result<Written, ConnectorError> {
    let id = page["id"]
        .as_str()
        .ok_or_else(|| errors::bad_body("a page write", "a page without an id"))?;
    let edited = page["last_edited_time"].as_str().map(String::from);
    Ok(Written {
        id: id.to_string(),
        version: edited.clone(),
        updated_at: edited,
    })
}

/// Whether a page object is in the trash (`archived` is the older name).
pub fn in_trash(page: &Value) -> bool {
    page["in_trash"].as_bool() == Some(true) || page["archived"].as_bool() == Some(true)
}

/// The optimistic-concurrency check Notion does not offer: compares the
/// page's current `last_edited_time` (from `GET /v1/pages/{id}`) with the
/// version the write expects. A page in the trash is `not-found`.
///
/// Notion's timestamps are rounded to the minute, so an edit made in the
/// same minute as the expected version is not detected (see the README).
pub fn check_version(id: &str, expected: &str, current: &Value) -> Result<(), ConnectorError> {
    if in_trash(current) {
        return Err(ConnectorError::NotFound(format!(
            "page {id} is in the trash"
        )));
    }
    let now = current["last_edited_time"].as_str();
    if now == Some(expected) {
        return Ok(());
    }
    Err(ConnectorError::Conflict(ConflictInfo {
        id: id.to_string(),
        current_version: now.map(String::from),
        message: format!(
            "page {id} was edited at {} since version {expected}",
            now.unwrap_or("an unknown time")
        ),
    }))
}

/// Applies `ops` in order through `apply`, one outcome each.
///
/// A rate limit before anything was written fails the whole call
/// (`rate-limited`), so the host retries the batch as it is. Once an op has
/// been written, a rate limit becomes that op's outcome and every later op
/// is reported rate-limited without being tried, so the host retries exactly
/// those.
pub fn run_ops<T>(
    ops: Vec<T>,
    mut apply: impl FnMut(T) -> OpResult,
) -> Result<Vec<OpResult>, ConnectorError> {
    let mut results = Vec::with_capacity(ops.len());
    let mut written_any = false;
    let mut ops = ops.into_iter();
    while let Some(op) = ops.next() {
        match apply(op) {
            Err(ConnectorError::RateLimited(info)) => {
                if !written_any {
                    return Err(ConnectorError::RateLimited(info));
                }
                let retry_after_ms = info.retry_after_ms;
                results.push(Err(ConnectorError::RateLimited(info)));
                for _ in ops.by_ref() {
                    results.push(Err(ConnectorError::RateLimited(RateLimitedInfo {
                        retry_after_ms,
                        message: "not attempted: an earlier op of this batch was rate limited"
                            .into(),
                    })));
                }
                break;
            }
            outcome => {
                written_any |= outcome.is_ok();
                results.push(outcome);
            }
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(n: u32) -> OpResult {
        Ok(Written {
            id: format!("p{n}"),
            version: None,
            updated_at: None,
        })
    }

    fn limited() -> OpResult {
        Err(ConnectorError::RateLimited(RateLimitedInfo {
            retry_after_ms: 1500,
            message: "429".into(),
        }))
    }

    #[test]
    fn bodies() {
        let mut props = Map::new();
        props.insert("Done".into(), json!({ "checkbox": true }));
        assert_eq!(
            create_body("ds1", props.clone()),
            json!({ "parent": { "type": "data_source_id", "data_source_id": "ds1" },
                "properties": { "Done": { "checkbox": true } } })
        );
        assert_eq!(
            update_body(props),
            json!({ "properties": { "Done": { "checkbox": true } } })
        );
        assert_eq!(trash_body(), json!({ "in_trash": true }));
    }

    #[test]
    fn written_from_page() {
        let w = written(&json!({ "object": "page", "id": "p1", "last_edited_time": "2024-01-01T00:00:00.000Z" }))
            .unwrap();
        assert_eq!(w.id, "p1");
        assert_eq!(w.version.as_deref(), Some("2024-01-01T00:00:00.000Z"));
        assert_eq!(w.updated_at.as_deref(), Some("2024-01-01T00:00:00.000Z"));
        assert!(written(&json!({})).is_err());
    }

    #[test]
    fn version_check() {
        let page = json!({ "id": "p1", "last_edited_time": "2024-01-01T00:01:00.000Z", "in_trash": false });
        assert!(check_version("p1", "2024-01-01T00:01:00.000Z", &page).is_ok());
        match check_version("p1", "2024-01-01T00:00:00.000Z", &page) {
            Err(ConnectorError::Conflict(c)) => {
                assert_eq!(c.id, "p1");
                assert_eq!(
                    c.current_version.as_deref(),
                    Some("2024-01-01T00:01:00.000Z")
                );
            }
            other => panic!("{other:?}"),
        }
        let trashed =
            json!({ "id": "p1", "last_edited_time": "2024-01-01T00:01:00.000Z", "in_trash": true });
        assert!(matches!(
            check_version("p1", "2024-01-01T00:01:00.000Z", &trashed),
            Err(ConnectorError::NotFound(_))
        ));
        assert!(in_trash(&trashed));
        assert!(!in_trash(&page));
        assert!(in_trash(&json!({ "archived": true })));
    }

    #[test]
    fn each_op_has_its_own_outcome() {
        let results = run_ops(vec![1, 2, 3], |n| {
            if n == 2 {
                Err(ConnectorError::InvalidInput("bad".into()))
            } else {
                ok(n)
            }
        })
        .unwrap();
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok() && results[2].is_ok());
        assert!(matches!(results[1], Err(ConnectorError::InvalidInput(_))));
    }

    #[test]
    fn rate_limit_before_any_write_fails_the_call() {
        let mut calls = 0;
        let outcome = run_ops(vec![1, 2], |_| {
            calls += 1;
            limited()
        });
        assert!(
            matches!(outcome, Err(ConnectorError::RateLimited(ref i)) if i.retry_after_ms == 1500)
        );
        assert_eq!(calls, 1);
        // a failed op wrote nothing: the call still fails as a whole
        let outcome = run_ops(vec![1, 2], |n| {
            if n == 1 {
                Err(ConnectorError::InvalidInput("x".into()))
            } else {
                limited()
            }
        });
        assert!(matches!(outcome, Err(ConnectorError::RateLimited(_))));
    }

    #[test]
    fn rate_limit_after_a_write_stops_the_batch() {
        let mut tried = Vec::new();
        let results = run_ops(vec![1, 2, 3, 4], |n| {
            tried.push(n);
            if n >= 2 {
                limited()
            } else {
                ok(n)
            }
        })
        .unwrap();
        assert_eq!(tried, [1, 2]);
        assert_eq!(results.len(), 4);
        assert!(results[0].is_ok());
        for r in &results[1..] {
            assert!(
                matches!(r, Err(ConnectorError::RateLimited(i)) if i.retry_after_ms == 1500),
                "{r:?}"
            );
        }
    }
}
