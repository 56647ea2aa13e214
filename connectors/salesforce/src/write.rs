//! Writing with sObject Collections: ops validated and turned into record
//! bodies, grouped into calls of up to 200 records of one kind, and each
//! record's result turned into its own outcome; the version check of
//! conditional updates; how a batch reacts to a rate limit. Pure functions;
//! the requests themselves are made in `lib.rs`.
//!
//! References (REST API Developer Guide): "Create Records Using sObject
//! Collections" (`POST /composite/sobjects`, `{"allOrNone", "records"}`,
//! "The list can contain up to 200 objects", results "returned in the order
//! in which the create requests were specified"), "Update Records Using
//! sObject Collections" (`PATCH`, each record with its `id`), "Delete Records
//! Using sObject Collections" (`DELETE ?ids=…&allOrNone=false`, up to 200),
//! "Retrieve Records Using sObject Collections" (`GET
//! /composite/sobjects/{sObject}?ids=…&fields=…`, `null` for a record not
//! found); result `{"id", "success", "errors": [{"statusCode", "message",
//! "fields"}]}`.

use serde_json::{json, Map, Value};
use synchost_sdk::{errors, ConflictInfo, ConnectorError, OpResult, UpdateOp, WriteOp, Written};

use crate::api::{encode_query, error_for_code, tidy, with_message};
use crate::schema::ObjectSchema;
use crate::time;

/// Records per sObject Collections call.
pub const MAX_BATCH: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Create,
    Update,
    Delete,
}

/// An op checked and ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub kind: Kind,
    /// the record of an update or delete
    pub id: Option<String>,
    /// the record body of a create or update
    pub body: Option<Map<String, Value>>,
    /// the version an update or delete expects
    pub expected: Option<String>,
}

/// An 18- or 15-character record id; anything else never reaches a URL.
pub fn valid_id(id: &str) -> Result<(), ConnectorError> {
    if matches!(id.len(), 15 | 18) && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(ConnectorError::InvalidInput(format!(
            "`{id}` is not a Salesforce record id"
        )))
    }
}

/// Validates an op against the sObject and builds what will be sent.
pub fn prepare(schema: &ObjectSchema, op: WriteOp) -> Result<Prepared, ConnectorError> {
    Ok(match op {
        WriteOp::Create(fields) => Prepared {
            kind: Kind::Create,
            id: None,
            body: Some(schema.body(&fields, true)?),
            expected: None,
        },
        WriteOp::Update(UpdateOp {
            id,
            expected_version,
            fields,
        }) => {
            valid_id(&id)?;
            let mut body = schema.body(&fields, false)?;
            body.insert("id".into(), json!(id));
            Prepared {
                kind: Kind::Update,
                id: Some(id),
                body: Some(body),
                expected: expected_version,
            }
        }
        WriteOp::Delete(op) => {
            valid_id(&op.id)?;
            Prepared {
                kind: Kind::Delete,
                id: Some(op.id),
                body: None,
                expected: op.expected_version,
            }
        }
    })
}

/// Groups ops into calls: runs of consecutive ops of one kind (so that ops
/// apply in order), at most 200 each. Returns positions in `kinds`.
pub fn batches(kinds: &[Kind]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        match out.last_mut() {
            Some(last) if kinds[last[0]] == *kind && last.len() < MAX_BATCH => last.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

/// The body of a create or update call. `allOrNone: false`: each record
/// stands alone, as the contract's ops do.
pub fn collection_body(records: Vec<Map<String, Value>>) -> Value {
    json!({ "allOrNone": false, "records": records })
}

pub fn delete_url(data_url: &str, ids: &[&str]) -> String {
    format!(
        "{data_url}/composite/sobjects?ids={}&allOrNone=false",
        encode_query(&ids.join(","))
    )
}

pub fn retrieve_url(data_url: &str, object: &str, ids: &[&str], stamp: &str) -> String {
    format!(
        "{data_url}/composite/sobjects/{object}?ids={}&fields={}",
        encode_query(&ids.join(",")),
        encode_query(&format!("Id,{stamp}"))
    )
}

/// The typed error of one failed record (`errors[0]` of its result).
pub fn item_error(context: &str, id: Option<&str>, errors: &Value) -> ConnectorError {
    let first = &errors[0];
    let code = first["statusCode"].as_str().unwrap_or("UNKNOWN_EXCEPTION");
    let text = tidy(first["message"].as_str().unwrap_or_default());
    let fields: Vec<&str> = first["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut message = format!("{context}: {code}: {text}");
    if !fields.is_empty() {
        message.push_str(&format!(" (fields: {})", fields.join(", ")));
    }
    let err = match code {
        "ENTITY_IS_DELETED" => ConnectorError::NotFound(String::new()),
        // An unknown id of the record itself, not of a lookup field.
        "INVALID_CROSS_REFERENCE_KEY" if fields.is_empty() => {
            ConnectorError::NotFound(String::new())
        }
        "ALL_OR_NONE_OPERATION_ROLLED_BACK" => ConnectorError::Transient(String::new()),
        _ => error_for_code(code, &text).unwrap_or(ConnectorError::InvalidInput(String::new())),
    };
    let err = with_message(err, message);
    match (err, id) {
        (ConnectorError::NotFound(m), Some(id)) => {
            ConnectorError::NotFound(format!("record {id}: {m}"))
        }
        (err, _) => err,
    }
}

/// The outcomes of one call, in order: `ids` are the records of an update
/// or delete (none for a create). A result list of the wrong length proves
/// nothing about any op of the call: `transient` (unknown) for each.
pub fn parse_results(context: &str, body: &Value, ids: &[Option<&str>]) -> Vec<OpResult> {
    let Some(results) = body.as_array().filter(|r| r.len() == ids.len()) else {
        let why = errors::bad_body(
            context,
            format!(
                "expected {} results, got {}",
                ids.len(),
                crate::api::tidy(&body.to_string())
            ),
        );
        return ids.iter().map(|_| Err(why.clone())).collect();
    };
    results
        .iter()
        .zip(ids)
        .map(|(r, id)| {
            if r["success"].as_bool() == Some(true) {
                let written = r["id"].as_str().or(*id).unwrap_or_default();
                Ok(Written {
                    id: written.to_string(),
                    // The results carry no timestamps; reading them back would
                    // cost a request per call. The next read brings them.
                    version: None,
                    updated_at: None,
                })
            } else {
                Err(item_error(context, *id, &r["errors"]))
            }
        })
        .collect()
}

/// The optimistic-concurrency check sObject Collections do not offer:
/// compares the record's current stamp (from a retrieve; `null` when it does
/// not exist or is deleted) with the version the op expects.
pub fn check_version(
    id: &str,
    expected: &str,
    current: &Value,
    stamp: &str,
) -> Result<(), ConnectorError> {
    if current.is_null() {
        return Err(ConnectorError::NotFound(format!(
            "record {id} does not exist or is deleted"
        )));
    }
    let now = current[stamp].as_str().map(time::normalize);
    let same = match (&now, time::parse(expected)) {
        (Some(now), Some(exp)) => time::parse(now) == Some(exp),
        (Some(now), None) => now == expected,
        (None, _) => false,
    };
    if same {
        return Ok(());
    }
    Err(ConnectorError::Conflict(ConflictInfo {
        id: id.to_string(),
        current_version: now.clone(),
        message: format!(
            "record {id} was modified at {} since version {expected}",
            now.as_deref().unwrap_or("an unknown time")
        ),
    }))
}

/// Whether an error of a whole call means "stop": later calls would fail alike.
fn stops(err: &ConnectorError) -> bool {
    matches!(
        err,
        ConnectorError::RateLimited(_) | ConnectorError::Unauthorized(_)
    )
}

/// Sends `batches` in order through `send`, which answers one outcome per
/// op of its batch or an error of the whole call.
///
/// A rate limit (or a refused token) before anything was written fails the
/// whole `write` call, so the host retries the ops as they are. Once a
/// record was written, it becomes the outcome of that batch's ops, and every
/// later op is reported the same way without being tried, so the host
/// retries exactly those. Any other error of a call fails that call's ops
/// and the next batch is tried.
pub fn run_batches(
    batches: Vec<Vec<usize>>,
    mut send: impl FnMut(&[usize]) -> Result<Vec<OpResult>, ConnectorError>,
) -> Result<Vec<(usize, OpResult)>, ConnectorError> {
    let mut out = Vec::new();
    let mut written_any = false;
    let mut stopped: Option<ConnectorError> = None;
    for batch in batches {
        if let Some(err) = &stopped {
            let skipped = with_message(
                err.clone(),
                "not attempted: an earlier call of this batch was refused".into(),
            );
            out.extend(batch.iter().map(|&i| (i, Err(skipped.clone()))));
            continue;
        }
        match send(&batch) {
            Ok(outcomes) => {
                written_any |= outcomes.iter().any(Result::is_ok);
                out.extend(batch.iter().copied().zip(outcomes));
            }
            Err(err) if stops(&err) => {
                if !written_any {
                    return Err(err);
                }
                out.extend(batch.iter().map(|&i| (i, Err(err.clone()))));
                stopped = Some(err);
            }
            Err(err) => out.extend(batch.iter().map(|&i| (i, Err(err.clone())))),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
