//! Write planning against a scripted Directus: which requests go out, in
//! which order, and what each op's outcome is.

use std::collections::VecDeque;

use serde_json::{json, Value};
use synchost_sdk::{
    ConnectorError, DeleteOp, Field, FieldValue, OpResult, RateLimitedInfo, UpdateOp, WriteOp,
};

use crate::schema::{parse_fields, tests_support::tasks_body, Collection};
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

// Directus answers a batch create with its items read back by `readMany`
// (api/src/controllers/items.ts), sorted as any read is: by the collection's
// sort field, else its key; not in the order sent. Each item must be paired
// with its op by identity.

/// Runs `ops` against `c`, answering each call with `answer(call)`.
fn run_on(
    c: &Collection,
    ops: Vec<WriteOp>,
    mut answer: impl FnMut(&Call) -> Result<Value, ConnectorError>,
) -> (Vec<Call>, Vec<OpResult>) {
    let t = Target {
        base: "http://d",
        collection: c,
    };
    let mut calls = Vec::new();
    let out = execute(&t, ops, &mut |call| {
        let a = answer(&call);
        calls.push(call);
        a
    })
    .unwrap();
    (calls, out)
}

fn collection(name: &str, key: Value) -> Collection {
    parse_fields(
        name,
        &json!({"data": [
            key,
            {"field": "name", "type": "string", "schema": {}, "meta": null},
            {"field": "sort", "type": "integer", "schema": {}, "meta": null},
            {"field": "date_created", "type": "timestamp", "schema": {}, "meta": {"special": ["date-created"]}},
        ]}),
    )
    .unwrap()
}

/// A collection keyed by a UUID Directus generates (`special: uuid`).
fn uuid_docs() -> Collection {
    collection(
        "docs",
        json!({"field": "id", "type": "uuid", "schema": {"is_primary_key": true, "has_auto_increment": false}, "meta": {"special": ["uuid"], "readonly": true}}),
    )
}

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// The items of a batch create as `readMany` answers them: sorted by `by`.
fn read_back(call: &Call, by: &str, extra: impl Fn(usize, &mut Value)) -> Value {
    let mut items: Vec<Value> = call.body.as_ref().unwrap().as_array().unwrap().clone();
    for (i, item) in items.iter_mut().enumerate() {
        item["date_created"] = json!("2024-01-02T00:00:00.000Z");
        extra(i, item);
    }
    items.sort_by_key(|i| i[by].to_string());
    json!({ "data": items })
}

fn unknown(r: &OpResult) -> bool {
    matches!(r, Err(ConnectorError::Transient(m)) if m.contains("outcome is unknown"))
}

fn names(ns: &[&str]) -> Vec<WriteOp> {
    ns.iter().map(|n| WriteOp::Create(name(n))).collect()
}

#[test]
fn creates_into_a_uuid_collection_send_their_key_and_are_paired_by_it() {
    let c = uuid_docs();
    let mine = "0F8FAD5B-D9CB-469F-A165-70867728950E";
    let mut ops = names(&["a", "b", "c", "d"]);
    ops.push(WriteOp::Create(vec![
        Field {
            name: "id".into(),
            value: FieldValue::Text(mine.into()),
        },
        name("own key").remove(0),
    ]));
    // Sorted by key (random UUIDs), and MSSQL hands UUIDs back upper case.
    let (calls, out) = run_on(&c, ops, |call| {
        let mut answer = read_back(call, "id", |_, _| {});
        for item in answer["data"].as_array_mut().unwrap() {
            item["id"] = json!(item["id"].as_str().unwrap().to_uppercase());
        }
        answer["data"].as_array_mut().unwrap().reverse();
        Ok(answer)
    });
    assert_eq!(calls.len(), 1, "one request");
    let sent = calls[0].body.as_ref().unwrap().as_array().unwrap();
    let keys: Vec<&str> = sent.iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert!(keys[..4].iter().all(|k| is_uuid_v4(k)), "{keys:?}");
    let distinct: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(distinct.len(), 5);
    assert_eq!(keys[4], mine, "a key the op carries is sent as it is");
    for (i, r) in out.iter().enumerate() {
        let w = r.as_ref().unwrap();
        assert_eq!(w.id.to_lowercase(), keys[i].to_lowercase(), "op {i}");
        assert_eq!(w.version.as_deref(), Some("2024-01-02T00:00:00.000Z"));
    }
}

#[test]
fn a_uuid_missing_from_the_answer_leaves_only_its_op_unknown() {
    let c = uuid_docs();
    let (calls, out) = run_on(&c, names(&["a", "b", "c"]), |call| {
        let mut answer = read_back(call, "id", |_, _| {});
        let sent_b = call.body.as_ref().unwrap()[1]["id"].clone();
        answer["data"]
            .as_array_mut()
            .unwrap()
            .retain(|i| i["id"] != sent_b);
        Ok(answer)
    });
    let sent = calls[0].body.as_ref().unwrap();
    assert_eq!(out[0].as_ref().unwrap().id, sent[0]["id"].as_str().unwrap());
    assert!(unknown(&out[1]), "{:?}", out[1]);
    assert_eq!(out[2].as_ref().unwrap().id, sent[2]["id"].as_str().unwrap());

    // Answered twice: which one is the op's cannot be told.
    let (_, out) = run_on(&c, names(&["a", "b"]), |call| {
        let mut answer = read_back(call, "id", |_, _| {});
        let first = answer["data"][0].clone();
        answer["data"].as_array_mut().unwrap().push(first);
        Ok(answer)
    });
    assert_eq!(out.iter().filter(|r| unknown(r)).count(), 1, "{out:?}");
    assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 1, "{out:?}");
}

#[test]
fn creates_into_an_auto_increment_collection_with_a_sort_field_are_paired_by_key_order() {
    let c = collection(
        "ranked",
        json!({"field": "id", "type": "integer", "schema": {"is_primary_key": true, "has_auto_increment": true}, "meta": null}),
    );
    // Keys 11, 12, 13 in the order sent; the answer sorted by `sort`
    // (3, 2, 1): the reverse.
    let (calls, out) = run_on(
        &c,
        vec![
            WriteOp::Create(vec![
                name("a").remove(0),
                Field {
                    name: "sort".into(),
                    value: FieldValue::Number(3.0),
                },
            ]),
            WriteOp::Create(vec![
                name("b").remove(0),
                Field {
                    name: "sort".into(),
                    value: FieldValue::Number(2.0),
                },
            ]),
            WriteOp::Create(vec![
                name("c").remove(0),
                Field {
                    name: "sort".into(),
                    value: FieldValue::Number(1.0),
                },
            ]),
        ],
        |call| {
            Ok(read_back(call, "sort", |i, item| {
                item["id"] = json!(11 + i)
            }))
        },
    );
    assert_eq!(calls.len(), 1);
    assert!(calls[0].body.as_ref().unwrap()[0].get("id").is_none());
    let ids: Vec<&str> = out
        .iter()
        .map(|r| r.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(ids, ["11", "12", "13"]);

    // A bigInteger key comes back as a string: sorted as a number (9 < 10).
    let (_, out) = run_on(&c, names(&["a", "b", "c"]), |call| {
        Ok(read_back(call, "id", |i, item| {
            item["id"] = json!((9 + i).to_string())
        }))
    });
    let ids: Vec<&str> = out
        .iter()
        .map(|r| r.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(ids, ["9", "10", "11"]);
}

#[test]
fn an_answer_that_does_not_add_up_leaves_every_create_unknown() {
    // tasks: an auto-increment key.
    let answers = [
        // one item short
        json!({"data": [item(2, "x"), item(1, "x")]}),
        // one too many
        json!({"data": [item(2, "x"), item(1, "x"), item(3, "x"), item(4, "x")]}),
        // the same key twice
        json!({"data": [item(2, "x"), item(1, "x"), item(1, "x")]}),
        // a key that is not a whole number
        json!({"data": [item(2, "x"), item(1, "x"), {"id": null, "name": "x"}]}),
        // no items at all (Directus answers 204 when the token may not read them)
        Value::Null,
    ];
    for answer in answers {
        let mut s = Script::new(vec![Ok(answer.clone())]);
        let out = s.run(names(&["a", "b", "c"])).unwrap();
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(unknown), "{answer}: {out:?}");
    }
}

#[test]
fn creates_with_a_key_the_op_carries_are_paired_by_it() {
    let c = collection(
        "codes",
        json!({"field": "code", "type": "string", "schema": {"is_primary_key": true, "has_auto_increment": false}, "meta": null}),
    );
    let code = |k: &str| {
        WriteOp::Create(vec![Field {
            name: "code".into(),
            value: FieldValue::Text(k.into()),
        }])
    };
    let (calls, out) = run_on(&c, vec![code("zz"), code("aa"), code("mm")], |call| {
        Ok(read_back(call, "code", |_, _| {}))
    });
    assert_eq!(calls.len(), 1);
    let ids: Vec<&str> = out
        .iter()
        .map(|r| r.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(ids, ["zz", "aa", "mm"]);

    // Without its key, an item cannot be told from the others in a batch
    // (a database default may fill it): each is created on its own, and the
    // one item answered is that op's.
    let mut n = 0;
    let (calls, out) = run_on(&c, names(&["a", "b"]), |call| {
        n += 1;
        let mut item = call.body.clone().unwrap();
        item["code"] = json!(format!("k{n}"));
        Ok(json!({ "data": item }))
    });
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].body, Some(json!({"name": "a"})));
    let ids: Vec<&str> = out
        .iter()
        .map(|r| r.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(ids, ["k1", "k2"]);
}

#[test]
fn a_create_of_unknown_outcome_is_never_sent_again_by_a_later_rate_limit() {
    // The create's answer proves nothing; the update is then rate limited.
    // Failing the whole call would make the host send the create again.
    let mut s = Script::new(vec![Ok(json!({"data": []})), Err(rate_limited())]);
    let out = s
        .run(vec![
            WriteOp::Create(name("a")),
            WriteOp::Update(UpdateOp {
                id: "3".into(),
                expected_version: None,
                fields: name("x"),
            }),
        ])
        .unwrap();
    assert!(unknown(&out[0]), "{out:?}");
    assert!(matches!(out[1], Err(ConnectorError::RateLimited(_))));
}
