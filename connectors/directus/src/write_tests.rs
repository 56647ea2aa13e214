//! Write planning against a scripted Directus: which requests go out, in
//! which order, and what each op's outcome is.

use std::collections::VecDeque;

use serde_json::{json, Value};
use synchost_sdk::{
    ConnectorError, DeleteOp, Field, FieldValue, RateLimitedInfo, UpdateOp, WriteOp,
};

use crate::schema::{parse_fields, tests_support::tasks_body};
use crate::write::{execute, Call, Target};

/// Answers calls from a script and records them.
struct Script {
    answers: VecDeque<Result<Value, ConnectorError>>,
    calls: Vec<Call>,
}

impl Script {
    fn new(answers: Vec<Result<Value, ConnectorError>>) -> Self {
        Script {
            answers: answers.into(),
            calls: Vec::new(),
        }
    }

    fn run(&mut self, ops: Vec<WriteOp>) -> Result<Vec<synchost_sdk::OpResult>, ConnectorError> {
        let c = parse_fields("tasks", &tasks_body()).unwrap();
        let t = Target {
            base: "http://d",
            collection: &c,
        };
        let answers = &mut self.answers;
        let calls = &mut self.calls;
        execute(&t, ops, &mut |call| {
            calls.push(call);
            answers.pop_front().expect("an answer for every call")
        })
    }

    fn methods(&self) -> Vec<String> {
        self.calls
            .iter()
            .map(|c| format!("{} {}", c.method, c.url.split('?').next().unwrap()))
            .collect()
    }
}

fn name(n: &str) -> Vec<Field> {
    vec![Field {
        name: "name".into(),
        value: FieldValue::Text(n.into()),
    }]
}

fn item(id: u32, updated: &str) -> Value {
    json!({"id": id, "name": "x", "date_created": "2024-01-01T00:00:00.000Z", "date_updated": updated})
}

fn forbidden() -> ConnectorError {
    ConnectorError::Unauthorized("Directus HTTP 403: FORBIDDEN: You don't have permission".into())
}

fn rate_limited() -> ConnectorError {
    ConnectorError::RateLimited(RateLimitedInfo {
        retry_after_ms: 2000,
        message: "Directus HTTP 429".into(),
    })
}

#[test]
fn consecutive_creates_go_in_one_request() {
    let mut s = Script::new(vec![Ok(
        json!({"data": [item(1, "2024-01-02T00:00:00.000Z"), item(2, "2024-01-02T00:00:00.000Z")]}),
    )]);
    let out = s
        .run(vec![WriteOp::Create(name("a")), WriteOp::Create(name("b"))])
        .unwrap();
    assert_eq!(s.methods(), ["POST http://d/items/tasks"]);
    assert_eq!(s.calls[0].body, Some(json!([{"name": "a"}, {"name": "b"}])));
    let ids: Vec<String> = out.iter().map(|r| r.as_ref().unwrap().id.clone()).collect();
    assert_eq!(ids, ["1", "2"]);
    assert_eq!(
        out[0].as_ref().unwrap().version.as_deref(),
        Some("2024-01-02T00:00:00.000Z")
    );
}

#[test]
fn a_refused_batch_is_retried_item_by_item() {
    let invalid = ConnectorError::InvalidInput("Directus HTTP 400: FAILED_VALIDATION".into());
    let mut s = Script::new(vec![
        Err(invalid.clone()),
        Ok(json!({"data": item(1, "2024-01-02T00:00:00.000Z")})),
        Err(invalid),
    ]);
    let out = s
        .run(vec![
            WriteOp::Create(name("ok")),
            WriteOp::Create(name("bad")),
        ])
        .unwrap();
    assert_eq!(s.calls.len(), 3);
    assert_eq!(s.calls[1].body, Some(json!({"name": "ok"})));
    assert!(out[0].is_ok());
    assert!(matches!(out[1], Err(ConnectorError::InvalidInput(_))));
}

#[test]
fn an_invalid_op_is_not_sent_and_the_others_are() {
    let mut s = Script::new(vec![Ok(
        json!({"data": [item(1, "2024-01-02T00:00:00.000Z")]}),
    )]);
    let bad = vec![Field {
        name: "nope".into(),
        value: FieldValue::Null,
    }];
    let out = s
        .run(vec![WriteOp::Create(bad), WriteOp::Create(name("a"))])
        .unwrap();
    assert_eq!(s.calls[0].body, Some(json!([{"name": "a"}])));
    assert!(matches!(&out[0], Err(ConnectorError::InvalidInput(m)) if m.contains("nope")));
    assert_eq!(out[1].as_ref().unwrap().id, "1");
}

#[test]
fn an_update_with_a_stale_version_is_a_conflict_and_not_sent() {
    let mut s = Script::new(vec![Ok(
        json!({"data": [item(3, "2024-01-05T00:00:00.000Z")]}),
    )]);
    let out = s
        .run(vec![WriteOp::Update(UpdateOp {
            id: "3".into(),
            expected_version: Some("2024-01-02T00:00:00.000Z".into()),
            fields: name("new"),
        })])
        .unwrap();
    assert_eq!(s.methods(), ["GET http://d/items/tasks"]);
    match &out[0] {
        Err(ConnectorError::Conflict(info)) => {
            assert_eq!(info.id, "3");
            assert_eq!(
                info.current_version.as_deref(),
                Some("2024-01-05T00:00:00.000Z")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_update_with_the_current_version_is_sent() {
    let mut s = Script::new(vec![
        Ok(json!({"data": [item(3, "2024-01-05T00:00:00.000Z")]})),
        Ok(json!({"data": item(3, "2024-01-06T00:00:00.000Z")})),
    ]);
    let out = s
        .run(vec![WriteOp::Update(UpdateOp {
            id: "3".into(),
            expected_version: Some("2024-01-05T00:00:00.000Z".into()),
            fields: name("new"),
        })])
        .unwrap();
    assert_eq!(
        s.methods(),
        ["GET http://d/items/tasks", "PATCH http://d/items/tasks/3"]
    );
    assert_eq!(s.calls[1].body, Some(json!({"name": "new"})));
    assert_eq!(
        out[0].as_ref().unwrap().version.as_deref(),
        Some("2024-01-06T00:00:00.000Z")
    );
}

#[test]
fn forbidden_on_a_missing_item_is_not_found() {
    let mut s = Script::new(vec![Err(forbidden()), Ok(json!({"data": []}))]);
    let out = s
        .run(vec![WriteOp::Delete(DeleteOp {
            id: "99".into(),
            expected_version: None,
        })])
        .unwrap();
    assert_eq!(
        s.methods(),
        ["DELETE http://d/items/tasks/99", "GET http://d/items/tasks"]
    );
    assert!(matches!(&out[0], Err(ConnectorError::NotFound(m)) if m.contains("99")));

    // The item exists: the token may not change it.
    let mut s = Script::new(vec![Err(forbidden()), Ok(json!({"data": [item(4, "x")]}))]);
    let out = s
        .run(vec![WriteOp::Update(UpdateOp {
            id: "4".into(),
            expected_version: None,
            fields: name("x"),
        })])
        .unwrap();
    assert!(matches!(out[0], Err(ConnectorError::Unauthorized(_))));
}

#[test]
fn a_rate_limit_first_fails_the_call_and_later_stops_the_rest() {
    let mut s = Script::new(vec![Err(rate_limited())]);
    assert!(matches!(
        s.run(vec![WriteOp::Delete(DeleteOp {
            id: "1".into(),
            expected_version: None
        })]),
        Err(ConnectorError::RateLimited(_))
    ));

    let mut s = Script::new(vec![Ok(Value::Null), Err(rate_limited())]);
    let out = s
        .run(vec![
            WriteOp::Delete(DeleteOp {
                id: "1".into(),
                expected_version: None,
            }),
            WriteOp::Delete(DeleteOp {
                id: "2".into(),
                expected_version: None,
            }),
            WriteOp::Create(name("c")),
        ])
        .unwrap();
    assert_eq!(
        s.calls.len(),
        2,
        "the create after the rate limit is not tried"
    );
    assert_eq!(out.len(), 3);
    assert!(out[0].is_ok());
    assert!(matches!(out[1], Err(ConnectorError::RateLimited(_))));
    assert!(matches!(out[2], Err(ConnectorError::RateLimited(_))));
}

#[test]
fn an_update_of_a_missing_item_is_not_found() {
    // Directus: `PATCH /items/c/99` for no such item is `204 No Content`.
    let mut s = Script::new(vec![Ok(Value::Null)]);
    let out = s
        .run(vec![WriteOp::Update(UpdateOp {
            id: "99".into(),
            expected_version: None,
            fields: name("x"),
        })])
        .unwrap();
    assert!(matches!(&out[0], Err(ConnectorError::NotFound(m)) if m.contains("99")));
}
