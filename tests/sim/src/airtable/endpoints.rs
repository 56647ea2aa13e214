//! The record and schema endpoints of the Airtable simulator.

use super::store::{ApiError, Base, Changes, Table};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// What a batch write (create, update or delete of up to 10 records) does
/// when one of its records is refused.
///
/// The documentation does not say. Create records
/// (https://airtable.com/developers/web/api/create-records) and Update
/// multiple records (https://airtable.com/developers/web/api/update-multiple-records)
/// describe only whole requests ("If no record with the given id exists, the
/// request will fail and will not create a new record", of upserts); the
/// errors page (https://airtable.com/developers/web/api/errors) says of 422
/// only "The request data is invalid", and of 404 "the resource doesn't exist
/// (e.g. has been deleted)". Nothing says whether the other records of a
/// refused request were written, so the simulator can play each reading; a
/// client must be right under all of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BatchFailure {
    /// The request is refused as a whole: nothing is written.
    #[default]
    NothingWritten,
    /// The records before the first refused one are written, the rest not.
    WrittenUntilRefused,
    /// Every record that is valid on its own is written.
    OthersWritten,
}

/// Writes the records of a batch that `mode` lets through, in order; the
/// answer is the first refusal, if any (its body names no other record).
fn apply<T>(
    mode: BatchFailure,
    checked: Vec<Result<T, ApiError>>,
    mut write: impl FnMut(T),
) -> Result<(), ApiError> {
    if mode == BatchFailure::NothingWritten && checked.iter().any(Result::is_err) {
        return Err(checked
            .into_iter()
            .find_map(Result::err)
            .expect("a refusal"));
    }
    let mut refused = None;
    for item in checked {
        match item {
            Ok(v) if refused.is_none() || mode == BatchFailure::OthersWritten => write(v),
            Ok(_) => {}
            Err(e) => {
                refused.get_or_insert(e);
            }
        }
    }
    refused.map_or(Ok(()), Err)
}

pub(crate) fn by_id(q: &[(String, String)]) -> bool {
    q.iter()
        .any(|(k, v)| k == "returnFieldsByFieldId" && (v == "true" || v == "1"))
}

fn flags(v: &Value) -> (bool, bool) {
    let f = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    (f("typecast"), f("returnFieldsByFieldId"))
}

/// A batch of at most 10 records (Create records: "Your request body should
/// include an array of up to 10 record objects"); Airtable's answer otherwise.
fn batch(v: &Value, with_id: bool) -> Result<&Vec<Value>, ApiError> {
    let msg = if with_id {
        "You must provide an array of up to 10 record objects, each with an \"id\" string and a \"fields\" object."
    } else {
        "You must provide an array of up to 10 record objects, each with a \"fields\" object."
    };
    let bad = || ApiError::new(422, "INVALID_RECORDS", msg);
    let recs = v.get("records").and_then(Value::as_array).ok_or_else(bad)?;
    let ok = (1..=10).contains(&recs.len())
        && recs.iter().all(|r| {
            r.get("fields").is_some_and(Value::is_object)
                && (!with_id || r.get("id").is_some_and(Value::is_string))
        });
    if ok {
        Ok(recs)
    } else {
        Err(bad())
    }
}

/// Create records (https://airtable.com/developers/web/api/create-records):
/// `{"records":[{"fields":{}}]}` answers `{"records":[...]}`; a single record
/// object at the top level (`{"fields":{}}`) answers that record alone.
pub(crate) fn create(
    t: &mut Table,
    v: &Value,
    mode: BatchFailure,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let (typecast, by_id) = flags(v);
    if v.get("records").is_none() {
        let fields = v
            .get("fields")
            .filter(|f| f.is_object())
            .ok_or_else(ApiError::invalid_request)?;
        let changes = t.validate(fields, typecast)?;
        let id = t.create(changes, now);
        return Ok(t.render(t.record(&id).unwrap(), by_id, None));
    }
    let recs = batch(v, false)?;
    let all: Vec<Result<Changes, ApiError>> = recs
        .iter()
        .map(|r| t.validate(&r["fields"], typecast))
        .collect();
    let mut ids: Vec<String> = Vec::new();
    apply(mode, all, |c| ids.push(t.create(c, now)))?;
    Ok(
        json!({"records": ids.iter().map(|id| t.render(t.record(id).unwrap(), by_id, None)).collect::<Vec<_>>()}),
    )
}

/// Update multiple records (https://airtable.com/developers/web/api/update-multiple-records):
/// "A PATCH request will only update the fields included in the request ... A
/// PUT request will perform a destructive update and clear all unincluded cell
/// values." An unknown id is 422 ROW_DOES_NOT_EXIST; what else is written
/// then is `mode`'s reading.
pub(crate) fn update_many(
    t: &mut Table,
    v: &Value,
    replace: bool,
    mode: BatchFailure,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    if v.get("performUpsert").is_some() {
        return Err(ApiError::new(
            422,
            "INVALID_REQUEST_UNKNOWN",
            "performUpsert is not supported by the simulator",
        ));
    }
    let (typecast, by_id) = flags(v);
    let recs = batch(v, true)?;
    let mut all = vec![];
    for r in recs {
        let id = r["id"].as_str().unwrap();
        all.push(match t.record(id) {
            None => Err(row_does_not_exist(id)),
            Some(_) => t
                .validate(&r["fields"], typecast)
                .map(|c| (id.to_string(), c)),
        });
    }
    let mut ids: Vec<String> = Vec::new();
    apply(mode, all, |(id, c)| {
        t.update(&id, c, replace, now);
        ids.push(id);
    })?;
    Ok(
        json!({"records": ids.iter().map(|id| t.render(t.record(id).unwrap(), by_id, None)).collect::<Vec<_>>()}),
    )
}

fn row_does_not_exist(id: &str) -> ApiError {
    let msg = format!("Record ID {id} does not exist in this table");
    ApiError::new(422, "ROW_DOES_NOT_EXIST", msg)
}

/// Update record (https://airtable.com/developers/web/api/update-record): one
/// record by id; unknown ids are 404.
pub(crate) fn update_one(
    t: &mut Table,
    id: &str,
    v: &Value,
    replace: bool,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let (typecast, by_id) = flags(v);
    t.record(id).ok_or_else(ApiError::not_found)?;
    let fields = v
        .get("fields")
        .filter(|f| f.is_object())
        .ok_or_else(ApiError::invalid_request)?;
    let changes = t.validate(fields, typecast)?;
    t.update(id, changes, replace, now);
    Ok(t.render(t.record(id).unwrap(), by_id, None))
}

/// Delete multiple records (https://airtable.com/developers/web/api/delete-multiple-records):
/// `?records[]=recA&records[]=recB`, "Up to 10 recordIds". Deleted records are
/// gone; there are no tombstones to list. An unknown id is 422
/// ROW_DOES_NOT_EXIST; what else is deleted then is `mode`'s reading.
pub(crate) fn delete_many(
    t: &mut Table,
    q: &[(String, String)],
    mode: BatchFailure,
) -> Result<Value, ApiError> {
    let ids: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "records[]" || k == "records")
        .map(|(_, v)| v.as_str())
        .collect();
    if ids.is_empty() || ids.len() > 10 {
        return Err(ApiError::new(
            422,
            "INVALID_RECORDS",
            "\"records\" must be an array of up to 10 record IDs.",
        ));
    }
    let checked = ids
        .iter()
        .map(|id| match t.record(id) {
            Some(_) => Ok(*id),
            None => Err(row_does_not_exist(id)),
        })
        .collect();
    apply(mode, checked, |id| {
        t.delete(id);
    })?;
    Ok(
        json!({"records": ids.iter().map(|id| json!({"id": id, "deleted": true})).collect::<Vec<_>>()}),
    )
}

/// Get base schema (https://airtable.com/developers/web/api/get-base-schema);
/// field options as in the field model.
pub(crate) fn meta_tables(base: &Base) -> Value {
    let date = json!({"dateFormat": {"format": "YYYY-MM-DD", "name": "iso"}});
    let date_time = json!({"dateFormat": {"format": "YYYY-MM-DD", "name": "iso"}, "timeFormat": {"format": "HH:mm", "name": "24hour"}, "timeZone": "utc"});
    let tables: Vec<Value> = base
        .tables
        .iter()
        .map(|t| {
            let fields: Vec<Value> = t
                .fields
                .iter()
                .map(|f| {
                    let options = match f.typ.as_str() {
                        "singleSelect" | "multipleSelects" => Some(json!({"choices": f.choices.iter().map(|c| json!({"id": c.id, "name": c.name, "color": c.color})).collect::<Vec<_>>()})),
                        "number" => Some(json!({"precision": 8})),
                        "checkbox" => Some(json!({"color": "greenBright", "icon": "check"})),
                        "date" => Some(date.clone()),
                        "dateTime" => Some(date_time.clone()),
                        "createdTime" => Some(json!({"result": {"type": "dateTime", "options": date_time}})),
                        "lastModifiedTime" => Some(json!({"isValid": true, "referencedFieldIds": [], "result": {"type": "dateTime", "options": date_time}})),
                        "multipleRecordLinks" => f.link.as_deref().and_then(|l| base.table(l)).map(|l| {
                            json!({"linkedTableId": l.id, "isReversed": false, "prefersSingleRecordLink": false})
                        }),
                        _ => None,
                    };
                    let mut v = json!({"id": f.id, "name": f.name, "type": f.typ});
                    if let Some(o) = options {
                        v["options"] = o;
                    }
                    v
                })
                .collect();
            json!({
                "id": t.id, "name": t.name, "primaryFieldId": t.fields[0].id, "fields": fields,
                "views": [{"id": t.view_id, "name": "Grid view", "type": "grid"}],
            })
        })
        .collect();
    json!({ "tables": tables })
}
