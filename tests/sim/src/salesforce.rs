//! A simulator of the Salesforce REST API (versions 42.0 to 62.0; the
//! connector uses 59.0) and its OAuth 2.0 token endpoint, served on loopback.
//!
//! Endpoints, under `/services/data/vXX.X`: `query` and `queryAll` (a SOQL
//! subset, see `soql`) with `query/{locator}` for the next batches,
//! `composite` (with query subrequests, see `composite`),
//! `sobjects/{sObject}/describe`, `sobjects/{sObject}/deleted/` (getDeleted),
//! and sObject Collections at `composite/sobjects` (POST create, PATCH update,
//! DELETE, and GET `composite/sobjects/{sObject}` to retrieve). Also
//! `GET /services/data/` (the versions) and `POST /services/oauth2/token`
//! (the refresh token flow). Each behaviour cites the Salesforce
//! documentation it follows.
//!
//! Every API request passes a gate, in this order: counting, injected faults,
//! the front end's limit on URI and headers (414 or 431, see `edge`), the
//! bearer access token (401 INVALID_SESSION_ID when missing, unknown or
//! expired), the org's daily request allocation (403 REQUEST_LIMIT_EXCEEDED),
//! then the endpoint. Responses carry `Sforce-Limit-Info: api-usage=N/LIMIT`
//! and a `Date` from the simulator's clock.

mod collections;
mod composite;
mod edge;
mod endpoints;
mod model;
mod oauth;
mod query;
mod soql;
mod store;
mod wide;

pub use oauth::signature as oauth_signature;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::clock::Clock;
use crate::server::Served;
use model::ApiError;
use oauth::Tokens;
use query::Locators;
use store::Store;

/// The API version the connector pins.
pub const API_VERSION: &str = "v59.0";
/// sObject Collections exist from API version 42.0.
const VERSIONS: std::ops::RangeInclusive<u32> = 42..=62;

pub struct SalesforceOptions {
    /// The access token valid from the start, for `token_ttl`.
    pub access_token: String,
    /// The refresh token the connected app was granted.
    pub refresh_token: String,
    /// The connected app's consumer key and secret.
    pub client_id: String,
    pub client_secret: String,
    /// How long an access token lives: "the session timeout in Salesforce"
    /// (two hours by default in Session Settings).
    pub token_ttl: Duration,
    /// API requests allowed in any 24 hours; `None` for no limit. Developer
    /// Edition orgs get 15,000 ("API Request Limits and Allocations").
    pub daily_limit: Option<u64>,
    pub clock: Clock,
    /// The loopback port to listen on; 0 picks a free one.
    pub port: u16,
}

impl Default for SalesforceOptions {
    fn default() -> Self {
        SalesforceOptions {
            access_token: "00D5g00000SIMORG!AR8AQsim_access_token".into(),
            refresh_token: "5Aep861sim_refresh_token".into(),
            client_id: "3MVG9sim_consumer_key".into(),
            client_secret: "sim_consumer_secret".into(),
            token_ttl: Duration::hours(2),
            daily_limit: Some(15_000),
            clock: Clock::default(),
            port: 0,
        }
    }
}

struct Shared {
    clock: Clock,
    store: Mutex<Store>,
    locators: Mutex<Locators>,
    tokens: Mutex<Tokens>,
    daily_limit: Mutex<Option<u64>>,
    /// the most ids one getDeleted call may find (EXCEEDED_ID_LIMIT past it)
    deleted_id_limit: AtomicUsize,
    /// when each API request of the last 24 hours was made
    usage: Mutex<VecDeque<DateTime<Utc>>>,
    faults: Mutex<VecDeque<u16>>,
    requests: AtomicU64,
    limited: AtomicU64,
    base_url: OnceLock<String>,
}

/// A running Salesforce simulator. Clones share the state; the server stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct SalesforceSim {
    shared: Arc<Shared>,
    served: Arc<Served>,
}

impl SalesforceSim {
    pub async fn start(opts: SalesforceOptions) -> anyhow::Result<SalesforceSim> {
        let port = opts.port;
        let now = opts.clock.now();
        let tokens = Tokens {
            refresh_token: opts.refresh_token,
            client_id: opts.client_id,
            client_secret: opts.client_secret,
            ttl: opts.token_ttl,
            issued: HashMap::from([(opts.access_token, now)]),
            expired: HashSet::new(),
            org: "00D5g00000SIMORG".into(),
        };
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(now)),
            locators: Mutex::new(Locators::default()),
            tokens: Mutex::new(tokens),
            daily_limit: Mutex::new(opts.daily_limit),
            deleted_id_limit: AtomicUsize::new(query::MAX_DELETED_IDS),
            usage: Mutex::new(VecDeque::new()),
            faults: Mutex::new(VecDeque::new()),
            requests: AtomicU64::new(0),
            limited: AtomicU64::new(0),
            base_url: OnceLock::new(),
            clock: opts.clock,
        });
        let clock = shared.clock.clone();
        let served =
            Served::start_on(crate::server::dated(router(shared.clone()), clock), port).await?;
        let _ = shared.base_url.set(served.base_url());
        Ok(SalesforceSim {
            shared,
            served: Arc::new(served),
        })
    }

    /// `http://127.0.0.1:PORT`, the simulated org's instance URL; the REST
    /// API lives under `/services/data`.
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    pub fn clock(&self) -> Clock {
        self.shared.clock.clone()
    }

    /// Creates a record as a person in Salesforce would: `fields` in the
    /// API's JSON shape (`{"LastName": "Smith"}`), validated as the API
    /// validates them, not counted as a request. Returns the 18-character id.
    pub fn insert(&self, object: &str, fields: Value) -> anyhow::Result<String> {
        let body = as_object(&fields)?;
        let now = self.shared.clock.now();
        let mut store = self.shared.store.lock().unwrap();
        let def = store
            .object(object)
            .ok_or_else(|| anyhow::anyhow!("sObject type '{object}' is not supported"))?;
        store::bind(def, body).map_err(api_err)?;
        store.create(object, body, now).map_err(item_err)
    }

    /// Updates fields of a live record.
    pub fn update(&self, id: &str, fields: Value) -> anyhow::Result<()> {
        let body = as_object(&fields)?;
        let now = self.shared.clock.now();
        let mut store = self.shared.store.lock().unwrap();
        let object = store
            .get(id)
            .map(|r| r.object)
            .ok_or_else(|| anyhow::anyhow!("no record {id}"))?;
        store::bind(store.object(object).expect("exists"), body).map_err(api_err)?;
        store.update(id, body, now).map_err(item_err)
    }

    /// Deletes a record: it moves to the Recycle Bin and the delete log.
    pub fn delete(&self, id: &str) -> anyhow::Result<()> {
        let now = self.shared.clock.now();
        self.shared
            .store
            .lock()
            .unwrap()
            .delete(id, now)
            .map_err(item_err)
    }

    /// Restores a record from the Recycle Bin (undelete), which modifies it.
    pub fn undelete(&self, id: &str) -> anyhow::Result<()> {
        let now = model::millis(self.shared.clock.now());
        let mut store = self.shared.store.lock().unwrap();
        let key = model::normalize_id(id).ok_or_else(|| anyhow::anyhow!("malformed id {id}"))?;
        let r = store
            .records
            .get_mut(&key)
            .filter(|r| r.deleted.is_some())
            .ok_or_else(|| anyhow::anyhow!("{id} is not in the Recycle Bin"))?;
        r.deleted = None;
        r.modstamp = now.max(r.modstamp);
        r.modified = r.modstamp;
        Ok(())
    }

    /// Every record of `object`, deleted ones too (`IsDeleted: true`), with
    /// every field, in creation order: what `queryAll` would return.
    pub fn records(&self, object: &str) -> Vec<Value> {
        let store = self.shared.store.lock().unwrap();
        let Some(def) = store.object(object) else {
            return Vec::new();
        };
        store
            .order
            .iter()
            .map(|id| &store.records[id])
            .filter(|r| r.object == def.name)
            .map(|r| store.render(r, API_VERSION, None))
            .collect()
    }

    /// One record with every field, deleted or not.
    pub fn record(&self, id: &str) -> Option<Value> {
        let store = self.shared.store.lock().unwrap();
        store.get(id).map(|r| store.render(r, API_VERSION, None))
    }

    /// The describe result of `object`.
    pub fn describe(&self, object: &str) -> Option<Value> {
        let store = self.shared.store.lock().unwrap();
        store.object(object).map(|o| o.describe(API_VERSION))
    }

    /// Every request received, whatever its answer.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// 403 REQUEST_LIMIT_EXCEEDED responses sent.
    pub fn limited_count(&self) -> u64 {
        self.shared.limited.load(Ordering::SeqCst)
    }

    /// API requests counted against the allocation in the last 24 hours.
    pub fn api_usage(&self) -> u64 {
        let now = self.shared.clock.now();
        let mut usage = self.shared.usage.lock().unwrap();
        prune(&mut usage, now);
        usage.len() as u64
    }

    /// Replaces the daily allocation; `None` removes it.
    pub fn set_daily_limit(&self, limit: Option<u64>) {
        *self.shared.daily_limit.lock().unwrap() = limit;
    }

    /// Replaces the 600,000 ids a getDeleted call may find before it answers
    /// EXCEEDED_ID_LIMIT, so that a test can reach the limit with a few records.
    pub fn set_deleted_id_limit(&self, max_ids: usize) {
        self.shared
            .deleted_id_limit
            .store(max_ids, Ordering::SeqCst);
    }

    /// Makes every access token issued so far invalid, as when sessions time
    /// out: the next API request answers 401 INVALID_SESSION_ID until a
    /// token from the refresh token flow is used.
    pub fn expire_tokens(&self) {
        self.shared.tokens.lock().unwrap().expire_all();
    }

    /// Makes the next `n` requests answer `status` with Salesforce's error
    /// body for it (502: a gateway's HTML page), before any other check.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.shared
            .faults
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(status, n as usize));
    }
}

fn as_object(v: &Value) -> anyhow::Result<&serde_json::Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| anyhow::anyhow!("fields must be a JSON object, not {v}"))
}

fn api_err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{} {}: {}", e.status, e.code, e.message)
}

fn item_err(e: model::ItemError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code, e.message)
}

/// Drops requests older than the rolling 24 hours the allocation counts.
fn prune(usage: &mut VecDeque<DateTime<Utc>>, now: DateTime<Utc>) {
    while usage
        .front()
        .is_some_and(|t| *t <= now - Duration::hours(24))
    {
        usage.pop_front();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let data = "/services/data/{version}";
    Router::new()
        .route("/services/data", get(endpoints::versions))
        .route("/services/data/", get(endpoints::versions))
        .route(&format!("{data}/query"), get(endpoints::run_query))
        .route(&format!("{data}/query/"), get(endpoints::run_query))
        .route(&format!("{data}/queryAll"), get(endpoints::run_query_all))
        .route(&format!("{data}/queryAll/"), get(endpoints::run_query_all))
        .route(
            &format!("{data}/query/{{locator}}"),
            get(endpoints::query_more),
        )
        .route(
            &format!("{data}/queryAll/{{locator}}"),
            get(endpoints::query_more),
        )
        .route(
            &format!("{data}/sobjects/{{object}}/describe"),
            get(endpoints::describe),
        )
        .route(
            &format!("{data}/sobjects/{{object}}/describe/"),
            get(endpoints::describe),
        )
        .route(
            &format!("{data}/sobjects/{{object}}/deleted"),
            get(endpoints::get_deleted),
        )
        .route(
            &format!("{data}/sobjects/{{object}}/deleted/"),
            get(endpoints::get_deleted),
        )
        .route(&format!("{data}/composite"), post(endpoints::composite))
        .route(&format!("{data}/composite/"), post(endpoints::composite))
        .route(
            &format!("{data}/composite/sobjects"),
            post(endpoints::create)
                .patch(endpoints::update)
                .delete(endpoints::delete),
        )
        .route(
            &format!("{data}/composite/sobjects/{{object}}"),
            get(endpoints::retrieve),
        )
        .route("/services/oauth2/token", post(endpoints::token))
        // "404: The requested resource couldn't be found. Check the URI for errors"
        .fallback(|| async { error(&ApiError::not_found()) })
        .method_not_allowed_fallback(|| async {
            error(&ApiError::new(
                405,
                "METHOD_NOT_ALLOWED",
                "HTTP Method not allowed for this resource",
            ))
        })
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// An error response: the status and the JSON array body.
fn error(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(e.body())).into_response()
}

fn reply(r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        Err(e) => error(&e),
    }
}

/// An injected fault, with the error codes the API uses for each status.
fn fault(status: u16) -> Response {
    let (code, message) = match status {
        502 => {
            let page = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>";
            return (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "text/html")], page).into_response();
        }
        400 => ("JSON_PARSER_ERROR", "Injected bad request."),
        401 => ("INVALID_SESSION_ID", "Session expired or invalid"),
        403 => ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        404 => ("NOT_FOUND", "The requested resource does not exist"),
        503 => ("SERVER_UNAVAILABLE", "Server temporarily unavailable, please retry."),
        _ => (
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: 1733155427-27453 (-1452346892)",
        ),
    };
    error(&ApiError::new(status, code, message))
}

fn unauthorized() -> Response {
    // 401: "The session ID or OAuth token used has expired or is invalid. The
    // response body contains the message and errorCode." (Status Codes and
    // Error Responses)
    let mut r = error(&ApiError::new(
        401,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    ));
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
    r
}

async fn gate(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    sh.requests.fetch_add(1, Ordering::SeqCst);
    let injected = sh.faults.lock().unwrap().pop_front();
    if let Some(status) = injected {
        return fault(status);
    }
    if let Some(refused) = edge::refuse(&req) {
        return refused;
    }
    // The token endpoint is OAuth, not the API; the versions resource "does
    // not count towards your org's limit" (Limit Info Header) and needs no token.
    let path = req.uri().path();
    if path == "/services/oauth2/token" || path.trim_end_matches('/') == "/services/data" {
        return next.run(req).await;
    }
    let now = sh.clock.now();
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim);
    if !token.is_some_and(|t| sh.tokens.lock().unwrap().valid(t, now)) {
        return unauthorized();
    }
    // "Total API Request Allocations": requests are counted over a rolling
    // 24 hours; past the allocation every call answers 403 with
    // REQUEST_LIMIT_EXCEEDED ("If the error code is REQUEST_LIMIT_EXCEEDED,
    // you've exceeded API request limits in your org", Status Codes and Error
    // Responses).
    let limit = *sh.daily_limit.lock().unwrap();
    let used = {
        let mut usage = sh.usage.lock().unwrap();
        prune(&mut usage, now);
        if limit.is_some_and(|l| usage.len() as u64 >= l) {
            None
        } else {
            usage.push_back(now);
            Some(usage.len())
        }
    };
    let Some(used) = used else {
        sh.limited.fetch_add(1, Ordering::SeqCst);
        return error(&ApiError::new(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        ));
    };
    let mut resp = next.run(req).await;
    // "This response header is returned in each request to REST API"
    // (Limit Info Header): `api-usage=used/allocation`.
    if let Some(limit) = limit {
        if let Ok(v) = HeaderValue::from_str(&format!("api-usage={used}/{limit}")) {
            resp.headers_mut().insert("sforce-limit-info", v);
        }
    }
    resp
}
