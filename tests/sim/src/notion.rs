//! A simulator of the Notion API, served on loopback, in both data models its
//! `Notion-Version` header selects: up to 2022-06-28 a database is one table;
//! from 2025-09-03 a database contains data sources (see `objects`).
//!
//! Endpoints: `GET /v1/databases/{id}`, `POST /v1/databases/{id}/query` (up to
//! 2022-06-28), `GET /v1/data_sources/{id}`, `POST /v1/data_sources/{id}/query`
//! (from 2025-09-03), `POST /v1/pages`, `GET /v1/pages/{id}`, `PATCH
//! /v1/pages/{id}`, `GET /v1/pages/{id}/properties/{property_id}`. Each
//! behaviour cites the page of https://developers.notion.com it follows. Around them, every
//! request passes a gate, in this order: counting, injected faults, bearer
//! token (401), `Notion-Version` header (400), rate limit (429).
//!
//! Webhooks go the other way: [`NotionSim::webhook_delivery`] builds a signed
//! event delivery (headers and raw body) for the test to POST to the receiver.

mod api;
mod filter;
mod items;
mod model;
mod objects;
mod query;
mod store;
mod webhook;
mod write;

pub use webhook::{signature as webhook_signature, SIGNATURE_HEADER};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::server::Served;
use model::{normalize_id, ApiError, ApiVersion, PERSON_USER};
use store::{PageUpdate, Store};

/// A token bucket: `burst` requests at once, refilled at `per_second`.
/// Notion: "The rate limit for incoming requests per integration is an average
/// of three requests per second. Some bursts beyond the average rate are
/// allowed." (Request limits: Rate limits).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 3.0,
            burst: 10,
        }
    }
}

pub struct NotionOptions {
    /// The integration token expected as `Authorization: Bearer <token>`.
    pub token: String,
    /// `None` turns rate limiting off (benchmarks).
    pub rate_limit: Option<RateLimit>,
    pub clock: Clock,
    /// The loopback port to listen on; 0 picks a free one.
    pub port: u16,
}

impl Default for NotionOptions {
    fn default() -> Self {
        NotionOptions {
            token: "secret_sim_notion".into(),
            rate_limit: Some(RateLimit::default()),
            clock: Clock::default(),
            port: 0,
        }
    }
}

struct Bucket {
    limit: Option<RateLimit>,
    tokens: f64,
    at: DateTime<Utc>,
}

impl Bucket {
    fn new(limit: Option<RateLimit>, now: DateTime<Utc>) -> Self {
        Bucket {
            limit,
            tokens: limit.map_or(0.0, |l| l.burst as f64),
            at: now,
        }
    }

    /// Takes one token, or says how many whole seconds to wait: Retry-After "is
    /// set as an integer number of seconds (in decimal). Requests made after
    /// waiting this minimum amount of time should no longer be rate limited."
    fn take(&mut self, now: DateTime<Utc>) -> Result<(), u64> {
        let Some(l) = self.limit else { return Ok(()) };
        let elapsed = (now - self.at)
            .num_microseconds()
            .unwrap_or(i64::MAX)
            .max(0) as f64
            / 1e6;
        self.tokens = (self.tokens + elapsed * l.per_second).min(l.burst as f64);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - self.tokens) / l.per_second).ceil() as u64).max(1))
        }
    }
}

struct Shared {
    token: String,
    clock: Clock,
    store: Mutex<Store>,
    bucket: Mutex<Bucket>,
    faults: Mutex<VecDeque<u16>>,
    requests: AtomicU64,
    limited: AtomicU64,
}

/// A running Notion simulator. Clones share the state; the server stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct NotionSim {
    shared: Arc<Shared>,
    served: Arc<Served>,
}

impl NotionSim {
    pub async fn start(opts: NotionOptions) -> anyhow::Result<NotionSim> {
        let port = opts.port;
        let now = opts.clock.now();
        let shared = Arc::new(Shared {
            token: opts.token,
            bucket: Mutex::new(Bucket::new(opts.rate_limit, now)),
            clock: opts.clock,
            store: Mutex::new(Store::default()),
            faults: Mutex::new(VecDeque::new()),
            requests: AtomicU64::new(0),
            limited: AtomicU64::new(0),
        });
        let clock = shared.clock.clone();
        let served =
            Served::start_on(crate::server::dated(router(shared.clone()), clock), port).await?;
        Ok(NotionSim {
            shared,
            served: Arc::new(served),
        })
    }

    /// `http://127.0.0.1:PORT`; the API lives under `/v1`.
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    pub fn clock(&self) -> Clock {
        self.shared.clock.clone()
    }

    /// Creates a database with the given `(name, type)` properties, e.g.
    /// `("Name", "title"), ("Status", "select")`; a title property "Name" is
    /// added when none is given. It holds one data source of the same title
    /// and properties. Returns the database id.
    /// A database of tasks, as the demo, the tests and the benchmarks sync
    /// them: Name (title), Email, Status (select) and Points.
    pub fn create_tasks_database(&self, title: &str) -> String {
        self.create_database(
            title,
            &[
                ("Name", "title"),
                ("Email", "email"),
                ("Status", "select"),
                ("Points", "number"),
            ],
        )
    }

    pub fn create_database(&self, title: &str, properties: &[(&str, &str)]) -> String {
        let now = self.shared.clock.now();
        let mut store = self.shared.store.lock().unwrap();
        store.add_database(title, properties, now)
    }

    /// Adds a data source to database `db`, as "Add data source" in the Notion
    /// app does; returns its id, or `None` when there is no such database.
    pub fn add_data_source(
        &self,
        db: &str,
        title: &str,
        properties: &[(&str, &str)],
    ) -> Option<String> {
        let now = self.shared.clock.now();
        let mut store = self.shared.store.lock().unwrap();
        store.add_data_source(db, title, properties, now)
    }

    /// The ids of database `db`'s data sources, in the order they were added.
    pub fn data_sources(&self, db: &str) -> Vec<String> {
        let store = self.shared.store.lock().unwrap();
        normalize_id(db)
            .and_then(|k| store.dbs.get(&k).map(|d| d.sources.clone()))
            .unwrap_or_default()
    }

    /// Adds a page as a person in the Notion app would: properties in the API's
    /// write shape, no rate limit, not counted as a request. `target` is a data
    /// source, or a database (its first data source).
    pub fn insert_page(&self, target: &str, properties: Value) -> anyhow::Result<String> {
        let now = self.shared.clock.now();
        let mut store = self.shared.store.lock().unwrap();
        let ds = store
            .source_of(target)
            .unwrap_or_else(|| target.to_string());
        store
            .create_page(&ds, &properties, Value::Null, Value::Null, PERSON_USER, now)
            .map_err(err)
    }

    pub fn update_page(&self, page: &str, properties: Value) -> anyhow::Result<()> {
        let upd = PageUpdate {
            properties: Some(&properties),
            ..Default::default()
        };
        self.edit(page, upd)
    }

    /// Moves a page to the trash (as "Delete" in the Notion app does).
    pub fn trash_page(&self, page: &str) -> anyhow::Result<()> {
        self.edit(
            page,
            PageUpdate {
                in_trash: Some(true),
                ..Default::default()
            },
        )
    }

    /// Restores a page from the trash.
    pub fn restore_page(&self, page: &str) -> anyhow::Result<()> {
        self.edit(
            page,
            PageUpdate {
                in_trash: Some(false),
                ..Default::default()
            },
        )
    }

    fn edit(&self, page: &str, upd: PageUpdate<'_>) -> anyhow::Result<()> {
        let now = self.shared.clock.now();
        self.shared
            .store
            .lock()
            .unwrap()
            .update_page(page, upd, PERSON_USER, now)
            .map_err(err)
    }

    /// All pages of a database (each data source in turn) or of one data
    /// source, trashed ones included, as API page objects (2022-06-28 shape),
    /// in the default query order. Values are whole: a relation or people
    /// list is not cut at 25 as the API's page objects cut it.
    pub fn pages(&self, db: &str) -> Vec<Value> {
        self.shared.store.lock().unwrap().all_pages(db)
    }

    /// A page as an API page object, with every value whole (see [`Self::pages`]).
    pub fn page(&self, id: &str) -> Option<Value> {
        self.shared.store.lock().unwrap().page_held(id)
    }

    /// The database object as `GET /v1/databases/{id}` returns it: with
    /// 2022-06-28 while it has one data source, else with 2025-09-03.
    pub fn database(&self, id: &str) -> Option<Value> {
        let store = self.shared.store.lock().unwrap();
        let key = normalize_id(id)?;
        if let Ok(ds) = store.legacy_source(&key) {
            return Some(ds.legacy_database_json());
        }
        let db = store.dbs.get(&key)?;
        let sources: Vec<_> = db.sources.iter().map(|s| &store.sources[s]).collect();
        Some(db.to_json(&sources))
    }

    /// A webhook event delivery as Notion sends it: the headers (`content-type`,
    /// `X-Notion-Signature: sha256=<hex of HMAC-SHA256(verification_token, body)>`)
    /// and the raw JSON body of a `kind` event (`page.created`,
    /// `page.properties_updated`, `page.deleted`, ...) about `page_id`, with the
    /// page's database as `data.parent`, its last editor as author, and the
    /// simulator's clock as `timestamp`. Panics when the page does not exist.
    pub fn webhook_delivery(
        &self,
        verification_token: &str,
        kind: &str,
        page_id: &str,
    ) -> (Vec<(String, String)>, Vec<u8>) {
        let now = self.shared.clock.now();
        let event = {
            let store = self.shared.store.lock().unwrap();
            normalize_id(page_id)
                .and_then(|id| store.pages.get(&id))
                .map(|page| {
                    let db = &store.sources[&page.ds].db;
                    webhook::page_event(kind, &page.id, db, &page.last_edited_by, now)
                })
        };
        let event = event.unwrap_or_else(|| panic!("no page {page_id} in the simulator"));
        webhook::delivery(&event, Some(verification_token))
    }

    /// The one-time, unsigned subscription verification request:
    /// `{"verification_token": "..."}` (Webhooks: Verifying the subscription).
    pub fn webhook_verification(
        &self,
        verification_token: &str,
    ) -> (Vec<(String, String)>, Vec<u8>) {
        webhook::delivery(&json!({ "verification_token": verification_token }), None)
    }

    /// Every request received, as `METHOD /path`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.served.requests()
    }

    /// Every API request received, whatever its answer.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// 429 responses sent.
    pub fn rate_limited_count(&self) -> u64 {
        self.shared.limited.load(Ordering::SeqCst)
    }

    /// Replaces the rate limit (a full bucket); `None` turns it off.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        *self.shared.bucket.lock().unwrap() = Bucket::new(limit, self.shared.clock.now());
    }

    /// Makes the next `n` requests answer `status` with Notion's error body for
    /// it (502: a non-JSON gateway page), before any other check.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.shared
            .faults
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(status, n as usize));
    }
}

fn err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{} ({}): {}", e.status, e.code, e.message)
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/databases/{id}", get(api::get_database))
        .route("/v1/databases/{id}/query", post(api::query_database))
        .route("/v1/data_sources/{id}", get(api::get_data_source))
        .route("/v1/data_sources/{id}/query", post(api::query_data_source))
        .route("/v1/pages", post(api::create_page))
        .route("/v1/pages/{id}", get(api::get_page).patch(api::update_page))
        .route(
            "/v1/pages/{id}/properties/{property}",
            get(api::get_property_item),
        )
        // "invalid_request_url: The request URL is not valid." (Status codes)
        .fallback(|| async { error(400, "invalid_request_url", "Invalid request URL.") })
        .method_not_allowed_fallback(|| async {
            error(400, "invalid_request_url", "Invalid request URL.")
        })
        // Oversized bodies are judged by the handlers (see `body`), not cut off here.
        .layer(DefaultBodyLimit::max(16 << 20))
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// An error response with Notion's body: `{"object":"error","status","code",
/// "message","request_id"}` (Status codes: "Error responses contain more detail
/// about the error in the response body, in the "code" and "message" properties").
fn error(status: u16, code: &str, message: &str) -> Response {
    error_with(status, code, message, None)
}

/// The error response of `e`, with its `additional_data` where it has one.
fn api_error(e: &ApiError) -> Response {
    error_with(e.status, e.code, &e.message, e.additional_data.as_ref())
}

fn error_with(status: u16, code: &str, message: &str, extra: Option<&Value>) -> Response {
    let mut body = json!({
        "object": "error",
        "status": status,
        "code": code,
        "message": message,
        "request_id": model::new_id(),
    });
    if let Some(extra) = extra {
        body["additional_data"] = extra.clone();
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// An injected fault. Codes and messages from Status codes; a 502 comes from
/// Notion's gateway and is not a JSON error object (the JS SDK reports it as
/// UnknownHTTPResponseError, github.com/makenotion/notion-sdk-js/issues/457).
fn fault(status: u16) -> Response {
    let (code, message) = match status {
        502 => {
            let page = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>";
            return (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                page,
            )
                .into_response();
        }
        400 => ("validation_error", "Injected validation error."),
        401 => ("unauthorized", "API token is invalid."),
        403 => (
            "restricted_resource",
            "Insufficient permissions for this endpoint.",
        ),
        404 => ("object_not_found", "Could not find object."),
        409 => (
            "conflict_error",
            "Conflict occurred while saving. Please try again.",
        ),
        429 => (
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
        ),
        503 => (
            "service_unavailable",
            "Notion is unavailable, try again later.",
        ),
        // Request limits (https://developers.notion.com/reference/request-limits):
        // "Connections should accommodate variable rate limits by handling HTTP
        // 429 and 529 responses and respecting the Retry-After response header
        // value [...] (A 529 carries the "service_overload" code and means
        // Notion is temporarily overloaded; handle it the same way.)"
        529 => (
            "service_overload",
            "Notion is temporarily overloaded. Please try again later.",
        ),
        504 => (
            "gateway_timeout",
            "Notion timed out while attempting to complete this request. Please try again later.",
        ),
        _ => ("internal_server_error", "Unexpected error occurred."),
    };
    let mut r = error(status, code, message);
    if matches!(status, 429 | 529) {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

async fn gate(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    sh.requests.fetch_add(1, Ordering::SeqCst);
    let injected = sh.faults.lock().unwrap().pop_front();
    if let Some(status) = injected {
        if status == 429 {
            sh.limited.fetch_add(1, Ordering::SeqCst);
        }
        return fault(status);
    }
    // "unauthorized: The bearer token is not valid." (Status codes; Authorization).
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth.and_then(|a| a.strip_prefix("Bearer ")) != Some(sh.token.as_str()) {
        return error(401, "unauthorized", "API token is invalid.");
    }
    // "missing_version: The request is missing the required Notion-Version header"
    // (Status codes; Versioning: versions are dates, e.g. 2022-06-28).
    let version = req
        .headers()
        .get("notion-version")
        .and_then(|v| v.to_str().ok());
    match version {
        None => {
            return error(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
            )
        }
        Some(v) if chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err() || v.len() != 10 => {
            let msg = format!("Notion-Version header failed validation: Notion-Version header should be a date of the form YYYY-MM-DD, such as `2022-06-28`, instead was `{v}`.");
            return error(400, "missing_version", &msg);
        }
        Some(_) => {}
    }
    let version = ApiVersion::from_header(version.unwrap_or_default());
    let mut req = req;
    req.extensions_mut().insert(version);
    // Request limits: Rate limits — 429 "rate_limited" with Retry-After.
    let waited = sh.bucket.lock().unwrap().take(sh.clock.now());
    if let Err(secs) = waited {
        sh.limited.fetch_add(1, Ordering::SeqCst);
        let mut r = error(
            429,
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return r;
    }
    next.run(req).await
}
