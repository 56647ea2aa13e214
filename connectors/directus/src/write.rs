//! Applying write ops (https://docs.directus.io/reference/items.html):
//! creates in batches (`POST /items/{c}` with an array), updates one by one
//! (`PATCH /items/{c}/{id}`), deletes one by one (`DELETE /items/{c}/{id}`).
//!
//! A batch create's answer lists the items as Directus reads them back
//! (`readMany`, sorted by the collection's sort field, else its key), not in
//! the order sent: each item is paired with its op by identity, never by
//! position. A UUID key is generated here and sent, so the item is found by
//! it; a key the op carries likewise; auto-increment keys ascend in the
//! order sent, so the answer sorted by key is in that order. What cannot be
//! paired for sure is unknown, never another op's item.
//!
//! Directus has no conditional requests (no `If-Match`, no version
//! precondition), so an op with `expected-version` first reads the item's
//! `date_updated` (or `date_created`) and is a `conflict` when it differs.
//! The check and the write are two requests: a change in between is not seen.

use std::collections::HashMap;

use serde_json::{Map, Value};
use synchost_sdk::{
    errors, ConflictInfo, ConnectorError, Field, OpResult, RateLimitedInfo, WriteOp, Written,
};

use crate::convert;
use crate::query;
use crate::schema::{Collection, KeyKind};

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

/// An outcome that cannot be proven from the answer: reported as unknown
/// (`transient`), which the host reconciles by reading, never by re-sending,
/// and never confirmed with an id that may be another op's item.
fn unknown(c: &Collection, n: usize, why: impl std::fmt::Display) -> ConnectorError {
    errors::bad_body(&format!("a create of {n} items in `{}`", c.name), why)
}

/// A key as text to compare by: a UUID regardless of case (MSSQL answers
/// them in upper case), a whole number without a fraction; `None` for none.
fn key_text(c: &Collection, v: &Value) -> Option<String> {
    let text = convert::id_text(v)?;
    Some(match c.pk_kind {
        KeyKind::Uuid => text.to_ascii_lowercase(),
        _ if c.pk_numeric => match text.trim().parse::<f64>() {
            Ok(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => format!("{}", n as i64),
            _ => text,
        },
        _ => text,
    })
}

/// The key a body to create carries, if any.
fn body_key(c: &Collection, body: &Map<String, Value>) -> Option<String> {
    body.get(&c.pk).and_then(|v| key_text(c, v))
}

/// A key of an auto-increment collection, whether the driver hands it back
/// as a number or (a `bigInteger`) as a string.
fn int_key(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A random (version 4) UUID, from WASI's random source; `None` if it fails.
fn new_uuid() -> Option<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).ok()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// A body to create with its key, where the connector can choose it: a
/// UUID key the op does not set is generated here and sent (Directus keeps
/// a UUID it is given, and generates one only when none is), so that the
/// item in the answer is found by its key.
fn with_key(c: &Collection, mut body: Map<String, Value>) -> Map<String, Value> {
    let blank = body
        .get(&c.pk)
        .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
    if c.pk_kind == KeyKind::Uuid && blank {
        if let Some(uuid) = new_uuid() {
            body.insert(c.pk.clone(), Value::String(uuid));
        }
    }
    body
}

/// Pairs the answer with the bodies sent, each by its own key: an op whose
/// key is not in the answer exactly once (or was sent twice) is unknown.
fn pair_by_key(c: &Collection, bodies: &[Map<String, Value>], items: &[Value]) -> Vec<OpResult> {
    let n = bodies.len();
    let mut answered: HashMap<String, Vec<&Value>> = HashMap::new();
    for item in items {
        if let Some(k) = key_text(c, &item[c.pk.as_str()]) {
            answered.entry(k).or_default().push(item);
        }
    }
    let keys: Vec<Option<String>> = bodies.iter().map(|b| body_key(c, b)).collect();
    let mut sent: HashMap<&str, usize> = HashMap::new();
    for k in keys.iter().flatten() {
        *sent.entry(k.as_str()).or_default() += 1;
    }
    keys.iter()
        .map(|k| {
            let Some(k) = k else {
                return Err(unknown(c, n, "an item was sent without its key"));
            };
            match answered.get(k).map(Vec::as_slice) {
                Some([item]) if sent[k.as_str()] == 1 => written(c, item),
                Some(_) => Err(unknown(
                    c,
                    n,
                    format!("key {k} was sent or answered more than once"),
                )),
                None => Err(unknown(
                    c,
                    n,
                    format!("the answer does not list the item with key {k}"),
                )),
            }
        })
        .collect()
}

/// Pairs the answer of an auto-increment collection with the bodies sent.
/// Directus inserts a batch's items one after the other in one transaction
/// (`ItemsService.createMany`), so their keys ascend in the order sent,
/// whatever order the answer lists them in: sorted by key, the answer is in
/// the order sent. Anything that does not add up makes every op unknown.
fn pair_by_order_of_keys(c: &Collection, n: usize, items: &[Value]) -> Vec<OpResult> {
    let all_unknown = |why: String| (0..n).map(|_| Err(unknown(c, n, &why))).collect();
    if items.len() != n {
        return all_unknown(format!("{} items answered for {n} sent", items.len()));
    }
    let keyed: Option<Vec<(i128, &Value)>> = items
        .iter()
        .map(|item| int_key(&item[c.pk.as_str()]).map(|k| (k, item)))
        .collect();
    let Some(mut keyed) = keyed else {
        return all_unknown("an item without a whole-number key".into());
    };
    keyed.sort_by_key(|(k, _)| *k);
    if keyed.windows(2).any(|w| w[0].0 == w[1].0) {
        return all_unknown("the same key answered twice".into());
    }
    keyed
        .into_iter()
        .map(|(_, item)| written(c, item))
        .collect()
}

/// Creates one body in a request of its own (`POST /items/{c}` with an
/// object, answered with that item: it is the op's by construction).
fn create_one(t: &Target, body: Map<String, Value>, send: Send) -> OpResult {
    let c = t.collection;
    let key = body_key(c, &body);
    let answer = send(Call {
        method: "POST",
        url: query::collection_url(t.base, &c.name),
        body: Some(Value::Object(body)),
    })?;
    let item = &answer["data"];
    if let Some(key) = key {
        if key_text(c, &item[c.pk.as_str()]).as_ref() != Some(&key) {
            return Err(unknown(c, 1, format!("an item other than {key} answered")));
        }
    }
    written(c, item)
}

/// Creates each body in a request of its own. A rate limit stops it: the
/// rest are not tried.
fn create_singly(t: &Target, bodies: Vec<Map<String, Value>>, send: Send) -> Vec<OpResult> {
    let n = bodies.len();
    let mut out = Vec::with_capacity(n);
    for body in bodies {
        let outcome = create_one(t, body, send);
        if let Err(ConnectorError::RateLimited(info)) = &outcome {
            let retry_after_ms = info.retry_after_ms;
            out.push(outcome);
            out.resize_with(n, || Err(not_attempted(retry_after_ms)));
            break;
        }
        out.push(outcome);
    }
    out
}

/// Creates `bodies` in one request; one outcome per body, each paired with
/// its body by identity, never by position (see [`KeyKind`]): by the key
/// it was sent with, or, for an auto-increment key, by the order of keys.
/// Bodies that have neither are sent one by one.
fn create_batch(t: &Target, bodies: Vec<Map<String, Value>>, send: Send) -> Vec<OpResult> {
    let c = t.collection;
    let n = bodies.len();
    let keyed = bodies.iter().all(|b| body_key(c, b).is_some());
    if !keyed && c.pk_kind != KeyKind::AutoIncrement {
        return create_singly(t, bodies, send);
    }
    let batch = Value::Array(bodies.iter().cloned().map(Value::Object).collect());
    match send(Call {
        method: "POST",
        url: query::collection_url(t.base, &c.name),
        body: Some(batch),
    }) {
        Ok(answer) => match answer["data"].as_array() {
            Some(items) if keyed => pair_by_key(c, &bodies, items),
            Some(items) => pair_by_order_of_keys(c, n, items),
            None => (0..n)
                .map(|_| Err(unknown(c, n, "an answer without its items")))
                .collect(),
        },
        // Refused as invalid: nothing of the batch was written (Directus
        // validates a batch whole), so find which items are refused. Any
        // other failure may have written some: each op shares it, and an
        // unknown outcome (transient) is reconciled by the host, never re-sent.
        Err(ConnectorError::InvalidInput(_)) if n > 1 => create_singly(t, bodies, send),
        Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
    }
}

fn not_attempted(retry_after_ms: u64) -> ConnectorError {
    ConnectorError::RateLimited(RateLimitedInfo {
        retry_after_ms,
        message: "not attempted: an earlier op of this batch was rate limited".into(),
    })
}

/// Whether an op that failed so may have been written all the same.
fn may_have_landed(outcome: &OpResult) -> bool {
    matches!(
        outcome,
        Ok(_) | Err(ConnectorError::Transient(_) | ConnectorError::RateLimited(_))
    )
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
                    .map(|f| convert::to_body(t.collection, f).map(|b| with_key(t.collection, b)))
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
                // The host re-sends a rate-limited call whole: only when
                // nothing before may have been written (a create whose
                // outcome is unknown must never be sent again).
                if !results.iter().any(may_have_landed) {
                    return Err(ConnectorError::RateLimited(info.clone()));
                }
                let retry_after_ms = info.retry_after_ms;
                results.push(outcome);
                // The rest of this op's batch and every later op: not tried.
                while results.len() < total {
                    results.push(Err(not_attempted(retry_after_ms)));
                }
                return Ok(results);
            }
            results.push(outcome);
        }
    }
    Ok(results)
}
