//! sObject Collections: create (`POST`), update (`PATCH`), delete
//! (`DELETE ?ids=`) and retrieve (`GET /{sObject}?ids=&fields=`) many records
//! in one request, each counted as one API call.
//!
//! References (REST API Developer Guide): "Create Records Using sObject
//! Collections" ("The list can contain up to 200 objects"; "Each object must
//! contain an attributes map. The map must contain a value for type";
//! "Objects are created in the order they're listed. The SaveResult objects
//! are returned in the order in which the create requests were specified";
//! `allOrNone` "Indicates whether to roll back the entire request when the
//! creation of any object fails (true) or to continue with the independent
//! creation of other objects in the request. The default is false"), "Update
//! Records Using sObject Collections" (set `id` in each object), "Delete
//! Records Using sObject Collections" (`ids`, up to 200), "Retrieve Records
//! Using sObject Collections" (`ids` and `fields`, up to 2,000 ids with GET).

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::model::{normalize_id, ApiError, ItemError};
use super::store::{bind, Mode, Store};

const MAX_RECORDS: usize = 200;
const MAX_RETRIEVE: usize = 2000;

fn too_many() -> ApiError {
    ApiError::bad(
        "EXCEEDED_ID_LIMIT",
        "record limit reached. cannot submit more than 200 records into this call",
    )
}

/// The outcome of one record: `{"id", "success", "errors"}`.
fn result(id: Option<&str>, outcome: &Result<(), ItemError>) -> Value {
    match outcome {
        Ok(()) => json!({ "id": id, "success": true, "errors": [] }),
        Err(e) => {
            let mut v = json!({ "success": false, "errors": [e.json()] });
            if let Some(id) = id {
                v["id"] = json!(id);
            }
            v
        }
    }
}

/// "ALL_OR_NONE_OPERATION_ROLLED_BACK: Record rolled back because not all
/// records were valid and the request was using AllOrNone header".
fn rolled_back() -> ItemError {
    ItemError::new(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header",
        &[],
    )
}

/// The records of a create or update body, each with its sObject.
type Bound = Vec<(&'static str, Map<String, Value>)>;

/// Parses `{"allOrNone": bool, "records": [...]}` and binds each record to
/// its object; anything malformed fails the whole request.
fn records_of(store: &Store, body: &Value) -> Result<(bool, Bound), ApiError> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::bad(
            "JSON_PARSER_ERROR",
            "Cannot deserialize the request body: expected an object",
        )
    })?;
    let all_or_none = match obj.get("allOrNone") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::bad(
                "JSON_PARSER_ERROR",
                format!("Cannot deserialize instance of boolean from value {other}"),
            ))
        }
    };
    let records = obj
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ApiError::bad(
                "INVALID_FIELD",
                "The request body must contain a records array",
            )
        })?;
    if records.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let fields = record.as_object().ok_or_else(|| {
            ApiError::bad(
                "JSON_PARSER_ERROR",
                format!("Cannot deserialize an sObject from {record}"),
            )
        })?;
        let ty = fields
            .get("attributes")
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::bad(
                    "INVALID_TYPE",
                    "Each sObject in the records list must have an attributes map with a type",
                )
            })?;
        let def = store.object(ty).ok_or_else(|| {
            ApiError::bad(
                "INVALID_TYPE",
                format!("sObject type '{ty}' is not supported."),
            )
        })?;
        bind(def, fields)?;
        out.push((def.name, fields.clone()));
    }
    Ok((all_or_none, out))
}

/// `POST /services/data/vXX.X/composite/sobjects`.
pub(crate) fn create(
    store: &mut Store,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let (all_or_none, records) = records_of(store, body)?;
    if all_or_none {
        let checks: Vec<Result<(), ItemError>> = records
            .iter()
            .map(|(ty, fields)| {
                if fields.keys().any(|k| k.eq_ignore_ascii_case("id")) {
                    return Err(ItemError::new(
                        "INVALID_FIELD",
                        "cannot specify Id in an insert call",
                        &["Id"],
                    ));
                }
                let def = store.object(ty).expect("bound");
                store.validate(def, fields, Mode::Create).map(|_| ())
            })
            .collect();
        if checks.iter().any(Result::is_err) {
            return Ok(rollback(checks, |_| None));
        }
    }
    let out: Vec<Value> = records
        .iter()
        .map(|(ty, fields)| match store.create(ty, fields, now) {
            Ok(id) => result(Some(&id), &Ok(())),
            Err(e) => result(None, &Err(e)),
        })
        .collect();
    Ok(Value::Array(out))
}

/// `PATCH /services/data/vXX.X/composite/sobjects`: each record names its `id`.
pub(crate) fn update(
    store: &mut Store,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let (all_or_none, records) = records_of(store, body)?;
    let id_of = |fields: &Map<String, Value>| -> Option<String> {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("id"))
            .and_then(|(_, v)| v.as_str().map(String::from))
    };
    let check =
        |store: &Store, ty: &str, fields: &Map<String, Value>| -> Result<String, ItemError> {
            let raw = id_of(fields).ok_or_else(|| {
                ItemError::new(
                    "MISSING_ARGUMENT",
                    "Id not specified in an update call",
                    &[],
                )
            })?;
            let id = normalize_id(&raw).ok_or_else(|| {
                ItemError::new("MALFORMED_ID", format!("malformed id {raw}"), &[])
            })?;
            let def = store.object(ty).expect("bound");
            if !id.starts_with(def.prefix) {
                return Err(ItemError::new(
                    "INVALID_ID_FIELD",
                    format!("{} ID: id value of incorrect type: {raw}", def.label),
                    &["Id"],
                ));
            }
            match store.get(&id) {
                None => Err(ItemError::new(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    &[],
                )),
                Some(r) if r.deleted.is_some() => Err(ItemError::new(
                    "ENTITY_IS_DELETED",
                    "entity is deleted",
                    &[],
                )),
                Some(_) => store.validate(def, fields, Mode::Update).map(|_| id),
            }
        };
    if all_or_none {
        let checks: Vec<Result<String, ItemError>> =
            records.iter().map(|(ty, f)| check(store, ty, f)).collect();
        if checks.iter().any(Result::is_err) {
            let ids: Vec<Option<String>> = records.iter().map(|(_, f)| id_of(f)).collect();
            return Ok(rollback(
                checks.into_iter().map(|c| c.map(|_| ())).collect(),
                |i| ids[i].clone(),
            ));
        }
    }
    let mut out = Vec::with_capacity(records.len());
    for (ty, fields) in &records {
        let raw = id_of(fields);
        let outcome =
            check(store, ty, fields).and_then(|id| store.update(&id, fields, now).map(|_| id));
        out.push(match outcome {
            Ok(id) => result(Some(&id), &Ok(())),
            Err(e) => result(raw.as_deref(), &Err(e)),
        });
    }
    Ok(Value::Array(out))
}

/// `DELETE /services/data/vXX.X/composite/sobjects?ids=a,b&allOrNone=false`.
pub(crate) fn delete(
    store: &mut Store,
    ids: Option<&str>,
    all_or_none: bool,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let ids: Vec<&str> = ids
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(ApiError::bad("MISSING_ARGUMENT", "ids must be specified"));
    }
    if ids.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let check = |store: &Store, raw: &str| -> Result<(), ItemError> {
        let id = normalize_id(raw)
            .ok_or_else(|| ItemError::new("MALFORMED_ID", format!("malformed id {raw}"), &[]))?;
        match store.get(&id) {
            None => Err(ItemError::new(
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
                &[],
            )),
            Some(r) if r.deleted.is_some() => Err(ItemError::new(
                "ENTITY_IS_DELETED",
                "entity is deleted",
                &[],
            )),
            Some(_) => Ok(()),
        }
    };
    if all_or_none {
        let checks: Vec<Result<(), ItemError>> = ids.iter().map(|id| check(store, id)).collect();
        if checks.iter().any(Result::is_err) {
            return Ok(rollback(checks, |i| Some(ids[i].to_string())));
        }
    }
    let out: Vec<Value> = ids
        .iter()
        .map(|raw| {
            let outcome = check(store, raw).and_then(|_| store.delete(raw, now));
            let id = normalize_id(raw).unwrap_or_else(|| raw.to_string());
            result(Some(&id), &outcome)
        })
        .collect();
    Ok(Value::Array(out))
}

/// `GET /services/data/vXX.X/composite/sobjects/{sObject}?ids=..&fields=..`:
/// the records in the order of `ids`, `null` for one that does not exist or
/// is deleted.
pub(crate) fn retrieve(
    store: &Store,
    version: &str,
    object: &str,
    ids: Option<&str>,
    fields: Option<&str>,
) -> Result<Value, ApiError> {
    let def = store.object(object).ok_or_else(ApiError::not_found)?;
    let list = |raw: Option<&str>, what: &str| -> Result<Vec<String>, ApiError> {
        let items: Vec<String> = raw
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Err(ApiError::bad(
                "MISSING_ARGUMENT",
                format!("{what} must be specified"),
            ));
        }
        Ok(items)
    };
    let ids = list(ids, "ids")?;
    if ids.len() > MAX_RETRIEVE {
        return Err(ApiError::bad(
            "EXCEEDED_ID_LIMIT",
            "You can't retrieve more than 2000 records with GET",
        ));
    }
    let mut names = Vec::new();
    for f in list(fields, "fields")? {
        let field = def.field(&f).ok_or_else(|| {
            ApiError::bad(
                "INVALID_FIELD",
                format!("No such column '{f}' on entity '{}'", def.name),
            )
        })?;
        names.push(field.name);
    }
    let mut out = Vec::with_capacity(ids.len());
    for raw in &ids {
        let id = normalize_id(raw)
            .ok_or_else(|| ApiError::bad("MALFORMED_ID", format!("malformed id {raw}")))?;
        let row = store
            .get(&id)
            .filter(|r| r.deleted.is_none() && r.object == def.name)
            .map(|r| store.render(r, version, Some(&names)));
        out.push(row.unwrap_or(Value::Null));
    }
    Ok(Value::Array(out))
}

/// The answer of an `allOrNone` request in which some record failed: nothing
/// is written; failed records carry their errors, the others are rolled back.
fn rollback(checks: Vec<Result<(), ItemError>>, id: impl Fn(usize) -> Option<String>) -> Value {
    Value::Array(
        checks
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let outcome: Result<(), ItemError> = Err(c.err().unwrap_or_else(rolled_back));
                let id = id(i);
                result(id.as_deref(), &outcome)
            })
            .collect(),
    )
}
