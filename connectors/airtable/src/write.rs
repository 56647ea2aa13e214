//! Applying a list of write ops: validation first, then one request per
//! batch, in order, through a transport the caller gives (the host's HTTP in
//! the component, a script in tests).
//!
//! Rules:
//! - an op that fails validation gets its own `invalid-input` and never
//!   reaches Airtable, so it cannot fail the other ops of its batch;
//! - a batch Airtable refuses for what may be one op's doing (a record that
//!   is gone, a value a field refuses: `api::may_be_one_ops_fault`) is sent
//!   again op by op, so that each op gets its own outcome. Airtable's answer
//!   names no op, and handing it to all would make one record already gone
//!   pass for nine deletes that did not happen, or one bad value block nine
//!   good writes on every run;
//! - Airtable does not say whether a refused batch wrote its other records.
//!   Sending an update or a delete again is harmless either way (an update
//!   sets values; a delete of what is gone is `not-found`, which is done).
//!   Sending a create again is not: the creates of a refused batch are sent
//!   again only when the table shows no record created since shortly before
//!   the refusal other than those this run wrote or was asked to change
//!   (`ours`, kept by the caller across the run's calls). Otherwise their
//!   outcome is unknown (`transient`) and the host reconciles by reading;
//! - any other error of a batch (a 5xx, a timeout, an answer that proves
//!   nothing) goes to every op in it: the outcome is unknown, and the batch
//!   is never sent again blindly;
//! - a 429 before anything was written fails the whole call as rate-limited
//!   (the host retries it all); after a write, the ops not yet done are
//!   rate-limited and the call stops;
//! - an update or delete with `expected-version` first reads the record
//!   (Airtable has no conditional writes) and is a `conflict` when its
//!   modification time differs. That costs one request per such op, and is
//!   not atomic: a change between the read and the write goes unnoticed.

use serde_json::Value;
use synchost_sdk::{errors, ConflictInfo, ConnectorError, OpResult, RateLimitedInfo, WriteOp};

use crate::api::{self, Answer, Call};
use crate::batch::{self, Kind, Prepared};
use crate::convert::modified_time;
use crate::query;
use crate::recent::Recent;
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

/// Sends one request; Airtable's answer and its time.
pub type Transport<'t> = dyn FnMut(Call) -> Answer + 't;

/// A record created this long before Airtable's refusal of a create batch
/// cannot be that batch's doing: a request takes far less (Airtable answers
/// 503 when it "could not process your request in time"), and `Date` is to
/// the second.
const LANDING_WINDOW_SECS: i64 = 60;

/// Pages of recently created records read, at most, to tell whether a
/// refused create batch wrote anything.
const MAX_LANDING_PAGES: usize = 20;

/// Applies `ops` in order; one outcome per op. `ours` holds the records this
/// run wrote or was asked to change, the latest of them (none is a refused
/// create's doing); the records of `ops` are added to it.
pub fn execute(
    target: &Target,
    ops: &[WriteOp],
    ours: &mut Recent,
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
    ours.extend(
        prepared
            .iter()
            .filter_map(|p| Some(p.as_ref().ok()?.id()?.to_string())),
    );

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
        let answer = send(batch::batch_call(target.base, target.table_ref, &ops));
        let refusal = match answer.body {
            Ok(body) => {
                wrote = true;
                let outcomes =
                    batch::parse_written(&body, &ops, target.table, target.modified_field);
                for (&i, outcome) in live.iter().zip(outcomes) {
                    ours.extend(outcome.as_ref().ok().map(|w| w.id.clone()));
                    results[i] = Some(outcome);
                }
                continue;
            }
            Err(ConnectorError::RateLimited(info)) => return stop(results, info, wrote),
            Err(err) => err,
        };
        if live.len() == 1 || !api::may_be_one_ops_fault(&refusal) {
            for &i in &live {
                results[i] = Some(Err(refusal.clone()));
            }
            continue;
        }
        if planned.kind == Kind::Create {
            let unknown = match created_since(target, answer.date.as_deref(), ours, send) {
                Ok(None) => None,
                Ok(Some(id)) => Some(format!(
                    "record {id} was created in the table since, and this run did not write it"
                )),
                Err(ConnectorError::RateLimited(info)) => return stop(results, info, wrote),
                Err(err) => Some(format!("what it wrote could not be read back: {err}")),
            };
            if let Some(why) = unknown {
                let message = format!(
                    "Airtable refused a batch of {} creates ({refusal}) and does not say whether \
                     it wrote the others; {why}: the outcome is unknown",
                    live.len()
                );
                for &i in &live {
                    results[i] = Some(Err(ConnectorError::Transient(message.clone())));
                }
                continue;
            }
        }
        for &i in &live {
            let alone = [op(i)];
            match send(batch::batch_call(target.base, target.table_ref, &alone)).body {
                Ok(body) => {
                    wrote = true;
                    let outcome =
                        batch::parse_written(&body, &alone, target.table, target.modified_field);
                    let outcome = outcome.into_iter().next();
                    ours.extend(outcome.iter().flatten().map(|w| w.id.clone()));
                    results[i] = outcome;
                }
                Err(ConnectorError::RateLimited(info)) => return stop(results, info, wrote),
                Err(err) => results[i] = Some(Err(err)),
            }
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ConnectorError::Transient("op was not sent".into()))))
        .collect())
}

/// A record of the table created since shortly before `refused_at` that is
/// not in `known`: one a refused create batch may have written. `Ok(None)`
/// when there is none, so the batch wrote nothing.
fn created_since(
    target: &Target,
    refused_at: Option<&str>,
    known: &Recent,
    send: &mut Transport,
) -> Result<Option<String>, ConnectorError> {
    let since = refused_at
        .and_then(|at| time::shifted(at, -LANDING_WINDOW_SECS))
        .ok_or_else(|| ConnectorError::Transient("the refusal carried no `Date`".into()))?;
    let mut offset: Option<String> = None;
    for _ in 0..MAX_LANDING_PAGES {
        let url =
            query::created_since_url(target.base, target.table_ref, &since, offset.as_deref());
        let body = send(Call::get(url)).body?;
        let records = body
            .get("records")
            .and_then(Value::as_array)
            .ok_or_else(|| errors::bad_body("the Airtable list records call", "no `records`"))?;
        let unknown = records
            .iter()
            .filter_map(|r| r.get("id").and_then(Value::as_str))
            .find(|id| !known.contains(id));
        if let Some(id) = unknown {
            return Ok(Some(id.to_string()));
        }
        match body.get("offset").and_then(Value::as_str) {
            Some(next) if !next.is_empty() => offset = Some(next.to_string()),
            _ => return Ok(None),
        }
    }
    Err(ConnectorError::Transient(format!(
        "more than {MAX_LANDING_PAGES} pages of records were created since {since}"
    )))
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
    )))
    .body?;
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
