//! The HTTP handlers of the HubSpot simulator: reads, single-record writes,
//! search, batches and property definitions. The gate in `hubspot.rs` has
//! already counted, authenticated and rate limited each request.
//!
//! Reference: "CRM API | Objects" (https://developers.hubspot.com/docs/api/crm/understanding-the-crm)
//! and "CRM API | Properties" (https://developers.hubspot.com/docs/api/crm/properties).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::Arc;

use super::model::{ApiError, ObjectType, PropertyDef};
use super::store::not_found;
use super::{batch, error, search, Shared, MAX_LIST_LIMIT};

fn parse_type(raw: &str) -> Result<ObjectType, ApiError> {
    ObjectType::parse(raw)
        .ok_or_else(|| ApiError::validation(format!("Unable to infer object type from: {raw}")))
}

/// A JSON body; "Invalid input JSON" is HubSpot's wording for one that is not.
fn body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::validation(format!(
            "Invalid input JSON on line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })
}

fn reply(r: Result<(u16, Value), ApiError>) -> Response {
    match r {
        Ok((status, v)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            (status, axum::Json(v)).into_response()
        }
        Err(e) => error(&e),
    }
}

/// Query parameters of reads: `properties` as a comma-separated list (or
/// repeated), `archived`, `limit`, `after`.
struct ReadParams {
    properties: Option<Vec<String>>,
    archived: bool,
    limit: Option<String>,
    after: Option<String>,
}

impl ReadParams {
    fn parse(query: &[(String, String)]) -> Result<ReadParams, ApiError> {
        let mut p = ReadParams {
            properties: None,
            archived: false,
            limit: None,
            after: None,
        };
        for (k, v) in query {
            match k.as_str() {
                "properties" => p.properties.get_or_insert_with(Vec::new).extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                ),
                "archived" => {
                    p.archived = match v.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ApiError::validation(format!(
                                "archived must be true or false, got {v}"
                            )))
                        }
                    }
                }
                "limit" => p.limit = Some(v.clone()),
                "after" => p.after = Some(v.clone()),
                _ => {}
            }
        }
        Ok(p)
    }
}

/// List records (Objects: "Retrieve records"): `limit` default 10, at most
/// 100; `paging.next.after` while there are more; `archived=true` lists only
/// archived records.
pub(super) async fn list(
    State(sh): State<Arc<Shared>>,
    Path(raw): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    reply((|| {
        let ty = parse_type(&raw)?;
        let p = ReadParams::parse(&query)?;
        let limit = match &p.limit {
            None => 10,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "limit must be between 1 and {MAX_LIST_LIMIT}, got {l}"
                    ))
                })?,
        };
        let store = sh.store.lock().unwrap();
        let (page, next) = store.list(ty, p.archived, p.after.as_deref(), limit)?;
        let results: Vec<Value> = page
            .iter()
            .map(|r| store.render(ty, r, p.properties.as_deref()))
            .collect();
        let mut out = json!({ "results": results });
        if let Some(after) = next {
            let link = format!(
                "https://api.hubapi.com/crm/v3/objects/{}?after={}",
                ty.name(),
                after.replace('=', "%3D")
            );
            out["paging"] = json!({ "next": { "after": after, "link": link } });
        }
        Ok((200, out))
    })())
}

/// Create one record: `{"properties": {...}}` -> 201 and the record.
pub(super) async fn create_one(
    State(sh): State<Arc<Shared>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Response {
    reply((|| {
        let ty = parse_type(&raw)?;
        let b = body(&bytes)?;
        let props = b.get("properties").cloned().unwrap_or(json!({}));
        let now = sh.clock.now();
        let mut store = sh.store.lock().unwrap();
        let id = store.create(ty, &props, now)?;
        let r = &store.of(ty).records[&id];
        Ok((201, store.render(ty, r, None)))
    })())
}

/// Read one record; with `archived=true` only an archived one.
pub(super) async fn get_one(
    State(sh): State<Arc<Shared>>,
    Path((raw, id)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    reply((|| {
        let ty = parse_type(&raw)?;
        let p = ReadParams::parse(&query)?;
        let store = sh.store.lock().unwrap();
        // An id merged away reads as the record it became.
        let r = id
            .parse::<u64>()
            .ok()
            .and_then(|n| store.resolve(ty, n))
            .filter(|r| r.archived_at.is_some() == p.archived)
            .ok_or_else(|| not_found(ty, &id))?;
        Ok((200, store.render(ty, r, p.properties.as_deref())))
    })())
}

pub(super) async fn patch_one(
    State(sh): State<Arc<Shared>>,
    Path((raw, id)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    reply((|| {
        let ty = parse_type(&raw)?;
        let b = body(&bytes)?;
        let now = sh.clock.now();
        let mut store = sh.store.lock().unwrap();
        Ok((200, batch::update_one(&mut store, ty, &id, &b, now)?))
    })())
}

/// Archive one record: 204, also when it was archived already.
pub(super) async fn delete_one(
    State(sh): State<Arc<Shared>>,
    Path((raw, id)): Path<(String, String)>,
) -> Response {
    match parse_type(&raw) {
        Err(e) => error(&e),
        Ok(ty) => {
            let now = sh.clock.now();
            sh.store.lock().unwrap().archive(ty, &id, now);
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

/// Merge two records: `{"primaryObjectId", "objectIdToMerge"}` -> 200 and
/// the resulting record (see `merge.rs`).
pub(super) async fn merge_two(
    State(sh): State<Arc<Shared>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Response {
    reply((|| {
        let ty = parse_type(&raw)?;
        let b = body(&bytes)?;
        let field = |name: &str| match &b[name] {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(ApiError::validation(format!(
                "Invalid input JSON: `{name}` is required"
            ))),
        };
        let (primary, other) = (field("primaryObjectId")?, field("objectIdToMerge")?);
        let now = sh.clock.now();
        let mut store = sh.store.lock().unwrap();
        let id = store.merge(ty, &primary, &other, now)?;
        let r = &store.of(ty).records[&id];
        Ok((200, store.render(ty, r, None)))
    })())
}

pub(super) async fn search_objects(
    State(sh): State<Arc<Shared>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Response {
    reply((|| {
        let ty = parse_type(&raw)?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::validation("Invalid input JSON: not UTF-8"))?;
        let store = sh.store.lock().unwrap();
        Ok((200, search::search(&store, ty, &text)?))
    })())
}

pub(super) async fn batch_op(
    State(sh): State<Arc<Shared>>,
    Path((raw, action)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    bytes: Bytes,
) -> Response {
    let ty = match parse_type(&raw) {
        Ok(ty) => ty,
        Err(e) => return error(&e),
    };
    let b = match body(&bytes) {
        Ok(b) => b,
        Err(e) => return error(&e),
    };
    let now = sh.clock.now();
    let how = *sh.batch_results.lock().unwrap();
    let mut store = sh.store.lock().unwrap();
    match action.as_str() {
        "create" => reply(batch::create(&mut store, ty, &b, now, how)),
        "update" => reply(batch::update(&mut store, ty, &b, now, how)),
        "archive" => match batch::archive(&mut store, ty, &b, now) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => error(&e),
        },
        "read" => {
            let archived = match ReadParams::parse(&query) {
                Ok(p) => p.archived,
                Err(e) => return error(&e),
            };
            reply(batch::read(&store, ty, &b, archived, now))
        }
        _ => error(&ApiError::not_found(
            "Unable to find a resource at this path",
        )),
    }
}

/// All properties of an object type (Properties: "Retrieve all properties").
pub(super) async fn properties(State(sh): State<Arc<Shared>>, Path(raw): Path<String>) -> Response {
    reply((|| {
        let ty = parse_type(&raw)?;
        let store = sh.store.lock().unwrap();
        let results: Vec<Value> = store
            .of(ty)
            .props
            .values()
            .map(PropertyDef::to_json)
            .collect();
        Ok((200, json!({ "results": results })))
    })())
}
