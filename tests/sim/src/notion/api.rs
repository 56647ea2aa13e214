//! The HTTP endpoints: each handler parses its request, asks the store, and
//! renders the answer as the API documents it (error bodies: `super::error`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

use super::model::{normalize_id, ApiError, ApiVersion, BOT_USER};
use super::store::PageUpdate;
use super::{api_error, items, query, Shared};

/// Parses a JSON body. "invalid_json: The request body could not be decoded as
/// JSON", message "Error parsing JSON body." (Status codes). Size: "the maximum
/// size of a payload is 1000 block elements and 500KB overall"; beyond a limit
/// the API answers "validation_error" (Request limits: Size limits). An empty
/// body counts as `{}`.
pub(super) fn body(bytes: &Bytes) -> Result<Value, ApiError> {
    const MAX: usize = 500 * 1000;
    if bytes.len() > MAX {
        let n = bytes.len();
        return Err(ApiError::validation(format!(
            "Request body too large: the maximum size is 500KB, instead was {n} bytes."
        )));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|_| ApiError {
        status: 400,
        code: "invalid_json",
        message: "Error parsing JSON body.".into(),
        additional_data: None,
    })?;
    if !v.is_object() {
        let msg = format!("body failed validation: body should be an object, instead was `{v}`.");
        return Err(ApiError::validation(msg));
    }
    Ok(v)
}

/// Ids in paths and parents must be UUIDs, dashes optional.
pub(super) fn valid_id(raw: &str, path: &str) -> Result<String, ApiError> {
    normalize_id(raw).ok_or_else(|| {
        let part = path.split('.').next().unwrap_or("body");
        ApiError::validation(format!(
            "{part} failed validation: {path} should be a valid uuid, instead was `\"{raw}\"`."
        ))
    })
}

pub(super) fn reply(r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        Err(e) => api_error(&e),
    }
}

/// [`reply`] of a body already written out as JSON.
fn reply_bytes(r: Result<Vec<u8>, ApiError>) -> Response {
    match r {
        Ok(body) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => api_error(&e),
    }
}

/// Retrieve a database. Up to 2022-06-28, the database with its one data
/// source's schema ("Retrieving a database with multiple data sources fails
/// with a `validation_error` message"); from 2025-09-03, the container and its
/// `data_sources` (upgrade guide, Step 3: Retrieve database).
pub(super) async fn get_database(
    State(sh): State<Arc<Shared>>,
    Extension(v): Extension<ApiVersion>,
    Path(raw): Path<String>,
) -> Response {
    reply(valid_id(&raw, "path.database_id").and_then(|id| {
        let store = sh.store.lock().unwrap();
        match v {
            ApiVersion::Legacy => Ok(store.legacy_source(&id)?.legacy_database_json()),
            ApiVersion::DataSources => {
                let db = store
                    .dbs
                    .get(&id)
                    .ok_or_else(|| ApiError::not_found("database", &id))?;
                let sources: Vec<_> = db.sources.iter().map(|s| &store.sources[s]).collect();
                Ok(db.to_json(&sources))
            }
        }
    }))
}

/// Query a database, up to 2022-06-28 (see `query`). From 2025-09-03 "the
/// path of this API changes, and now accepts a data source ID" (upgrade guide,
/// Step 3: Query databases): the old path is no longer a URL of the API.
pub(super) async fn query_database(
    State(sh): State<Arc<Shared>>,
    Extension(v): Extension<ApiVersion>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Response {
    reply_bytes((|| {
        if v == ApiVersion::DataSources {
            return Err(ApiError::invalid_url());
        }
        let id = valid_id(&raw, "path.database_id")?;
        let b = body(&bytes)?;
        let now = sh.clock.now();
        let mut store = sh.store.lock().unwrap();
        let ds = store.legacy_source(&id)?.id.clone();
        query::query(&mut store, &ds, &b, now, v)
    })())
}

/// The data source endpoints "Exist under the `/v1/data_sources` namespace,
/// starting from version `2025-09-03`" (upgrade guide, Step 3); an older
/// version gets "invalid_request_url" there (as integrations pinned to
/// 2022-06-28 report, makenotion/notion-mcp-server#178).
fn data_source_id(v: ApiVersion, raw: &str) -> Result<String, ApiError> {
    if v == ApiVersion::Legacy {
        return Err(ApiError::invalid_url());
    }
    valid_id(raw, "path.data_source_id")
}

/// Retrieve a data source: its schema, "object": "data_source".
pub(super) async fn get_data_source(
    State(sh): State<Arc<Shared>>,
    Extension(v): Extension<ApiVersion>,
    Path(raw): Path<String>,
) -> Response {
    reply(data_source_id(v, &raw).and_then(|id| {
        let store = sh.store.lock().unwrap();
        let ds = store
            .sources
            .get(&id)
            .ok_or_else(|| ApiError::not_found("data source", &id))?;
        Ok(ds.to_json())
    }))
}

/// Query a data source: the query of a database, on one data source.
pub(super) async fn query_data_source(
    State(sh): State<Arc<Shared>>,
    Extension(v): Extension<ApiVersion>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Response {
    reply_bytes((|| {
        let id = data_source_id(v, &raw)?;
        let b = body(&bytes)?;
        let now = sh.clock.now();
        query::query(&mut sh.store.lock().unwrap(), &id, &b, now, v)
    })())
}

/// Create a page: `{"parent": {..}, "properties": {..}}`. The reference's own
/// example of a validation_error message is "body failed validation:
/// body.properties should be defined, instead was undefined." The parent is a
/// data source (`data_source_id`), which "works for any API version" (upgrade
/// guide, Step 2), or a database (`database_id`), which names its one data
/// source and is refused for a database of several.
pub(super) async fn create_page(
    State(sh): State<Arc<Shared>>,
    Extension(v): Extension<ApiVersion>,
    bytes: Bytes,
) -> Response {
    let undefined = |p: &str| {
        ApiError::validation(format!(
            "body failed validation: {p} should be defined, instead was `undefined`."
        ))
    };
    reply((|| {
        let b = body(&bytes)?;
        let parent = b
            .get("parent")
            .and_then(Value::as_object)
            .ok_or_else(|| undefined("body.parent"))?;
        let props = b
            .get("properties")
            .ok_or_else(|| undefined("body.properties"))?;
        let icon = b.get("icon").cloned().unwrap_or(Value::Null);
        let cover = b.get("cover").cloned().unwrap_or(Value::Null);
        let now = sh.clock.now();
        let mut store = sh.store.lock().unwrap();
        let ds = if let Some(ds) = parent.get("data_source_id").and_then(Value::as_str) {
            let ds = valid_id(ds, "body.parent.data_source_id")?;
            if !store.sources.contains_key(&ds) {
                return Err(ApiError::not_found("data source", &ds));
            }
            ds
        } else if let Some(db) = parent.get("database_id").and_then(Value::as_str) {
            let db = valid_id(db, "body.parent.database_id")?;
            store.legacy_source(&db)?.id.clone()
        } else {
            // Only database parents are simulated; a page parent is reported as not shared.
            let pid = parent
                .get("page_id")
                .and_then(Value::as_str)
                .unwrap_or("undefined");
            return Err(ApiError::not_found("page", pid));
        };
        if v == ApiVersion::Legacy {
            store.legacy_relation_check(&ds, props)?;
        }
        let id = store.create_page(&ds, props, icon, cover, BOT_USER, now)?;
        Ok(store.page_json(&id, v).expect("just created"))
    })())
}

/// Retrieve a page: trashed pages too, with `in_trash: true` (and the legacy
/// `archived: true`).
pub(super) async fn get_page(
    State(sh): State<Arc<Shared>>,
    Extension(v): Extension<ApiVersion>,
    Path(raw): Path<String>,
) -> Response {
    reply(valid_id(&raw, "path.page_id").and_then(|id| {
        let page = sh.store.lock().unwrap().page_json(&id, v);
        page.ok_or_else(|| ApiError::not_found("page", &id))
    }))
}

/// Update page properties, icon, cover, and the trash flag: "To trash a page
/// via the API, send an Update page request with the in_trash body param set to
/// true. To restore a page from the trash, set in_trash to false." and
/// "archived is a deprecated alias for in_trash. Both behave identically" (Trash a page).
pub(super) async fn update_page(
    State(sh): State<Arc<Shared>>,
    Extension(v): Extension<ApiVersion>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Response {
    reply((|| {
        let id = valid_id(&raw, "path.page_id")?;
        let b = body(&bytes)?;
        let mut trash = None;
        for key in ["archived", "in_trash"] {
            match b.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Bool(t)) => trash = Some(*t),
                Some(v) => {
                    return Err(ApiError::validation(format!(
                        "body failed validation: body.{key} should be a boolean, instead was `{v}`."
                    )))
                }
            }
        }
        let upd = PageUpdate {
            properties: b.get("properties").filter(|p| !p.is_null()),
            in_trash: trash,
            icon: b.get("icon"),
            cover: b.get("cover"),
        };
        let now = sh.clock.now();
        let mut store = sh.store.lock().unwrap();
        if let (ApiVersion::Legacy, Some(props), Some(page)) =
            (v, upd.properties, store.pages.get(&id))
        {
            store.legacy_relation_check(&page.ds.clone(), props)?;
        }
        store.update_page(&id, upd, BOT_USER, now)?;
        Ok(store.page_json(&id, v).expect("exists"))
    })())
}

/// Retrieve a page property item: `GET /v1/pages/{page_id}/properties/{property_id}`
/// with `page_size` and `start_cursor` in the query string (see `items`).
pub(super) async fn get_property_item(
    State(sh): State<Arc<Shared>>,
    Path((raw, property)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    reply(valid_id(&raw, "path.page_id").and_then(|id| {
        let store = sh.store.lock().unwrap();
        items::property_item(&store, &id, &property, &params)
    }))
}
