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
fn deleted_windows_respect_salesforce_rules() {
    // An ordinary window: since rounded down to the minute, up to the start of the read.
    let (start, end, clamped) =
        deleted_window(t("2024-03-01T10:00:45Z"), t("2024-03-01T11:30:20Z"));
    assert_eq!(
        (time::soql(start), time::soql(end), clamped),
        (
            "2024-03-01T10:00:00Z".into(),
            "2024-03-01T11:30:20Z".into(),
            false
        )
    );
    // Too short: widened back to two whole minutes before the end.
    let (start, _, _) = deleted_window(t("2024-03-01T11:30:05Z"), t("2024-03-01T11:30:20Z"));
    assert_eq!(time::soql(start), "2024-03-01T11:28:00Z");
    let (start, _, _) = deleted_window(t("2024-03-01T12:00:00Z"), t("2024-03-01T11:30:20Z"));
    assert_eq!(time::soql(start), "2024-03-01T11:28:00Z");
    // Too old: brought forward to within 30 days, and said so.
    let (start, _, clamped) = deleted_window(t("2024-01-01T00:00:00Z"), t("2024-03-01T11:30:20Z"));
    assert_eq!(
        (time::soql(start), clamped),
        ("2024-01-31T11:31:00Z".into(), true)
    );
    assert_eq!(
        deleted_url("https://acme.my.salesforce.com/services/data/v59.0", "Contact", t("2024-03-01T10:00:00Z"), t("2024-03-01T11:30:20Z")),
        "https://acme.my.salesforce.com/services/data/v59.0/sobjects/Contact/deleted/?start=2024-03-01T10%3A00%3A00Z&end=2024-03-01T11%3A30%3A20Z"
    );
}

#[test]
fn deleted_records_become_tombstones() {
    let body = json!({
        "deletedRecords": [{ "id": "0035g00000ABCDEAA1", "deletedDate": "2013-05-07T22:07:19.000+0000" }],
        "earliestDateAvailable": "2013-05-03T15:57:00.000+0000",
        "latestDateCovered": "2013-05-08T21:20:00.000+0000"
    });
    let d = parse_deleted(&body).unwrap();
    assert_eq!(d.tombstones.len(), 1);
    let r = &d.tombstones[0];
    assert!(r.deleted && r.fields.is_empty());
    assert_eq!(r.id, "0035g00000ABCDEAA1");
    assert_eq!(r.updated_at.as_deref(), Some("2013-05-07T22:07:19.000Z"));
    assert_eq!(d.covered.as_deref(), Some("2013-05-08T21:20:00.000Z"));
    assert_eq!(d.earliest, Some(t("2013-05-03T15:57:00Z")));
    assert!(parse_deleted(&json!({})).is_err());
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
