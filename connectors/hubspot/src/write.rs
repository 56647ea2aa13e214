//! Writing records in batches: grouping ops into batch requests, their
//! bodies, what each answer means for each op, the version check HubSpot does
//! not offer, and how a batch run reacts to rate limits. Pure functions; the
//! requests are made through the `send` closure that `lib.rs` passes.
//!
//! Reference: "CRM API | Objects", batch endpoints
//! (`POST /crm/v3/objects/{type}/batch/create|update|archive|read`):
//! at most 100 inputs a request; create answers 201, update 200 with
//! `{"status":"COMPLETE","results":[...]}`, or 207 Multi-Status with
//! `"errors": [{"status":"error","category","message","context":{"ids":[..]}}]`
//! for the inputs that failed; archive answers 204. Results come in no
//! particular order: an input's `objectWriteTraceId` is echoed by its result.
//! Invalid values, or a contact whose email exists (409), fail the whole request.

use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use synchost_sdk::http::Response;
use synchost_sdk::{errors, ConflictInfo, ConnectorError, OpResult, RateLimitedInfo, Written};

use crate::api;

/// HubSpot's limit of inputs per batch request.
pub const MAX_BATCH: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Create,
    Update,
    Delete,
}

impl Kind {
    /// The batch endpoint's last path segment.
    pub fn action(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Update => "update",
            Kind::Delete => "archive",
        }
    }
}

/// One op, validated and translated, waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// the op's position in the `write` call
    pub index: usize,
    pub kind: Kind,
    /// the record id (updates and deletes)
    pub id: Option<String>,
    /// the `properties` object (creates and updates)
    pub properties: Map<String, Value>,
}

/// One batch request: positions in the prepared list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub kind: Kind,
    pub ops: Vec<usize>,
}

/// Whether `id` is a HubSpot record id (a number), so that it cannot change
/// the shape of a request it is put in.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Groups ops into batches, keeping their order: a batch holds consecutive
/// ops of one kind, at most 100, and never the same id twice (HubSpot
/// refuses "Duplicate IDs found in batch input").
pub fn plan(prepared: &[Prepared]) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    for (i, op) in prepared.iter().enumerate() {
        let fits = batches.last().is_some_and(|b| {
            b.kind == op.kind
                && b.ops.len() < MAX_BATCH
                && (op.id.is_none() || !b.ops.iter().any(|&j| prepared[j].id == op.id))
        });
        if fits {
            batches.last_mut().expect("fits").ops.push(i);
        } else {
            batches.push(Batch {
                kind: op.kind,
                ops: vec![i],
            });
        }
    }
    batches
}

/// The body of a batch request. Each input carries the op's position as its
/// `objectWriteTraceId`, so that results can be matched to ops.
pub fn body(batch: &Batch, prepared: &[Prepared]) -> Value {
    let inputs: Vec<Value> = batch
        .ops
        .iter()
        .map(|&i| {
            let op = &prepared[i];
            match op.kind {
                Kind::Create => json!({"properties": op.properties, "objectWriteTraceId": op.index.to_string()}),
                Kind::Update => json!({"id": op.id, "properties": op.properties, "objectWriteTraceId": op.index.to_string()}),
                Kind::Delete => json!({"id": op.id}),
            }
        })
        .collect();
    json!({ "inputs": inputs })
}

/// What a batch request came to.
#[derive(Debug)]
pub enum Outcome {
    /// one result per op, by position in the `write` call
    Done(Vec<(usize, OpResult)>),
    /// the request failed as a whole because of some input: send each op alone
    Split,
    /// the request failed as a whole, for every op alike
    Failed(ConnectorError),
}

/// What HubSpot confirmed for a record: its id and `updatedAt`, which is
/// both the version and the modification time.
pub fn written(obj: &Value) -> Option<Written> {
    let id = obj["id"].as_str()?;
    let updated = obj["updatedAt"].as_str().map(String::from);
    Some(Written {
        id: id.to_string(),
        version: updated.clone(),
        updated_at: updated,
    })
}

/// The typed error of one entry of a 207's `errors`.
fn entry_error(entry: &Value, context: &str) -> ConnectorError {
    let category = entry["category"].as_str().unwrap_or("ERROR");
    let message = format!(
        "{context}: {category}: {}",
        entry["message"].as_str().unwrap_or_default()
    );
    match category {
        "OBJECT_NOT_FOUND" => ConnectorError::NotFound(message),
        "VALIDATION_ERROR" | "INVALID_PARAMS" => ConnectorError::InvalidInput(message),
        "CONFLICT" => ConnectorError::Conflict(ConflictInfo {
            id: api::existing_id(&message).unwrap_or_default(),
            current_version: None,
            message,
        }),
        "RATE_LIMITS" => ConnectorError::RateLimited(RateLimitedInfo {
            retry_after_ms: 1000,
            message,
        }),
        _ => ConnectorError::Fatal(message),
    }
}

/// Reads the answer to one batch request.
pub fn interpret(batch: &Batch, prepared: &[Prepared], resp: &Response, context: &str) -> Outcome {
    if let Some(err) = api::hubspot_error(context, resp) {
        let per_input = matches!(
            err,
            ConnectorError::InvalidInput(_)
                | ConnectorError::Conflict(_)
                | ConnectorError::NotFound(_)
        );
        return if per_input && batch.ops.len() > 1 {
            Outcome::Split
        } else {
            Outcome::Failed(err)
        };
    }
    if batch.kind == Kind::Delete {
        return Outcome::Done(
            batch
                .ops
                .iter()
                .map(|&i| {
                    let op = &prepared[i];
                    let id = op.id.clone().unwrap_or_default();
                    (
                        op.index,
                        Ok(Written {
                            id,
                            version: None,
                            updated_at: None,
                        }),
                    )
                })
                .collect(),
        );
    }
    let body: Value = match resp.json(context) {
        Ok(v) => v,
        Err(e) => return Outcome::Failed(e),
    };
    let mut by_trace: HashMap<String, Written> = HashMap::new();
    let mut by_id: HashMap<String, Written> = HashMap::new();
    for obj in body["results"].as_array().into_iter().flatten() {
        if let Some(w) = written(obj) {
            if let Some(trace) = obj["objectWriteTraceId"].as_str() {
                by_trace.insert(trace.to_string(), w.clone());
            }
            by_id.insert(w.id.clone(), w);
        }
    }
    let mut failed: HashMap<String, ConnectorError> = HashMap::new();
    let mut first_error = None;
    for entry in body["errors"].as_array().into_iter().flatten() {
        let err = entry_error(entry, context);
        for id in entry["context"]["ids"].as_array().into_iter().flatten() {
            if let Some(id) = id.as_str() {
                failed.insert(id.to_string(), err.clone());
            }
        }
        first_error.get_or_insert(err);
    }
    let results = batch
        .ops
        .iter()
        .map(|&i| {
            let op = &prepared[i];
            let trace = op.index.to_string();
            let found = by_trace
                .remove(&trace)
                .or_else(|| op.id.as_ref().and_then(|id| by_id.remove(id)));
            let outcome = match (found, op.id.as_ref().and_then(|id| failed.get(id))) {
                (Some(w), _) => Ok(w),
                (None, Some(err)) => Err(err.clone()),
                // No result for the op proves nothing about it: unknown.
                (None, None) => Err(first_error
                    .clone()
                    .unwrap_or_else(|| errors::bad_body(context, "no result for this op"))),
            };
            (op.index, outcome)
        })
        .collect();
    Outcome::Done(results)
}

/// The body of `batch/read` that fetches the current versions of `ids`.
pub fn versions_body(ids: &[String], modified: &str) -> Value {
    let inputs: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
    json!({ "properties": [modified], "inputs": inputs })
}

/// `updatedAt` by id, from a `batch/read` answer (200 or 207).
pub fn versions(body: &Value) -> HashMap<String, String> {
    body["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some((
                o["id"].as_str()?.to_string(),
                o["updatedAt"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The optimistic-concurrency check HubSpot does not offer. `current` is the
/// record's `updatedAt`, `None` when it is not active (archived or gone).
/// `Ok(None)`: write it. `Ok(Some(w))`: nothing to write (a delete of what is
/// already gone). `Err`: conflict, or not-found for an update.
pub fn check_version(
    op: &Prepared,
    expected: &str,
    current: Option<&String>,
) -> Result<Option<Written>, ConnectorError> {
    let id = op.id.clone().unwrap_or_default();
    match current {
        None if op.kind == Kind::Delete => Ok(Some(Written {
            id,
            version: None,
            updated_at: None,
        })),
        None => Err(ConnectorError::NotFound(format!(
            "record {id} does not exist or is archived"
        ))),
        Some(now) if now == expected => Ok(None),
        Some(now) => Err(ConnectorError::Conflict(ConflictInfo {
            id: id.clone(),
            current_version: Some(now.clone()),
            message: format!("record {id} was modified at {now} since version {expected}"),
        })),
    }
}

/// Sends `batches` in order through `send` (the batch action and the body;
/// any HTTP status comes back as a response) and collects each op's outcome.
///
/// A batch that fails because of one of its inputs is sent again one op at a
/// time, so that each op gets its own outcome. A rate limit before anything
/// was written fails the whole call (`rate-limited`), so the host retries the
/// call as it is; once something was written, the limited batch and every
/// later op are reported rate-limited without being tried, so the host
/// retries exactly those. An authorization failure before any write fails
/// the call too.
pub fn run(
    prepared: &[Prepared],
    batches: Vec<Batch>,
    mut send: impl FnMut(&str, &Value) -> Result<Response, ConnectorError>,
    context: &str,
) -> Result<Vec<(usize, OpResult)>, ConnectorError> {
    let mut out = Vec::new();
    let mut queue: VecDeque<Batch> = batches.into();
    let mut written_any = false;
    while let Some(batch) = queue.pop_front() {
        let action = batch.kind.action();
        let context = format!("{context}/batch/{action}");
        let outcome = match send(action, &body(&batch, prepared)) {
            Ok(resp) => interpret(&batch, prepared, &resp, &context),
            Err(e) => Outcome::Failed(e),
        };
        match outcome {
            Outcome::Done(results) => {
                written_any |= results.iter().any(|(_, r)| r.is_ok());
                out.extend(results);
            }
            Outcome::Split => {
                for &i in batch.ops.iter().rev() {
                    queue.push_front(Batch {
                        kind: batch.kind,
                        ops: vec![i],
                    });
                }
            }
            Outcome::Failed(ConnectorError::RateLimited(info)) => {
                if !written_any {
                    return Err(ConnectorError::RateLimited(info));
                }
                let wait = info.retry_after_ms;
                let mut first = Some(info);
                let rest = std::iter::once(batch).chain(queue.drain(..));
                for i in rest.flat_map(|b| b.ops) {
                    let info = first.take().unwrap_or_else(|| RateLimitedInfo {
                        retry_after_ms: wait,
                        message: "not attempted: an earlier batch of this call was rate limited"
                            .into(),
                    });
                    out.push((prepared[i].index, Err(ConnectorError::RateLimited(info))));
                }
                break;
            }
            Outcome::Failed(err @ ConnectorError::Unauthorized(_)) if !written_any => {
                return Err(err)
            }
            Outcome::Failed(err) => {
                out.extend(
                    batch
                        .ops
                        .iter()
                        .map(|&i| (prepared[i].index, Err(err.clone()))),
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let Outcome::Done(results) = interpret(&batch, &ops, &resp(201, answer), "POST x") else {
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
        let Outcome::Done(results) = interpret(&batch, &ops, &resp(207, answer), "POST x") else {
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
        let Outcome::Done(results) = interpret(&batch, &deletes, &resp(204, Value::Null), "POST x")
        else {
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
        }, "POST /crm/v3/objects/contacts")
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
        let outcome = run(&ops, batches.clone(), |_, _| Ok(rate_limited()), "POST x");
        assert!(
            matches!(outcome, Err(ConnectorError::RateLimited(i)) if i.retry_after_ms == 10_000)
        );
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
            run(&ops, batches, |_, _| Ok(unauthorized.clone()), "x"),
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
}
