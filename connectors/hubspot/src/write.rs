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
//! particular order. Each input carries its op's position as
//! `objectWriteTraceId`: a create batch whose inputs all carry one is answered
//! multi-status, naming each refused input in `context.objectWriteTraceId`
//! ("API error handling", "Multi-status errors"), and a result may echo its
//! input's id, but need not (see `matching`). Invalid values, or a contact
//! whose email exists (409), fail a whole update request.

use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use synchost_sdk::http::Response;
use synchost_sdk::{ConflictInfo, ConnectorError, OpResult, RateLimitedInfo, Written};

use crate::api;
use crate::matching::Matcher;

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

/// The outcome of an op that HubSpot's answer says nothing about: it may
/// have been written, so it is `transient`, which the host keeps pending and
/// settles by reading rather than writing it again.
fn unknown(context: &str, reported: &[ConnectorError]) -> ConnectorError {
    let mut message = format!(
        "{context}: the outcome is unknown: the answer names no record and no error for \
         this op, or cannot tell its record from another op's"
    );
    if !reported.is_empty() {
        let said: Vec<String> = reported.iter().map(ToString::to_string).collect();
        message.push_str(&format!("; it reported: {}", said.join("; ")));
    }
    ConnectorError::Transient(message)
}

fn strings(v: &Value) -> impl Iterator<Item = String> + '_ {
    v.as_array().into_iter().flatten().filter_map(|x| {
        x.as_str()
            .map(String::from)
            .or_else(|| x.as_u64().map(|n| n.to_string()))
    })
}

/// Reads the answer to one batch request. Results are matched to ops by the
/// echoed `objectWriteTraceId`, then by record id (updates), then created
/// records by what was written (`matching`); errors by the trace ids or
/// record ids their `context` names.
pub fn interpret(
    batch: &Batch,
    prepared: &[Prepared],
    resp: &Response,
    context: &str,
    matcher: &Matcher,
) -> Outcome {
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
    let records: Vec<&Value> = body["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| written(o).is_some())
        .collect();
    let mut failed: HashMap<String, ConnectorError> = HashMap::new();
    let mut unattributed = Vec::new();
    for entry in body["errors"].as_array().into_iter().flatten() {
        let err = entry_error(entry, context);
        let traces = strings(&entry["context"]["objectWriteTraceId"]).map(|t| format!("trace:{t}"));
        let ids = strings(&entry["context"]["ids"]).map(|id| format!("id:{id}"));
        let named: Vec<String> = traces.chain(ids).collect();
        if named.is_empty() {
            unattributed.push(err.clone());
        }
        for key in named {
            failed.insert(key, err.clone());
        }
    }
    let ops: Vec<&Prepared> = batch.ops.iter().map(|&i| &prepared[i]).collect();
    let mut outcome: Vec<Option<OpResult>> = vec![None; ops.len()];
    let mut claimed = vec![false; records.len()];
    for (k, op) in ops.iter().enumerate() {
        let trace = op.index.to_string();
        let found = records.iter().enumerate().position(|(r, o)| {
            !claimed[r]
                && (o["objectWriteTraceId"].as_str() == Some(trace.as_str())
                    || (op.id.is_some() && o["id"].as_str() == op.id.as_deref()))
        });
        if let Some(r) = found {
            claimed[r] = true;
            outcome[k] = written(records[r]).map(Ok);
        } else if let Some(err) = failed.get(&format!("trace:{trace}")).or_else(|| {
            op.id
                .as_ref()
                .and_then(|id| failed.get(&format!("id:{id}")))
        }) {
            outcome[k] = Some(Err(err.clone()));
        }
    }
    // Created records that did not say whose they are.
    let open: Vec<usize> = (0..ops.len())
        .filter(|&k| outcome[k].is_none() && ops[k].kind == Kind::Create)
        .collect();
    let free: Vec<usize> = (0..records.len()).filter(|&r| !claimed[r]).collect();
    if !open.is_empty() && !free.is_empty() {
        let sent: Vec<&Map<String, Value>> = open.iter().map(|&k| &ops[k].properties).collect();
        let candidates: Vec<&Value> = free.iter().map(|&r| records[r]).collect();
        for (k, pick) in open.iter().zip(matcher.pair(&sent, &candidates)) {
            if let Some(p) = pick {
                outcome[*k] = written(candidates[p]).map(Ok);
            }
        }
    }
    Outcome::Done(
        ops.iter()
            .zip(outcome)
            .map(|(op, o)| {
                (
                    op.index,
                    o.unwrap_or_else(|| Err(unknown(context, &unattributed))),
                )
            })
            .collect(),
    )
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
    matcher: &Matcher,
) -> Result<Vec<(usize, OpResult)>, ConnectorError> {
    let mut out = Vec::new();
    let mut queue: VecDeque<Batch> = batches.into();
    let mut written_any = false;
    while let Some(batch) = queue.pop_front() {
        let action = batch.kind.action();
        let context = format!("{context}/batch/{action}");
        let outcome = match send(action, &body(&batch, prepared)) {
            Ok(resp) => interpret(&batch, prepared, &resp, &context, matcher),
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
#[path = "write_tests.rs"]
mod tests;
