//! Applying write ops (https://docs.directus.io/reference/items.html):
//! creates in batches (`POST /items/{c}` with an array), updates one by one
//! (`PATCH /items/{c}/{id}`), deletes one by one (`DELETE /items/{c}/{id}`).
//!
//! Directus has no conditional requests (no `If-Match`, no version
//! precondition), so an op with `expected-version` first reads the item's
//! `date_updated` (or `date_created`) and is a `conflict` when it differs.
//! The check and the write are two requests: a change in between is not seen.

use serde_json::{Map, Value};
use synchost_sdk::{
    errors, ConflictInfo, ConnectorError, Field, OpResult, RateLimitedInfo, WriteOp, Written,
};

use crate::convert;
use crate::query;
use crate::schema::Collection;

/// Items created per request. Directus creates a batch in one transaction:
/// one invalid item fails the whole batch, which is then retried item by
/// item so that each op gets its own outcome.
pub const CREATE_BATCH: usize = 100;

/// One request, as plain data, so the planning is testable without a host.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: &'static str,
    pub url: String,
    pub body: Option<Value>,
}

/// Sends a call; returns the answer's JSON (`null` for an empty body).
pub type Send<'a> = &'a mut dyn FnMut(Call) -> Result<Value, ConnectorError>;

pub struct Target<'a> {
    pub base: &'a str,
    pub collection: &'a Collection,
}

/// What Directus confirmed for a created or updated item.
fn written(c: &Collection, item: &Value) -> Result<Written, ConnectorError> {
    let record = convert::to_record(c, item).ok_or_else(|| {
        errors::bad_body(
            &format!("a write to `{}`", c.name),
            "an item without its key",
        )
    })?;
    Ok(Written {
        id: record.id,
        version: record.version,
        updated_at: record.updated_at,
    })
}

/// The item's current version, `Ok(None)` when the item does not exist.
fn lookup(t: &Target, id: &str, send: Send) -> Result<Option<Option<String>>, ConnectorError> {
    let body = send(Call {
        method: "GET",
        url: query::lookup_url(t.base, t.collection, id),
        body: None,
    })?;
    Ok(body["data"]
        .as_array()
        .and_then(|items| items.first())
        .map(|item| convert::to_record(t.collection, item).and_then(|r| r.version)))
}

fn not_found(t: &Target, id: &str) -> ConnectorError {
    ConnectorError::NotFound(format!(
        "item {id} does not exist in collection `{}`",
        t.collection.name
    ))
}

/// The version check Directus does not do itself.
fn check_version(t: &Target, id: &str, expected: &str, send: Send) -> Result<(), ConnectorError> {
    match lookup(t, id, send)? {
        None => Err(not_found(t, id)),
        Some(current) if current.as_deref() == Some(expected) => Ok(()),
        Some(current) => Err(ConnectorError::Conflict(ConflictInfo {
            id: id.to_string(),
            message: format!(
                "item {id} of `{}` was changed at {} since version {expected}",
                t.collection.name,
                current.as_deref().unwrap_or("an unknown time")
            ),
            current_version: current,
        })),
    }
}

/// Directus answers 403 for an item that does not exist as well as for one
/// the token may not change: a lookup tells which.
fn explain_forbidden(t: &Target, id: &str, err: ConnectorError, send: Send) -> ConnectorError {
    if !crate::api::is_forbidden(&err) {
        return err;
    }
    match lookup(t, id, send) {
        Ok(None) => not_found(t, id),
        _ => err,
    }
}

fn update(t: &Target, id: &str, expected: Option<&str>, fields: &[Field], send: Send) -> OpResult {
    let body = convert::to_body(t.collection, fields)?;
    if let Some(expected) = expected {
        check_version(t, id, expected, send)?;
    }
    let answer = send(Call {
        method: "PATCH",
        url: query::item_url(t.base, &t.collection.name, id),
        body: Some(Value::Object(body)),
    })
    .map_err(|e| explain_forbidden(t, id, e, send))?;
    // Directus answers an update of an item that does not exist with 204
    // and no body: nothing was changed.
    if answer["data"].is_null() {
        return Err(not_found(t, id));
    }
    written(t.collection, &answer["data"])
}

/// Directus answers a delete of an item that does not exist with 204 as
/// well: the item is gone either way, so that is a success.
fn delete(t: &Target, id: &str, expected: Option<&str>, send: Send) -> OpResult {
    if let Some(expected) = expected {
        check_version(t, id, expected, send)?;
    }
    send(Call {
        method: "DELETE",
        url: query::item_url(t.base, &t.collection.name, id),
        body: None,
    })
    .map_err(|e| explain_forbidden(t, id, e, send))?;
    Ok(Written {
        id: id.to_string(),
        version: None,
        updated_at: None,
    })
}

/// Creates `bodies` in one request; one outcome per body.
fn create_batch(t: &Target, bodies: Vec<Map<String, Value>>, send: Send) -> Vec<OpResult> {
    let url = query::collection_url(t.base, &t.collection.name);
    let n = bodies.len();
    let batch = Value::Array(bodies.iter().cloned().map(Value::Object).collect());
    match send(Call {
        method: "POST",
        url: url.clone(),
        body: Some(batch),
    }) {
        Ok(answer) => match answer["data"].as_array() {
            Some(items) if items.len() == n => items
                .iter()
                .map(|item| written(t.collection, item))
                .collect(),
            _ => {
                let err = errors::bad_body(
                    &format!("a create of {n} items in `{}`", t.collection.name),
                    format!("an answer without {n} items"),
                );
                (0..n).map(|_| Err(err.clone())).collect()
            }
        },
        // Refused as invalid: nothing of the batch was written (Directus
        // validates a batch whole), so find which items are refused. Any
        // other failure may have written some: each op shares it, and an
        // unknown outcome (transient) is reconciled by the host, never re-sent.
        Err(ConnectorError::InvalidInput(_)) if n > 1 => bodies
            .into_iter()
            .map(|body| {
                let answer = send(Call {
                    method: "POST",
                    url: url.clone(),
                    body: Some(Value::Object(body)),
                })?;
                written(t.collection, &answer["data"])
            })
            .collect(),
        Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
    }
}

/// Applies `ops` in order, one outcome each.
///
/// A rate limit before anything was written fails the whole call, so the
/// host retries the call as it is; after a write it becomes the outcome of
/// that op and of every later one, which are not tried.
pub fn execute(t: &Target, ops: Vec<WriteOp>, send: Send) -> Result<Vec<OpResult>, ConnectorError> {
    let total = ops.len();
    let mut results: Vec<OpResult> = Vec::with_capacity(total);
    let mut ops = ops.into_iter().peekable();
    while let Some(op) = ops.next() {
        let outcomes = match op {
            WriteOp::Create(fields) => {
                let mut run = vec![fields];
                while run.len() < CREATE_BATCH {
                    match ops.next_if(|o| matches!(o, WriteOp::Create(_))) {
                        Some(WriteOp::Create(f)) => run.push(f),
                        _ => break,
                    }
                }
                let prepared: Vec<_> = run
                    .iter()
                    .map(|f| convert::to_body(t.collection, f))
                    .collect();
                let bodies: Vec<_> = prepared
                    .iter()
                    .filter_map(|p| p.as_ref().ok().cloned())
                    .collect();
                let mut sent = if bodies.is_empty() {
                    Vec::new()
                } else {
                    create_batch(t, bodies, send)
                }
                .into_iter();
                prepared
                    .into_iter()
                    .map(|p| match p {
                        Ok(_) => sent.next().expect("one outcome per body"),
                        Err(e) => Err(e),
                    })
                    .collect()
            }
            WriteOp::Update(u) => vec![update(
                t,
                &u.id,
                u.expected_version.as_deref(),
                &u.fields,
                send,
            )],
            WriteOp::Delete(d) => vec![delete(t, &d.id, d.expected_version.as_deref(), send)],
        };
        for outcome in outcomes {
            if let Err(ConnectorError::RateLimited(info)) = &outcome {
                if !results.iter().any(|r| r.is_ok()) {
                    return Err(ConnectorError::RateLimited(info.clone()));
                }
                let retry_after_ms = info.retry_after_ms;
                results.push(outcome);
                // The rest of this op's batch and every later op: not tried.
                while results.len() < total {
                    results.push(Err(ConnectorError::RateLimited(RateLimitedInfo {
                        retry_after_ms,
                        message: "not attempted: an earlier op of this batch was rate limited"
                            .into(),
                    })));
                }
                return Ok(results);
            }
            results.push(outcome);
        }
    }
    Ok(results)
}
