//! Turning write ops into Airtable batch requests: validating each op
//! against the schema, grouping consecutive ops of one kind ten at a time,
//! the request bodies, and reading the confirmed records back.
//!
//! Pure functions only; `write.rs` sends the batches.

use serde_json::{json, Map, Value};
use synchost_sdk::{ConnectorError, OpResult, WriteOp, Written};

use crate::api::Call;
use crate::convert::{fields_to_json, modified_time};
use crate::query;
use crate::schema::TableMeta;

/// Airtable creates, updates or deletes at most 10 records per request.
pub const MAX_BATCH: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Create,
    Update,
    Delete,
}

/// An op checked against the schema, its fields already in Airtable's JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    Create {
        fields: Map<String, Value>,
    },
    Update {
        id: String,
        fields: Map<String, Value>,
        expected: Option<String>,
    },
    Delete {
        id: String,
        expected: Option<String>,
    },
}

impl Prepared {
    pub fn kind(&self) -> Kind {
        match self {
            Prepared::Create { .. } => Kind::Create,
            Prepared::Update { .. } => Kind::Update,
            Prepared::Delete { .. } => Kind::Delete,
        }
    }

    /// The record id of an update or delete.
    pub fn id(&self) -> Option<&str> {
        match self {
            Prepared::Create { .. } => None,
            Prepared::Update { id, .. } | Prepared::Delete { id, .. } => Some(id),
        }
    }

    /// The version an update or delete expects the record to have.
    pub fn expected(&self) -> Option<&str> {
        match self {
            Prepared::Update { expected, .. } | Prepared::Delete { expected, .. } => {
                expected.as_deref()
            }
            Prepared::Create { .. } => None,
        }
    }
}

/// Validates `op` against `table`; an unknown or read-only field, a value
/// that never fits its field, or a missing id is `invalid-input`.
pub fn prepare(op: &WriteOp, table: &TableMeta) -> Result<Prepared, ConnectorError> {
    let need_id = |id: &str| {
        if id.trim().is_empty() {
            Err(ConnectorError::InvalidInput(
                "an update or delete needs a record id".into(),
            ))
        } else {
            Ok(id.to_string())
        }
    };
    Ok(match op {
        WriteOp::Create(fields) => Prepared::Create {
            fields: fields_to_json(fields, table)?,
        },
        WriteOp::Update(update) => Prepared::Update {
            id: need_id(&update.id)?,
            fields: fields_to_json(&update.fields, table)?,
            expected: update.expected_version.clone(),
        },
        WriteOp::Delete(delete) => Prepared::Delete {
            id: need_id(&delete.id)?,
            expected: delete.expected_version.clone(),
        },
    })
}

/// A group of ops sent in one request: their positions in the call.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub kind: Kind,
    pub ops: Vec<usize>,
}

/// Groups ops into batches: consecutive ops of one kind, at most
/// [`MAX_BATCH`] each. `None` is an op that failed validation: it is
/// skipped and does not split a batch. An update or delete of a record
/// already in the batch starts a new one, so that ops on one record stay
/// in order.
pub fn plan(ops: &[Option<(Kind, Option<&str>)>]) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    let mut ids: Vec<&str> = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        let Some((kind, id)) = *op else { continue };
        let fits = batches.last().is_some_and(|b| {
            b.kind == kind && b.ops.len() < MAX_BATCH && id.is_none_or(|id| !ids.contains(&id))
        });
        if !fits {
            batches.push(Batch {
                kind,
                ops: Vec::new(),
            });
            ids.clear();
        }
        batches
            .last_mut()
            .expect("a batch was pushed")
            .ops
            .push(index);
        ids.extend(id);
    }
    batches
}

/// The request for one batch of prepared ops, all of one kind.
pub fn batch_call(base: &str, table: &str, ops: &[&Prepared]) -> Call {
    let records_url = query::records_url(base, table);
    let records = |f: &dyn Fn(&Prepared) -> Option<Value>| -> Value {
        Value::Array(ops.iter().filter_map(|op| f(op)).collect())
    };
    match ops.first().map(|op| op.kind()) {
        Some(Kind::Delete) => {
            let ids: Vec<&str> = ops.iter().filter_map(|op| op.id()).collect();
            Call {
                method: "DELETE",
                url: query::delete_url(base, table, &ids),
                body: None,
            }
        }
        Some(Kind::Update) => Call {
            method: "PATCH",
            url: records_url,
            body: Some(json!({
                "records": records(&|op| match op {
                    Prepared::Update { id, fields, .. } => Some(json!({"id": id, "fields": fields})),
                    _ => None,
                }),
                "typecast": true,
            })),
        },
        _ => Call {
            method: "POST",
            url: records_url,
            body: Some(json!({
                "records": records(&|op| match op {
                    Prepared::Create { fields } => Some(json!({"fields": fields})),
                    _ => None,
                }),
                "typecast": true,
            })),
        },
    }
}

/// One outcome per op of a batch Airtable confirmed with `body`.
///
/// Creates are matched by position, updates by id (by position when the id
/// is not found), deletes are confirmed by the success itself.
pub fn parse_written(
    body: &Value,
    ops: &[&Prepared],
    table: &TableMeta,
    modified_field: &str,
) -> Vec<OpResult> {
    let records: &[Value] = body
        .get("records")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    // An answer without the record proves nothing about the write: the
    // outcome is unknown (transient), so the host reconciles by reading.
    let written = |record: &Value| -> OpResult {
        let id = record.get("id").and_then(Value::as_str).ok_or_else(|| {
            ConnectorError::Transient(
                "Airtable confirmed a write without a record id (the outcome is unknown)".into(),
            )
        })?;
        let at = modified_time(record, table, modified_field);
        Ok(Written {
            id: id.to_string(),
            version: at.clone(),
            updated_at: at,
        })
    };
    let missing = || {
        Err(ConnectorError::Transient(
            "Airtable's answer to a batch write is missing a record (the outcome is unknown)"
                .into(),
        ))
    };
    ops.iter()
        .enumerate()
        .map(|(position, op)| match op {
            Prepared::Delete { id, .. } => Ok(Written {
                id: id.clone(),
                version: None,
                updated_at: None,
            }),
            Prepared::Update { id, .. } => records
                .iter()
                .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
                .or_else(|| records.get(position))
                .map_or_else(missing, written),
            Prepared::Create { .. } => records.get(position).map_or_else(missing, written),
        })
        .collect()
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
