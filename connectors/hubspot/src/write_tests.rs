//! Unit tests of batching, answers and rate limits of writes.

use super::*;
use crate::matching::Matcher;

fn op(index: usize, kind: Kind, id: Option<&str>) -> Prepared {
    let mut properties = Map::new();
    properties.insert("firstname".into(), json!(format!("n{index}")));
    Prepared {
        index,
        kind,
        id: id.map(String::from),
        properties,
    }
}

fn resp(status: u16, body: Value) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
    }
}

fn rate_limited() -> Response {
    resp(
        429,
        json!({"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}),
    )
}

#[test]
fn batches_keep_order_kind_size_and_unique_ids() {
    let mut ops: Vec<Prepared> = (0..150).map(|i| op(i, Kind::Create, None)).collect();
    ops.push(op(150, Kind::Update, Some("1")));
    ops.push(op(151, Kind::Update, Some("2")));
    ops.push(op(152, Kind::Update, Some("1")));
    ops.push(op(153, Kind::Delete, Some("1")));
    let batches = plan(&ops);
    let shape: Vec<(Kind, usize)> = batches.iter().map(|b| (b.kind, b.ops.len())).collect();
    assert_eq!(
        shape,
        [
            (Kind::Create, 100),
            (Kind::Create, 50),
            (Kind::Update, 2),
            (Kind::Update, 1),
            (Kind::Delete, 1)
        ]
    );
    assert_eq!(
        body(&batches[2], &ops),
        json!({"inputs": [
            {"id": "1", "properties": {"firstname": "n150"}, "objectWriteTraceId": "150"},
            {"id": "2", "properties": {"firstname": "n151"}, "objectWriteTraceId": "151"}]})
    );
    assert_eq!(body(&batches[4], &ops), json!({"inputs": [{"id": "1"}]}));
    assert_eq!(
        body(&batches[0], &ops)["inputs"][3]["objectWriteTraceId"],
        "3"
    );
    assert!(valid_id("51") && !valid_id("../x") && !valid_id(""));
}

#[test]
fn results_are_matched_by_trace_id_not_position() {
    let ops = vec![op(4, Kind::Create, None), op(5, Kind::Create, None)];
    let batch = Batch {
        kind: Kind::Create,
        ops: vec![0, 1],
    };
    let answer = json!({"status": "COMPLETE", "results": [
        {"id": "902", "objectWriteTraceId": "5", "updatedAt": "2024-01-01T00:00:00.002Z", "properties": {}},
        {"id": "901", "objectWriteTraceId": "4", "updatedAt": "2024-01-01T00:00:00.001Z", "properties": {}}]});
    let Outcome::Done(results) = interpret(
        &batch,
        &ops,
        &resp(201, answer),
        "POST x",
        &Matcher::default(),
    ) else {
        panic!()
    };
    assert_eq!(results[0].0, 4);
    let w = results[0].1.as_ref().unwrap();
    assert_eq!(
        (w.id.as_str(), w.version.as_deref()),
        ("901", Some("2024-01-01T00:00:00.001Z"))
    );
    assert_eq!(results[1].1.as_ref().unwrap().id, "902");
}

fn creates(names: &[&str]) -> (Vec<Prepared>, Batch) {
    let ops: Vec<Prepared> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut p = op(i, Kind::Create, None);
            p.properties.insert("firstname".into(), json!(n));
            p
        })
        .collect();
    let batch = Batch {
        kind: Kind::Create,
        ops: (0..names.len()).collect(),
    };
    (ops, batch)
}

fn created(id: &str, name: &str) -> Value {
    json!({"id": id, "updatedAt": "2024-01-01T00:00:00.000Z", "properties": {"firstname": name, "hs_object_id": id}})
}

fn outcomes(batch: &Batch, ops: &[Prepared], status: u16, answer: Value) -> Vec<OpResult> {
    let Outcome::Done(results) = interpret(
        batch,
        ops,
        &resp(status, answer),
        "POST x",
        &Matcher::default(),
    ) else {
        panic!("not done")
    };
    results.into_iter().map(|(_, r)| r).collect()
}

#[test]
fn created_records_without_the_echo_are_matched_by_what_was_written() {
    let (ops, batch) = creates(&["Ann", "Bob", "Cy"]);
    let answer = json!({"status": "COMPLETE", "results": [
        created("903", "Cy"), created("901", "Ann"), created("902", "Bob")]});
    let ids: Vec<String> = outcomes(&batch, &ops, 201, answer)
        .into_iter()
        .map(|r| r.unwrap().id)
        .collect();
    assert_eq!(ids, ["901", "902", "903"]);
}

#[test]
fn a_207_names_refused_creates_by_trace_id_and_confirms_the_rest() {
    // The example answer of "API error handling", "Multi-status errors":
    // created records without the echo, the refusal naming its trace id.
    let (ops, batch) = creates(&["Ann", "Bob", "Cy"]);
    let answer = json!({"status": "COMPLETE", "numErrors": 1,
        "results": [created("903", "Cy"), created("901", "Ann")],
        "errors": [{"status": "error", "category": "CONFLICT",
            "message": "Contact already exists. Existing ID: 77",
            "context": {"objectWriteTraceId": ["1"]}}]});
    let got = outcomes(&batch, &ops, 207, answer);
    assert_eq!(got[0].as_ref().unwrap().id, "901");
    assert!(matches!(&got[1], Err(ConnectorError::Conflict(c)) if c.id == "77"));
    assert_eq!(got[2].as_ref().unwrap().id, "903");
}

#[test]
fn creates_that_cannot_be_told_apart_are_unknown_outcomes() {
    let (ops, batch) = creates(&["Ann", "Ann", "Bob"]);
    let answer = json!({"status": "COMPLETE", "results": [
        created("902", "Ann"), created("901", "Ann"), created("903", "Bob")]});
    let got = outcomes(&batch, &ops, 201, answer);
    for r in &got[..2] {
        assert!(
            matches!(r, Err(ConnectorError::Transient(m)) if m.contains("outcome is unknown")),
            "{r:?}"
        );
    }
    assert_eq!(got[2].as_ref().unwrap().id, "903");
    // An error that names no input refuses none: what it is about is unknown.
    let (ops, batch) = creates(&["Ann", "Bob"]);
    let answer = json!({"status": "COMPLETE", "results": [created("901", "Ann")],
        "errors": [{"status": "error", "category": "VALIDATION_ERROR", "message": "bad"}]});
    let got = outcomes(&batch, &ops, 207, answer);
    assert_eq!(got[0].as_ref().unwrap().id, "901");
    assert!(matches!(&got[1], Err(ConnectorError::Transient(m)) if m.contains("VALIDATION_ERROR")));
}

#[test]
fn a_207_fails_only_the_ops_it_names() {
    let ops = vec![
        op(0, Kind::Update, Some("1")),
        op(1, Kind::Update, Some("999")),
    ];
    let batch = Batch {
        kind: Kind::Update,
        ops: vec![0, 1],
    };
    let answer = json!({"status": "COMPLETE", "numErrors": 1,
        "results": [{"id": "1", "updatedAt": "2024-01-01T00:00:00.000Z", "properties": {}}],
        "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some CONTACT objects", "context": {"ids": ["999"]}}]});
    let Outcome::Done(results) = interpret(
        &batch,
        &ops,
        &resp(207, answer),
        "POST x",
        &Matcher::default(),
    ) else {
        panic!()
    };
    assert!(results[0].1.is_ok());
    assert!(
        matches!(&results[1].1, Err(ConnectorError::NotFound(m)) if m.contains("OBJECT_NOT_FOUND"))
    );
    // Archive answers 204 and confirms every id.
    let deletes = vec![
        op(0, Kind::Delete, Some("1")),
        op(1, Kind::Delete, Some("2")),
    ];
    let batch = Batch {
        kind: Kind::Delete,
        ops: vec![0, 1],
    };
    let Outcome::Done(results) = interpret(
        &batch,
        &deletes,
        &resp(204, Value::Null),
        "POST x",
        &Matcher::default(),
    ) else {
        panic!()
    };
    assert_eq!(results[1].1.as_ref().unwrap().id, "2");
}

#[test]
fn a_batch_refused_for_one_input_is_sent_again_op_by_op() {
    let ops = vec![
        op(0, Kind::Create, None),
        op(1, Kind::Create, None),
        op(2, Kind::Create, None),
    ];
    let mut sent = Vec::new();
    let results = run(&ops, plan(&ops), |action, body| {
        assert_eq!(action, "create");
        let inputs = body["inputs"].as_array().unwrap().clone();
        sent.push(inputs.len());
        if inputs.iter().any(|i| i["objectWriteTraceId"] == "1") {
            return Ok(resp(409, json!({"status": "error", "message": "Contact already exists. Existing ID: 77", "category": "CONFLICT"})));
        }
        let results: Vec<Value> = inputs
            .iter()
            .map(|i| json!({"id": format!("10{}", i["objectWriteTraceId"].as_str().unwrap()), "objectWriteTraceId": i["objectWriteTraceId"], "updatedAt": "t"}))
            .collect();
        Ok(resp(201, json!({"status": "COMPLETE", "results": results})))
    }, "POST /crm/v3/objects/contacts", &Matcher::default())
    .unwrap();
    assert_eq!(sent, [3, 1, 1, 1]);
    let by_index: HashMap<usize, &OpResult> = results.iter().map(|(i, r)| (*i, r)).collect();
    assert_eq!(by_index[&0].as_ref().unwrap().id, "100");
    assert!(matches!(by_index[&1], Err(ConnectorError::Conflict(c)) if c.id == "77"));
    assert_eq!(by_index[&2].as_ref().unwrap().id, "102");
}

#[test]
fn rate_limits_before_a_write_fail_the_call_and_after_one_stop_the_run() {
    let ops: Vec<Prepared> = (0..3)
        .map(|i| op(i, Kind::Delete, Some(&format!("{}", i + 1))))
        .collect();
    // Three batches: the ids repeat, so each op goes alone.
    let batches: Vec<Batch> = (0..3)
        .map(|i| Batch {
            kind: Kind::Delete,
            ops: vec![i],
        })
        .collect();
    let outcome = run(
        &ops,
        batches.clone(),
        |_, _| Ok(rate_limited()),
        "POST x",
        &Matcher::default(),
    );
    assert!(matches!(outcome, Err(ConnectorError::RateLimited(i)) if i.retry_after_ms == 10_000));
    let mut calls = 0;
    let results = run(
        &ops,
        batches,
        |_, _| {
            calls += 1;
            Ok(if calls == 1 {
                resp(204, Value::Null)
            } else {
                rate_limited()
            })
        },
        "POST x",
        &Matcher::default(),
    )
    .unwrap();
    assert_eq!(calls, 2);
    assert!(results[0].1.is_ok());
    assert!(
        matches!(&results[1].1, Err(ConnectorError::RateLimited(i)) if i.message.contains("ten_secondly"))
    );
    assert!(
        matches!(&results[2].1, Err(ConnectorError::RateLimited(i)) if i.message.starts_with("not attempted"))
    );
    let unauthorized = resp(
        401,
        json!({"status": "error", "message": "Authentication credentials not found.", "category": "INVALID_AUTHENTICATION"}),
    );
    let batches = vec![Batch {
        kind: Kind::Delete,
        ops: vec![0],
    }];
    assert!(matches!(
        run(
            &ops,
            batches,
            |_, _| Ok(unauthorized.clone()),
            "x",
            &Matcher::default()
        ),
        Err(ConnectorError::Unauthorized(_))
    ));
}

#[test]
fn version_checks() {
    let update = op(0, Kind::Update, Some("1"));
    let delete = op(1, Kind::Delete, Some("1"));
    let now = "2024-01-01T00:00:01.000Z".to_string();
    assert_eq!(check_version(&update, &now, Some(&now)).unwrap(), None);
    match check_version(&update, "2024-01-01T00:00:00.000Z", Some(&now)) {
        Err(ConnectorError::Conflict(c)) => {
            assert_eq!(c.current_version.as_deref(), Some(now.as_str()))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        check_version(&update, &now, None),
        Err(ConnectorError::NotFound(_))
    ));
    // A delete of what is gone already has done its job.
    assert_eq!(check_version(&delete, &now, None).unwrap().unwrap().id, "1");
    let body = json!({"results": [{"id": "1", "updatedAt": now}], "errors": []});
    assert_eq!(versions(&body)["1"], now);
    assert_eq!(
        versions_body(&["1".into()], "hs_lastmodifieddate"),
        json!({"properties": ["hs_lastmodifieddate"], "inputs": [{"id": "1"}]})
    );
}
