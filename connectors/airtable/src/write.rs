//! Applying a list of write ops: validation first, then one request per
//! batch, in order, through a transport the caller gives (the host's HTTP in
//! the component, a script in tests).
//!
//! Rules:
//! - an op that fails validation gets its own `invalid-input` and never
//!   reaches Airtable, so it cannot fail the other ops of its batch;
//! - a batch Airtable refuses gives every op in it that error;
//! - a 429 before anything was written fails the whole call as rate-limited
//!   (the host retries it all); after a write, the ops not yet sent are
//!   rate-limited and the call stops;
//! - an update or delete with `expected-version` first reads the record
//!   (Airtable has no conditional writes) and is a `conflict` when its
//!   modification time differs. That costs one request per such op, and is
//!   not atomic: a change between the read and the write goes unnoticed.

use serde_json::Value;
use synchost_sdk::{ConflictInfo, ConnectorError, OpResult, RateLimitedInfo, WriteOp};

use crate::api::Call;
use crate::batch::{self, Prepared};
use crate::convert::modified_time;
use crate::query;
use crate::schema::TableMeta;
use crate::time;

/// Where the writes go and how versions are read.
pub struct Target<'a> {
    pub base: &'a str,
    /// the table name or id as configured, used in URLs
    pub table_ref: &'a str,
    pub table: &'a TableMeta,
    pub modified_field: &'a str,
}

/// Sends one request and returns its JSON body.
pub type Transport<'t> = dyn FnMut(Call) -> Result<Value, ConnectorError> + 't;

/// Applies `ops` in order; one outcome per op.
pub fn execute(
    target: &Target,
    ops: &[WriteOp],
    send: &mut Transport,
) -> Result<Vec<OpResult>, ConnectorError> {
    let prepared: Vec<Result<Prepared, ConnectorError>> = ops
        .iter()
        .map(|op| batch::prepare(op, target.table))
        .collect();
    let mut results: Vec<Option<OpResult>> = prepared
        .iter()
        .map(|p| p.as_ref().err().map(|e| Err(e.clone())))
        .collect();
    let keys: Vec<_> = prepared
        .iter()
        .map(|p| p.as_ref().ok().map(|p| (p.kind(), p.id())))
        .collect();
    let op = |i: usize| prepared[i].as_ref().expect("planned ops are valid");

    let mut wrote = false;
    for planned in batch::plan(&keys) {
        let mut live = Vec::with_capacity(planned.ops.len());
        for &i in &planned.ops {
            let (Some(id), Some(expected)) = (op(i).id(), op(i).expected()) else {
                live.push(i);
                continue;
            };
            match check_version(target, id, expected, send) {
                Ok(()) => live.push(i),
                Err(ConnectorError::RateLimited(info)) => return stop(results, info, wrote),
                Err(err) => results[i] = Some(Err(err)),
            }
        }
        if live.is_empty() {
            continue;
        }

        let ops: Vec<&Prepared> = live.iter().map(|&i| op(i)).collect();
        match send(batch::batch_call(target.base, target.table_ref, &ops)) {
            Ok(body) => {
                wrote = true;
                let outcomes =
                    batch::parse_written(&body, &ops, target.table, target.modified_field);
                for (&i, outcome) in live.iter().zip(outcomes) {
                    results[i] = Some(outcome);
                }
            }
            Err(ConnectorError::RateLimited(info)) => return stop(results, info, wrote),
            Err(err) => {
                for &i in &live {
                    results[i] = Some(Err(err.clone()));
                }
            }
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ConnectorError::Transient("op was not sent".into()))))
        .collect())
}

/// Reads record `id` and compares its modification time with `expected`.
fn check_version(
    target: &Target,
    id: &str,
    expected: &str,
    send: &mut Transport,
) -> Result<(), ConnectorError> {
    let record = send(Call::get(query::record_url(
        target.base,
        target.table_ref,
        id,
    )))?;
    let current = modified_time(&record, target.table, target.modified_field);
    match &current {
        Some(now) if time::same_instant(now, expected) => Ok(()),
        _ => Err(ConnectorError::Conflict(ConflictInfo {
            id: id.to_string(),
            message: format!(
                "record {id} was modified since version {expected} (now {})",
                current.as_deref().unwrap_or("unknown")
            ),
            current_version: current,
        })),
    }
}

/// A 429: the whole call fails when nothing was written; otherwise every op
/// without an outcome yet is rate-limited.
fn stop(
    results: Vec<Option<OpResult>>,
    info: RateLimitedInfo,
    wrote: bool,
) -> Result<Vec<OpResult>, ConnectorError> {
    if !wrote {
        return Err(ConnectorError::RateLimited(info));
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ConnectorError::RateLimited(info.clone()))))
        .collect())
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
