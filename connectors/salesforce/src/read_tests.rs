use super::*;
use crate::schema::ObjectSchema;
use serde_json::json;

fn schema() -> ObjectSchema {
    ObjectSchema::from_describe("contacts", &crate::schema::tests::contact_describe()).unwrap()
}

fn t(s: &str) -> Millis {
    time::parse(s).unwrap()
}

fn selected() -> Vec<String> {
    ["Id", "SystemModstamp", "LastName"]
        .map(String::from)
        .to_vec()
}

fn row(id: &str, stamp: &str) -> Value {
    json!({
        "attributes": { "type": "Contact", "url": format!("/services/data/v59.0/sobjects/Contact/{id}") },
        "Id": id, "SystemModstamp": stamp, "LastName": "Smith"
    })
}

#[test]
fn cursor_state_round_trips() {
    let state = CursorState {
        next: Some("/services/data/v59.0/query/01gXX-2000".into()),
        since: Some("2024-01-01T00:00:00.000Z".into()),
        started: Some("2024-01-02T00:00:00Z".into()),
        max_seen: None,
        covered: Some("2024-01-02T00:00:00.000Z".into()),
        windows: vec![(t("2024-01-01T00:00:00Z"), t("2024-01-01T12:00:00Z"))],
        offset: 200,
    };
    let encoded = cursor::encode(&state);
    assert_eq!(CursorState::resume(Some(&encoded), None).unwrap(), state);
    assert!(matches!(
        CursorState::resume(Some("not a cursor!"), None),
        Err(ConnectorError::InvalidInput(_))
    ));
    let fresh = CursorState::resume(None, Some("2024-01-01T00:00:00Z")).unwrap();
    assert_eq!(
        fresh.since_millis().unwrap(),
        Some(t("2024-01-01T00:00:00Z"))
    );
    let bad = CursorState::resume(None, Some("last tuesday")).unwrap();
    assert!(
        matches!(bad.since_millis(), Err(ConnectorError::InvalidInput(m)) if m.contains("`since`"))
    );
}

#[test]
fn batch_sizes_follow_the_query_options_header_range() {
    assert_eq!(batch_size(0), None);
    assert_eq!(batch_size(100), Some(200));
    assert_eq!(batch_size(500), Some(500));
    assert_eq!(batch_size(10_000), Some(2000));
}

#[test]
fn soql_of_full_and_incremental_reads() {
    let s = schema();
    assert_eq!(
        soql(&s, &selected(), None),
        "SELECT Id, SystemModstamp, LastName FROM Contact ORDER BY SystemModstamp, Id"
    );
    assert_eq!(
        soql(&s, &selected(), Some(t("2024-01-01T10:00:00.750Z"))),
        "SELECT Id, SystemModstamp, LastName FROM Contact WHERE SystemModstamp >= 2024-01-01T10:00:00Z ORDER BY SystemModstamp, Id"
    );
    let url = query_url(
        "https://acme.my.salesforce.com/services/data/v59.0",
        "SELECT Id FROM Contact WHERE SystemModstamp >= 2024-01-01T10:00:00+01:00",
    );
    assert_eq!(
        url,
        "https://acme.my.salesforce.com/services/data/v59.0/query?q=SELECT%20Id%20FROM%20Contact%20WHERE%20SystemModstamp%20%3E%3D%202024-01-01T10%3A00%3A00%2B01%3A00"
    );
}

#[test]
fn a_query_too_long_for_a_url_becomes_a_composite_subrequest() {
    let s = schema();
    let soql = soql(&s, &selected(), None);
    let body = composite_query("/services/data/v59.0", &soql, Some(500));
    assert_eq!(
        body,
        json!({
            "allOrNone": false,
            "compositeRequest": [{
                "method": "GET",
                "url": query_url("/services/data/v59.0", &soql),
                "referenceId": "query",
                "httpHeaders": { "Sforce-Query-Options": "batchSize=500" },
            }],
        })
    );
    assert!(
        composite_query("/x", "SELECT Id FROM Contact", None)["compositeRequest"][0]
            .get("httpHeaders")
            .is_none()
    );

    let answer = json!({ "compositeResponse": [{
        "body": { "totalSize": 0, "done": true, "records": [] },
        "httpHeaders": {}, "httpStatusCode": 200, "referenceId": "query",
    }] });
    let (status, result) = composite_result(&answer).unwrap();
    assert_eq!((status, result["done"].clone()), (200, json!(true)));
    let failed = json!({ "compositeResponse": [{
        "body": [{ "errorCode": "INVALID_FIELD", "message": "No such column" }],
        "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "query",
    }] });
    assert_eq!(composite_result(&failed).unwrap().0, 400);
    for bad in [
        json!({}),
        json!({ "compositeResponse": [{ "referenceId": "query" }] }),
    ] {
        assert!(matches!(
            composite_result(&bad),
            Err(ConnectorError::Fatal(_))
        ));
    }
}

#[test]
fn next_records_urls_stay_on_the_api() {
    let base = "https://acme.my.salesforce.com";
    assert_eq!(
        next_url(base, "/services/data/v59.0/query/01gRO0000016PIAYA2-2000").unwrap(),
        "https://acme.my.salesforce.com/services/data/v59.0/query/01gRO0000016PIAYA2-2000"
    );
    for bad in [
        "https://evil.example/x",
        "/services/data/../../x",
        "/services/data/v59.0/query/a?b=c",
        "//evil.example/services/data/",
    ] {
        assert!(
            matches!(next_url(base, bad), Err(ConnectorError::Fatal(_))),
            "{bad}"
        );
    }
}

#[test]
fn batches_carry_the_cursor_and_the_last_sets_the_checkpoint() {
    let s = schema();
    let first = json!({
        "totalSize": 3, "done": false,
        "nextRecordsUrl": "/services/data/v59.0/query/01gXX-2",
        "records": [row("0035g00000AAAAAAA1", "2024-01-01T00:00:05.000+0000"), row("0035g00000AAAAAAA2", "2024-01-01T00:00:09.000+0000")]
    });
    let batch = parse_query(&first, &s, &selected()).unwrap();
    assert_eq!(batch.records.len(), 2);
    assert_eq!(batch.max_stamp.as_deref(), Some("2024-01-01T00:00:09.000Z"));
    let mut state = CursorState::resume(None, Some("2024-01-01T00:00:00Z")).unwrap();
    state.started = Some("2024-01-01T01:00:30Z".into());
    state.covered = Some("2024-01-01T01:00:00.000Z".into());
    let page1 = finish(state, batch.records, batch.next, batch.max_stamp);
    assert!(page1.checkpoint.is_none());
    let resumed = CursorState::resume(page1.next_cursor.as_deref(), None).unwrap();
    assert_eq!(
        resumed.next.as_deref(),
        Some("/services/data/v59.0/query/01gXX-2")
    );
    assert_eq!(
        resumed.max_seen.as_deref(),
        Some("2024-01-01T00:00:09.000Z")
    );
    assert_eq!(resumed.since.as_deref(), Some("2024-01-01T00:00:00Z"));

    let last = json!({ "totalSize": 3, "done": true, "records": [row("0035g00000AAAAAAA3", "2024-01-01T00:00:07.000+0000")] });
    let batch = parse_query(&last, &s, &selected()).unwrap();
    assert_eq!(batch.next, None);
    let page2 = finish(resumed, batch.records, batch.next, batch.max_stamp);
    assert!(page2.next_cursor.is_none());
    // The read began at 01:00:30 but getDeleted covered deletions up to 01:00:00 only.
    assert_eq!(
        page2.checkpoint.as_deref(),
        Some("2024-01-01T01:00:00.000Z")
    );
}

#[test]
fn checkpoint_fallbacks() {
    let full = CursorState::resume(None, None).unwrap();
    let mut with_date = full.clone();
    with_date.started = Some("2024-01-01T01:00:30Z".into());
    assert_eq!(
        finish(with_date, vec![], None, None).checkpoint.as_deref(),
        Some("2024-01-01T01:00:30Z")
    );
    assert_eq!(
        finish(
            full.clone(),
            vec![],
            None,
            Some("2024-01-01T00:00:09.000Z".into())
        )
        .checkpoint
        .as_deref(),
        Some("2024-01-01T00:00:09.000Z")
    );
    assert_eq!(finish(full, vec![], None, None).checkpoint, None);
    let incremental = CursorState::resume(None, Some("2024-01-01T00:00:00Z")).unwrap();
    assert_eq!(
        finish(incremental, vec![], None, None)
            .checkpoint
            .as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
}

#[test]
fn done_without_a_url_is_the_last_batch() {
    let body = json!({ "totalSize": 0, "done": false, "records": [] });
    assert_eq!(
        parse_query(&body, &schema(), &selected()).unwrap().next,
        None
    );
    assert!(parse_query(&json!({ "done": true }), &schema(), &selected()).is_err());
}

#[test]
fn a_page_of_tombstones_carries_the_windows_left_and_no_checkpoint() {
    let mut state = CursorState::resume(None, Some("2024-01-01T00:00:00Z")).unwrap();
    state.started = Some("2024-01-01T01:00:30Z".into());
    state.windows = vec![(t("2024-01-01T00:30:00Z"), t("2024-01-01T01:00:30Z"))];
    let page = pending(
        state.clone(),
        vec![Record::new("0035g00000AAAAAAA1").deleted(true)],
    );
    assert!(page.checkpoint.is_none());
    assert_eq!(page.records.len(), 1);
    let resumed = CursorState::resume(page.next_cursor.as_deref(), None).unwrap();
    assert_eq!(resumed, state);
    // Cursors of before the windows existed still resume.
    let old = cursor::encode(
        &json!({ "n": "/services/data/v59.0/query/01gXX-2", "s": "2024-01-01T00:00:00Z" }),
    );
    let resumed = CursorState::resume(Some(&old), None).unwrap();
    assert!(resumed.windows.is_empty() && resumed.offset == 0);
}
