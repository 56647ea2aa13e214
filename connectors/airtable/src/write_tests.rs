use super::*;
use crate::schema::tests::sample_table;
use serde_json::json;
use std::collections::VecDeque;
use synchost_sdk::{DeleteOp, Field, FieldValue, UpdateOp};

fn create(name: &str) -> WriteOp {
    WriteOp::Create(vec![Field {
        name: "Name".into(),
        value: FieldValue::Text(name.into()),
    }])
}

fn update(id: &str, expected: Option<&str>) -> WriteOp {
    WriteOp::Update(UpdateOp {
        id: id.into(),
        expected_version: expected.map(String::from),
        fields: vec![Field {
            name: "Name".into(),
            value: FieldValue::Text("new".into()),
        }],
    })
}

fn rate_limited() -> ConnectorError {
    ConnectorError::RateLimited(RateLimitedInfo {
        retry_after_ms: 30_000,
        message: "429".into(),
    })
}

/// Airtable's `Date` on every scripted answer.
const NOW: &str = "2024-05-01T00:10:00Z";

/// Answers calls from a script, recording them.
struct Script {
    answers: VecDeque<Result<Value, ConnectorError>>,
    calls: Vec<Call>,
    date: Option<&'static str>,
    /// the run's records, kept across calls as the connector keeps them
    ours: crate::recent::Recent,
}

impl Script {
    fn new(answers: Vec<Result<Value, ConnectorError>>) -> Self {
        Script {
            answers: answers.into(),
            calls: Vec::new(),
            date: Some(NOW),
            ours: crate::recent::Recent::default(),
        }
    }

    fn run(&mut self, ops: &[WriteOp]) -> Result<Vec<OpResult>, ConnectorError> {
        let table = sample_table();
        let target = Target {
            base: "appB",
            table_ref: "Tasks",
            table: &table,
            modified_field: "Last Modified",
        };
        let date = self.date.map(String::from);
        let mut send = |call: Call| {
            self.calls.push(call);
            Answer {
                body: self.answers.pop_front().expect("an answer for every call"),
                date: date.clone(),
            }
        };
        execute(&target, ops, &mut self.ours, &mut send)
    }
}

/// A create batch's answer: one record per name.
fn created(ids: &[&str]) -> Result<Value, ConnectorError> {
    let records: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "createdTime": "2024-05-01T00:00:00.000Z", "fields": {}}))
        .collect();
    Ok(json!({ "records": records }))
}

fn kind(result: &OpResult) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(ConnectorError::InvalidInput(_)) => "invalid-input",
        Err(ConnectorError::RateLimited(_)) => "rate-limited",
        Err(ConnectorError::Conflict(_)) => "conflict",
        Err(ConnectorError::Transient(_)) => "transient",
        Err(ConnectorError::NotFound(_)) => "not-found",
        Err(_) => "other",
    }
}

#[test]
fn invalid_op_fails_alone_and_the_rest_is_sent() {
    let bad = WriteOp::Create(vec![Field {
        name: "Nope".into(),
        value: FieldValue::Null,
    }]);
    let mut script = Script::new(vec![created(&["recA", "recB"])]);
    let results = script.run(&[create("a"), bad, create("b")]).unwrap();
    assert_eq!(
        results.iter().map(kind).collect::<Vec<_>>(),
        ["ok", "invalid-input", "ok"]
    );
    assert_eq!(results[2].as_ref().unwrap().id, "recB");
    assert_eq!(script.calls.len(), 1);
    assert_eq!(
        script.calls[0].body.as_ref().unwrap()["records"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_failed_batch_fails_each_of_its_ops() {
    let ops: Vec<WriteOp> = (0..12).map(|i| create(&i.to_string())).collect();
    let mut script = Script::new(vec![
        Err(ConnectorError::Transient("HTTP 503".into())),
        created(&["recK", "recL"]),
    ]);
    let results = script.run(&ops).unwrap();
    assert!(results[..10].iter().all(|r| kind(r) == "transient"));
    assert!(results[10..].iter().all(|r| kind(r) == "ok"));
    assert_eq!(script.calls.len(), 2);
}

#[test]
fn rate_limit_before_any_write_fails_the_call() {
    let mut script = Script::new(vec![Err(rate_limited())]);
    let err = script.run(&[create("a"), create("b")]).unwrap_err();
    assert!(matches!(err, ConnectorError::RateLimited(_)));
}

#[test]
fn rate_limit_after_a_write_marks_the_rest() {
    let ops: Vec<WriteOp> = (0..25).map(|i| create(&i.to_string())).collect();
    let ids: Vec<String> = (0..10).map(|i| format!("rec{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut script = Script::new(vec![created(&ids), Err(rate_limited())]);
    let results = script.run(&ops).unwrap();
    assert!(results[..10].iter().all(|r| kind(r) == "ok"));
    assert!(results[10..].iter().all(|r| kind(r) == "rate-limited"));
    assert_eq!(script.calls.len(), 2, "stops after the 429");
}

#[test]
fn expected_version_reads_the_record_first() {
    let current = json!({"id": "rec1", "createdTime": "2024-01-01T00:00:00.000Z",
                         "fields": {"Last Modified": "2024-05-01T00:00:00.000Z"}});
    let updated = json!({"records": [{"id": "rec1", "createdTime": "2024-01-01T00:00:00.000Z",
                          "fields": {"Last Modified": "2024-05-02T00:00:00.000Z"}}]});
    let mut script = Script::new(vec![Ok(current), Ok(updated)]);
    // same instant, other spelling: no conflict
    let results = script
        .run(&[update("rec1", Some("2024-05-01T00:00:00Z"))])
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().version.as_deref(),
        Some("2024-05-02T00:00:00.000Z")
    );
    assert_eq!(script.calls[0].method, "GET");
    assert_eq!(
        script.calls[0].url,
        "https://api.airtable.com/v0/appB/Tasks/rec1"
    );
    assert_eq!(script.calls[1].method, "PATCH");
}

#[test]
fn stale_expected_version_is_a_conflict_and_not_sent() {
    let current = json!({"id": "rec1", "createdTime": "2024-01-01T00:00:00.000Z",
                         "fields": {"Last Modified": "2024-05-03T00:00:00.000Z"}});
    let updated = json!({"records": [{"id": "rec2", "fields": {}}]});
    let mut script = Script::new(vec![Ok(current), Ok(updated)]);
    let results = script
        .run(&[
            update("rec1", Some("2024-05-01T00:00:00.000Z")),
            update("rec2", None),
        ])
        .unwrap();
    match &results[0] {
        Err(ConnectorError::Conflict(info)) => {
            assert_eq!(info.id, "rec1");
            assert_eq!(
                info.current_version.as_deref(),
                Some("2024-05-03T00:00:00.000Z")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(kind(&results[1]), "ok");
    let patch = script.calls[1].body.as_ref().unwrap();
    assert_eq!(
        patch["records"],
        json!([{"id": "rec2", "fields": {"Name": "new"}}])
    );
}

#[test]
fn version_check_of_a_missing_record_is_not_found() {
    let mut script = Script::new(vec![Err(ConnectorError::NotFound("NOT_FOUND".into()))]);
    let results = script.run(&[update("rec1", Some("v"))]).unwrap();
    assert!(matches!(results[0], Err(ConnectorError::NotFound(_))));
    assert_eq!(script.calls.len(), 1);
}

#[test]
fn deletes_are_batched_and_confirmed() {
    let ops: Vec<WriteOp> = ["rec1", "rec2"]
        .iter()
        .map(|id| {
            WriteOp::Delete(DeleteOp {
                id: id.to_string(),
                expected_version: None,
            })
        })
        .collect();
    let mut script = Script::new(vec![Ok(json!({"records": [
        {"id": "rec1", "deleted": true}, {"id": "rec2", "deleted": true}]}))]);
    let results = script.run(&ops).unwrap();
    assert!(results.iter().all(|r| kind(r) == "ok"));
    assert_eq!(script.calls[0].method, "DELETE");
}

#[test]
fn no_ops_no_calls() {
    let mut script = Script::new(vec![]);
    assert!(script.run(&[]).unwrap().is_empty());
}

fn delete(id: &str) -> WriteOp {
    WriteOp::Delete(DeleteOp {
        id: id.into(),
        expected_version: None,
    })
}

fn row_does_not_exist() -> ConnectorError {
    ConnectorError::NotFound("Airtable HTTP 422: ROW_DOES_NOT_EXIST: Record ID rec2".into())
}

fn invalid_value() -> ConnectorError {
    ConnectorError::InvalidInput("Airtable HTTP 422: INVALID_VALUE_FOR_COLUMN: Field".into())
}

fn deleted(id: &str) -> Result<Value, ConnectorError> {
    Ok(json!({"records": [{"id": id, "deleted": true}]}))
}

fn kinds(results: &[OpResult]) -> Vec<&'static str> {
    results.iter().map(kind).collect()
}

#[test]
fn a_delete_batch_holding_a_record_gone_is_sent_again_op_by_op() {
    let mut script = Script::new(vec![
        Err(row_does_not_exist()),
        deleted("rec1"),
        Err(row_does_not_exist()),
        deleted("rec3"),
    ]);
    let results = script
        .run(&[delete("rec1"), delete("rec2"), delete("rec3")])
        .unwrap();
    assert_eq!(kinds(&results), ["ok", "not-found", "ok"]);
    let urls: Vec<&str> = script.calls.iter().map(|c| c.url.as_str()).collect();
    assert_eq!(
        urls[1..],
        [
            "https://api.airtable.com/v0/appB/Tasks?records%5B%5D=rec1",
            "https://api.airtable.com/v0/appB/Tasks?records%5B%5D=rec2",
            "https://api.airtable.com/v0/appB/Tasks?records%5B%5D=rec3",
        ]
    );
}

#[test]
fn an_update_batch_refused_for_one_value_is_sent_again_op_by_op() {
    let updated = json!({"records": [{"id": "rec2", "fields": {}}]});
    let mut script = Script::new(vec![
        Err(invalid_value()),
        Err(invalid_value()),
        Ok(updated),
    ]);
    let results = script
        .run(&[update("rec1", None), update("rec2", None)])
        .unwrap();
    assert_eq!(kinds(&results), ["invalid-input", "ok"]);
    assert_eq!(script.calls.len(), 3, "no read-back for updates");
}

#[test]
fn refused_creates_are_sent_again_op_by_op_when_the_table_shows_none_of_them() {
    let mut script = Script::new(vec![
        Err(invalid_value()),
        Ok(json!({"records": []})),
        created(&["recA"]),
        Err(invalid_value()),
        created(&["recC"]),
    ]);
    let results = script
        .run(&[create("a"), create("b"), create("c")])
        .unwrap();
    assert_eq!(kinds(&results), ["ok", "invalid-input", "ok"]);
    assert_eq!(results[2].as_ref().unwrap().id, "recC");
    let check = &script.calls[1];
    assert_eq!(check.method, "GET");
    // a minute before the refusal's `Date`
    assert!(
        check.url.contains("CREATED_TIME")
            && check.url.contains(&query::encode("'2024-05-01T00:09:00Z'")),
        "{}",
        check.url
    );
}

#[test]
fn refused_creates_are_unknown_when_the_table_shows_a_record_this_call_did_not_write() {
    let mut script = Script::new(vec![
        Err(invalid_value()),
        Ok(json!({"records": [{"id": "recSomeone", "fields": {}}]})),
    ]);
    let results = script.run(&[create("a"), create("b")]).unwrap();
    assert_eq!(kinds(&results), ["transient", "transient"]);
    assert_eq!(script.calls.len(), 2, "nothing is sent again");
    let message = format!("{:?}", results[0]);
    assert!(
        message.contains("recSomeone") && message.contains("unknown"),
        "{message}"
    );
}

#[test]
fn records_this_call_created_do_not_count_as_written_by_a_refused_batch() {
    let ops: Vec<WriteOp> = (0..12).map(|i| create(&i.to_string())).collect();
    let first: Vec<String> = (0..10).map(|i| format!("rec{i}")).collect();
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let listed: Vec<Value> = first.iter().map(|id| json!({"id": id})).collect();
    let mut script = Script::new(vec![
        created(&first),
        Err(invalid_value()),
        Ok(json!({"records": listed})),
        created(&["recK"]),
        created(&["recL"]),
    ]);
    let results = script.run(&ops).unwrap();
    assert!(results.iter().all(|r| kind(r) == "ok"), "{results:?}");
    assert_eq!(results[11].as_ref().unwrap().id, "recL");
}

#[test]
fn records_an_earlier_call_of_the_run_created_do_not_count_either() {
    let mut script = Script::new(vec![
        created(&["recA"]),
        Err(invalid_value()),
        Ok(json!({"records": [{"id": "recA"}]})),
        created(&["recB"]),
        created(&["recC"]),
    ]);
    assert_eq!(kinds(&script.run(&[create("a")]).unwrap()), ["ok"]);
    let results = script.run(&[create("b"), create("c")]).unwrap();
    assert_eq!(kinds(&results), ["ok", "ok"]);
}

#[test]
fn refused_creates_without_a_date_to_check_against_are_unknown() {
    let mut script = Script::new(vec![Err(invalid_value())]);
    script.date = None;
    let results = script.run(&[create("a"), create("b")]).unwrap();
    assert_eq!(kinds(&results), ["transient", "transient"]);
    assert_eq!(script.calls.len(), 1);
}

#[test]
fn a_batch_refused_for_the_token_itself_is_not_split() {
    let unauthorized = ConnectorError::Unauthorized("Airtable HTTP 401: UNAUTHORIZED".into());
    let mut script = Script::new(vec![Err(unauthorized)]);
    let results = script.run(&[delete("rec1"), delete("rec2")]).unwrap();
    assert_eq!(kinds(&results), ["other", "other"]);
    assert_eq!(script.calls.len(), 1);
}

#[test]
fn a_rate_limit_while_sending_op_by_op_stops_the_call() {
    let mut script = Script::new(vec![
        Err(row_does_not_exist()),
        deleted("rec1"),
        Err(rate_limited()),
    ]);
    let results = script
        .run(&[delete("rec1"), delete("rec2"), delete("rec3")])
        .unwrap();
    assert_eq!(kinds(&results), ["ok", "rate-limited", "rate-limited"]);
    assert_eq!(script.calls.len(), 3);
}
