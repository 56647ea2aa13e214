//! The endpoints of the Salesforce simulator: each handler checks the API
//! version of its path, takes the state it needs and answers JSON. The
//! gate in `salesforce.rs` has already counted, authenticated and metered
//! the request.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::model::ApiError;
use super::{collections, query, reply, Shared, VERSIONS};

/// `v59.0` as the number 59 when it is a version this org serves.
pub(super) fn version(raw: &str) -> Result<u32, ApiError> {
    raw.strip_prefix('v')
        .and_then(|v| v.strip_suffix(".0"))
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|v| VERSIONS.contains(v))
        .ok_or_else(ApiError::not_found)
}

/// `GET /services/data/`: "Lists summary information about each Salesforce
/// version currently available, including the version, label, and a link to
/// each version's root" (Versions).
pub(super) async fn versions() -> Response {
    let list: Vec<Value> = VERSIONS
        .map(|v| {
            let n = v as i32 - 59;
            let season = ["Winter", "Spring", "Summer"][n.rem_euclid(3) as usize];
            let year = 24 + n.div_euclid(3);
            json!({ "label": format!("{season} '{year:02}"), "url": format!("/services/data/v{v}.0"), "version": format!("{v}.0") })
        })
        .collect();
    (StatusCode::OK, axum::Json(Value::Array(list))).into_response()
}

pub(super) fn query_options(headers: &HeaderMap) -> Option<usize> {
    query::batch_size(
        headers
            .get("sforce-query-options")
            .and_then(|v| v.to_str().ok()),
    )
}

/// `GET .../query?q=SOQL`. "To create a valid URI, replace spaces in the
/// query string with a plus sign + or with %20" (Query): the query string is
/// form-decoded, so a `+` that is meant as a plus sign must be sent as `%2B`.
pub(super) async fn run_query(
    State(sh): State<Arc<Shared>>,
    Path(v): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    reply(soql_request(
        &sh,
        &v,
        &params,
        query_options(&headers),
        false,
    ))
}

/// `GET .../queryAll?q=SOQL`: "QueryAll will include deleted records in results".
pub(super) async fn run_query_all(
    State(sh): State<Arc<Shared>>,
    Path(v): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    reply(soql_request(
        &sh,
        &v,
        &params,
        query_options(&headers),
        true,
    ))
}

/// A Query or QueryAll request, for the resource or a Composite subrequest.
pub(super) fn soql_request(
    sh: &Shared,
    v: &str,
    params: &HashMap<String, String>,
    batch: Option<usize>,
    all: bool,
) -> Result<Value, ApiError> {
    version(v)?;
    let q = params
        .get("q")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::bad("MALFORMED_QUERY", "A query string has to be specified"))?;
    let store = sh.store.lock().unwrap();
    let mut locators = sh.locators.lock().unwrap();
    query::run(&store, &mut locators, v, q, batch, all, sh.clock.now())
}

pub(super) async fn query_more(
    State(sh): State<Arc<Shared>>,
    Path((v, locator)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    reply(more_request(&sh, &v, &locator, query_options(&headers)))
}

/// The next batch of a query, for the resource or a Composite subrequest.
pub(super) fn more_request(
    sh: &Shared,
    v: &str,
    locator: &str,
    batch: Option<usize>,
) -> Result<Value, ApiError> {
    version(v)?;
    let mut locators = sh.locators.lock().unwrap();
    query::more(&mut locators, v, locator, batch, sh.clock.now())
}

/// sObject Describe: "Completely describes the individual metadata at all
/// levels for the specified object", including every field's type,
/// createable, updateable and picklistValues.
pub(super) async fn describe(
    State(sh): State<Arc<Shared>>,
    Path((v, object)): Path<(String, String)>,
) -> Response {
    reply(version(&v).and_then(|_| {
        let store = sh.store.lock().unwrap();
        // An unknown sObject: "404 NOT_FOUND: The requested resource does not exist".
        store
            .object(&object)
            .map(|o| o.describe(&v))
            .ok_or_else(ApiError::not_found)
    }))
}

pub(super) async fn get_deleted(
    State(sh): State<Arc<Shared>>,
    Path((v, object)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    reply(version(&v).and_then(|_| {
        let mut store = sh.store.lock().unwrap();
        let (start, end) = (params.get("start"), params.get("end"));
        query::deleted(
            &mut store,
            &object,
            start.map(String::as_str),
            end.map(String::as_str),
            sh.deleted_id_limit.load(Ordering::SeqCst),
            sh.clock.now(),
        )
    }))
}

/// A JSON request body; one that does not parse is JSON_PARSER_ERROR.
fn json_body(bytes: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad(
            "JSON_PARSER_ERROR",
            format!("Unexpected character in the request body: {e}"),
        )
    })
}

pub(super) async fn create(
    State(sh): State<Arc<Shared>>,
    Path(v): Path<String>,
    bytes: Bytes,
) -> Response {
    reply(version(&v).and_then(|_| {
        let body = json_body(&bytes)?;
        collections::create(&mut sh.store.lock().unwrap(), &body, sh.clock.now())
    }))
}

pub(super) async fn update(
    State(sh): State<Arc<Shared>>,
    Path(v): Path<String>,
    bytes: Bytes,
) -> Response {
    reply(version(&v).and_then(|_| {
        let body = json_body(&bytes)?;
        collections::update(&mut sh.store.lock().unwrap(), &body, sh.clock.now())
    }))
}

pub(super) async fn delete(
    State(sh): State<Arc<Shared>>,
    Path(v): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    reply(version(&v).and_then(|_| {
        let all_or_none = params
            .get("allOrNone")
            .is_some_and(|a| a.eq_ignore_ascii_case("true"));
        let ids = params.get("ids").map(String::as_str);
        collections::delete(
            &mut sh.store.lock().unwrap(),
            ids,
            all_or_none,
            sh.clock.now(),
        )
    }))
}

/// `POST .../composite` (see `composite.rs`).
pub(super) async fn composite(
    State(sh): State<Arc<Shared>>,
    Path(v): Path<String>,
    bytes: Bytes,
) -> Response {
    reply(version(&v).and_then(|_| {
        let body = json_body(&bytes)?;
        super::composite::run(&sh, &body)
    }))
}

pub(super) async fn retrieve(
    State(sh): State<Arc<Shared>>,
    Path((v, object)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    reply(version(&v).and_then(|_| {
        let store = sh.store.lock().unwrap();
        let (ids, fields) = (params.get("ids"), params.get("fields"));
        collections::retrieve(
            &store,
            &v,
            &object,
            ids.map(String::as_str),
            fields.map(String::as_str),
        )
    }))
}

/// `POST /services/oauth2/token`, form-encoded.
pub(super) async fn token(
    State(sh): State<Arc<Shared>>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        let body = json!({ "error": "invalid_request", "error_description": "the request must be form-encoded" });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let instance = sh.base_url.get().cloned().unwrap_or_default();
    let now = sh.clock.now();
    match sh.tokens.lock().unwrap().grant(&form, &instance, now) {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, axum::Json(e.body)).into_response()
        }
    }
}
