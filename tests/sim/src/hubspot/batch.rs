//! The batch endpoints: `POST /crm/v3/objects/{type}/batch/{create,update,archive,read}`.
//!
//! Reference: "CRM API | Objects", sections "Create/Update/Archive/Retrieve
//! records in batches" and the batch reference pages:
//! - at most 100 inputs a request ("Batch operations ... are limited to 100
//!   records" per request);
//! - create answers 201, update and read 200, with
//!   `{"status":"COMPLETE","results":[...],"startedAt","completedAt"}`; when
//!   some inputs fail, 207 Multi-Status adds `"numErrors"` and `"errors"`
//!   (`{"status":"error","category","message","context":{"ids":[...]}}`);
//! - archive answers 204 No Content, whether or not the records existed;
//! - the order of `results` is not the order of `inputs`; an input may carry
//!   an `objectWriteTraceId`, and whether its result echoes it is a switch
//!   ([`BatchResults`]), since HubSpot does not promise the echo;
//! - without trace ids, invalid property values fail the whole request with
//!   400 VALIDATION_ERROR, a contact whose email exists with 409; the same id
//!   twice in one update is 400 "Duplicate IDs found in batch input";
//! - a create whose every input carries a unique `objectWriteTraceId` is
//!   answered multi-status instead ("API error handling", "Multi-status
//!   errors", https://developers.hubspot.com/docs/api-reference/error-handling:
//!   "For the object APIs' batch create endpoints, you can enable multi status
//!   responses that include partial failures. This means the response will
//!   show which records were created and which were not. To do so, include a
//!   unique `objectWriteTraceId` value for each input in your request."): the
//!   valid inputs are created, and each refused one is an entry of `errors`
//!   naming it in `"context": {"objectWriteTraceId": [..]}`. In that page's
//!   example answer the created record carries no `objectWriteTraceId`.

use chrono::{DateTime, Utc};
use rand::seq::SliceRandom;
use serde_json::{json, Value};

use super::model::{ApiError, ObjectType};
use super::store::{not_found, Store, Values};
use super::values::iso;

pub(crate) const MAX_INPUTS: usize = 100;

/// How batch create and update answer, beyond what every answer holds.
///
/// The echo is not promised. The v3 reference of `batch/create`
/// (https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/objects/batch/create-objects)
/// answers its example with a result that has no `objectWriteTraceId`; the
/// newer references list a result's fields as "id string required" but
/// "objectWriteTraceId string: An identifier used to trace the creation or
/// update request of the object", without "required"
/// (https://developers.hubspot.com/docs/api-reference/2026-03/crm/objects/services/merge/merge-services);
/// HubSpot's Python SDK models a result (`SimplePublicObject`,
/// `hubspot/crm/contacts/models/simple_public_object.py`) without the field;
/// and the multi-status example of "API error handling" shows a created
/// record without it. The order of results is not promised either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchResults {
    /// results carry their input's `objectWriteTraceId`
    pub echo_write_trace_ids: bool,
    /// results come in random order rather than in the order of the inputs
    pub shuffle: bool,
}

impl Default for BatchResults {
    fn default() -> Self {
        BatchResults {
            echo_write_trace_ids: true,
            shuffle: true,
        }
    }
}

impl BatchResults {
    fn arrange(self, results: &mut [Value]) {
        if self.shuffle {
            results.shuffle(&mut rand::rng());
        }
    }
}

/// The `inputs` array of a batch body, 1 to 100 of them.
fn inputs(body: &Value) -> Result<&Vec<Value>, ApiError> {
    let inputs = body["inputs"].as_array().ok_or_else(|| {
        ApiError::validation("Invalid input JSON: the body needs an `inputs` array")
    })?;
    if inputs.is_empty() || inputs.len() > MAX_INPUTS {
        return Err(ApiError::validation(format!(
            "inputs must hold between 1 and {MAX_INPUTS} items, got {}",
            inputs.len()
        )));
    }
    Ok(inputs)
}

fn id_of(input: &Value, i: usize) -> Result<String, ApiError> {
    match &input["id"] {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(ApiError::validation(format!(
            "Invalid input JSON: inputs[{i}].id is required"
        ))),
    }
}

fn complete(results: Vec<Value>, errors: Vec<Value>, now: DateTime<Utc>) -> (u16, Value) {
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso(now),
        "completedAt": iso(now),
    });
    if errors.is_empty() {
        return (200, body);
    }
    body["numErrors"] = json!(errors.len());
    body["errors"] = json!(errors);
    (207, body)
}

/// The error entry for ids that do not exist (or are archived).
fn missing(ty: ObjectType, ids: Vec<String>) -> Value {
    json!({
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": format!(
            "Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.",
            ty.upper()
        ),
        "context": { "ids": ids },
    })
}

/// `properties` of a result: what the input set, plus the system properties.
fn written(
    store: &Store,
    ty: ObjectType,
    id: u64,
    set: &Values,
    trace: &Value,
    how: BatchResults,
) -> Value {
    let names: Vec<String> = set.iter().map(|(k, _)| k.clone()).collect();
    let record = &store.of(ty).records[&id];
    let mut out = store.render(ty, record, Some(&names));
    if how.echo_write_trace_ids && !trace.is_null() {
        out["objectWriteTraceId"] = trace.clone();
    }
    out
}

pub(crate) fn create(
    store: &mut Store,
    ty: ObjectType,
    body: &Value,
    now: DateTime<Utc>,
    how: BatchResults,
) -> Result<(u16, Value), ApiError> {
    let inputs = inputs(body)?;
    if let Some(traces) = unique_traces(inputs) {
        return Ok(create_multi_status(store, ty, inputs, &traces, now, how));
    }
    // Validate everything before creating anything: the request is atomic.
    let mut all = Vec::with_capacity(inputs.len());
    let mut emails = Vec::new();
    for input in inputs {
        let props = input.get("properties").cloned().unwrap_or(json!({}));
        let values = store.validate(ty, &props)?;
        store.check_unique(ty, &values, None, &emails)?;
        if let Some((_, Some(email))) = values.iter().find(|(k, _)| k == "email") {
            emails.push(email.to_lowercase());
        }
        all.push((values, input["objectWriteTraceId"].clone()));
    }
    let mut results: Vec<Value> = all
        .into_iter()
        .map(|(values, trace)| {
            let id = store.insert(ty, values.clone(), now);
            written(store, ty, id, &values, &trace, how)
        })
        .collect();
    how.arrange(&mut results);
    let (_, body) = complete(results, Vec::new(), now);
    Ok((201, body))
}

/// The inputs' `objectWriteTraceId`s when every input has one and no two
/// are the same: what turns multi-status answers on.
fn unique_traces(inputs: &[Value]) -> Option<Vec<String>> {
    let traces: Vec<String> = inputs
        .iter()
        .map(|i| i["objectWriteTraceId"].as_str().map(String::from))
        .collect::<Option<_>>()?;
    let mut sorted = traces.clone();
    sorted.sort();
    sorted.dedup();
    (sorted.len() == traces.len()).then_some(traces)
}

/// A multi-status create: each input is created or refused on its own.
fn create_multi_status(
    store: &mut Store,
    ty: ObjectType,
    inputs: &[Value],
    traces: &[String],
    now: DateTime<Utc>,
    how: BatchResults,
) -> (u16, Value) {
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (input, trace) in inputs.iter().zip(traces) {
        let props = input.get("properties").cloned().unwrap_or(json!({}));
        let checked = store
            .validate(ty, &props)
            .and_then(|values| store.check_unique(ty, &values, None, &[]).map(|_| values));
        match checked {
            Ok(values) => {
                let id = store.insert(ty, values.clone(), now);
                results.push(written(store, ty, id, &values, &json!(trace), how));
            }
            Err(e) => errors.push(json!({
                "status": "error",
                "category": e.category,
                "message": e.message,
                "context": { "objectWriteTraceId": [trace] },
            })),
        }
    }
    how.arrange(&mut results);
    let failed = !errors.is_empty();
    let (_, body) = complete(results, errors, now);
    (if failed { 207 } else { 201 }, body)
}

pub(crate) fn update(
    store: &mut Store,
    ty: ObjectType,
    body: &Value,
    now: DateTime<Utc>,
    how: BatchResults,
) -> Result<(u16, Value), ApiError> {
    let inputs = inputs(body)?;
    let mut ids = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let id = id_of(input, i)?;
        if ids.contains(&id) {
            return Err(ApiError::validation(format!(
                "Duplicate IDs found in batch input: [{id}]. IDs must be unique"
            )));
        }
        ids.push(id);
    }
    let mut ready = Vec::new();
    let mut absent = Vec::new();
    let mut emails = Vec::new();
    for (input, id) in inputs.iter().zip(&ids) {
        let props = input.get("properties").cloned().unwrap_or(json!({}));
        let values = store.validate(ty, &props)?;
        match store.active(ty, id).map(|r| r.id) {
            Some(record) => {
                store.check_unique(ty, &values, Some(record), &emails)?;
                if let Some((_, Some(email))) = values.iter().find(|(k, _)| k == "email") {
                    emails.push(email.to_lowercase());
                }
                ready.push((record, values, input["objectWriteTraceId"].clone()));
            }
            None => absent.push(id.clone()),
        }
    }
    let mut results: Vec<Value> = ready
        .into_iter()
        .map(|(id, values, trace)| {
            store.apply(ty, id, values.clone(), now);
            written(store, ty, id, &values, &trace, how)
        })
        .collect();
    how.arrange(&mut results);
    let errors = if absent.is_empty() {
        vec![]
    } else {
        vec![missing(ty, absent)]
    };
    Ok(complete(results, errors, now))
}

/// Archives every input that exists; 204 either way.
pub(crate) fn archive(
    store: &mut Store,
    ty: ObjectType,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let inputs = inputs(body)?;
    let ids: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| id_of(input, i))
        .collect::<Result<_, _>>()?;
    for id in ids {
        store.archive(ty, &id, now);
    }
    Ok(())
}

/// Reads records by id: active ones, or archived ones with `archived=true`.
pub(crate) fn read(
    store: &Store,
    ty: ObjectType,
    body: &Value,
    archived: bool,
    now: DateTime<Utc>,
) -> Result<(u16, Value), ApiError> {
    let inputs = inputs(body)?;
    if let Some(id_property) = body["idProperty"].as_str() {
        if id_property != "hs_object_id" {
            return Err(ApiError::validation(format!(
                "idProperty {id_property} is not simulated: read by hs_object_id"
            )));
        }
    }
    let properties: Vec<String> = body["properties"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let props = (!properties.is_empty()).then_some(properties.as_slice());
    let mut results = Vec::new();
    let mut absent = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let id = id_of(input, i)?;
        // An id merged away reads as the record it became.
        let record = id
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|n| store.resolve(ty, n))
            .filter(|r| r.archived_at.is_some() == archived);
        match record {
            Some(r) => {
                if !results
                    .iter()
                    .any(|v: &Value| v["id"] == json!(r.id.to_string()))
                {
                    results.push(store.render(ty, r, props));
                }
            }
            None => absent.push(id),
        }
    }
    let errors = if absent.is_empty() {
        vec![]
    } else {
        vec![missing(ty, absent)]
    };
    Ok(complete(results, errors, now))
}

/// A single-record write of `PATCH /crm/v3/objects/{type}/{id}`.
pub(crate) fn update_one(
    store: &mut Store,
    ty: ObjectType,
    id: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let props = body.get("properties").cloned().unwrap_or(json!({}));
    let n = store.update(ty, id, &props, now)?;
    let record = store
        .of(ty)
        .records
        .get(&n)
        .ok_or_else(|| not_found(ty, id))?;
    Ok(store.render(ty, record, None))
}
