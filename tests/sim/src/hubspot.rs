//! A simulator of the HubSpot CRM API v3 (contacts, companies, deals), served
//! on loopback.
//!
//! Endpoints (https://developers.hubspot.com/docs/api/crm/understanding-the-crm):
//! `GET /crm/v3/objects/{type}` (list, `limit` ≤ 100, `after`, `properties`,
//! `archived`), `POST /crm/v3/objects/{type}` (create), `GET|PATCH|DELETE
//! /crm/v3/objects/{type}/{id}`, `POST /crm/v3/objects/{type}/search`,
//! `POST /crm/v3/objects/{type}/batch/{create,update,archive,read}`,
//! `POST /crm/v3/objects/{type}/merge` and `GET /crm/v3/properties/{type}`. Each behaviour cites the page it follows.
//! Around them every request passes a gate, in this order: counting,
//! injected faults, the private app's bearer token (401), rate limits (429);
//! every authenticated response carries the `X-HubSpot-RateLimit-*` headers
//! and, like every simulator here, a `Date` from the simulator's clock.
//!
//! Webhooks go the other way: after [`HubSpotSim::subscribe_webhooks`], every
//! change of the store (through the API or this handle) becomes an event, and
//! [`HubSpotSim::webhook_delivery`] builds the next signed batch for the test
//! to POST to the receiver.

mod api;
mod batch;
mod limits;
mod merge;
mod model;
mod search;
mod store;
mod values;
mod webhook;

pub use batch::BatchResults;
pub use limits::{Policy, RateLimit};
pub use model::ObjectType;
pub use webhook::{
    signature_v3 as webhook_signature_v3, Delivery as WebhookDelivery, Format as WebhookFormat,
    APP_ID, MAX_BATCH as WEBHOOK_MAX_BATCH, PORTAL_ID, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::server::Served;
use api::{
    batch_op, create_one, delete_one, get_one, list, merge_two, patch_one, properties,
    search_objects,
};
use limits::Limiter;
use model::{correlation_id, ApiError, PropType, PropertyDef};
use store::Store;

/// The largest `limit` of a list request (Objects: "limit: The maximum number
/// of results to display per page", at most 100).
pub const MAX_LIST_LIMIT: usize = 100;

pub struct HubSpotOptions {
    /// The private app's access token, expected as `Authorization: Bearer <token>`.
    pub token: String,
    /// The burst limit; `None` turns it off (benchmarks).
    pub rate_limit: Option<RateLimit>,
    /// Search requests allowed per second; `None` turns the limit off.
    pub search_per_second: Option<u32>,
    /// Requests allowed per day of the account's `time_zone`; `None` for no
    /// daily limit.
    pub daily_budget: Option<u64>,
    /// Whether batch results echo `objectWriteTraceId`, and in what order
    /// they come.
    pub batch_results: BatchResults,
    /// The account's time zone: its midnight renews the daily limit.
    pub time_zone: chrono::FixedOffset,
    pub clock: Clock,
    /// The loopback port to listen on; 0 picks a free one.
    pub port: u16,
}

impl Default for HubSpotOptions {
    fn default() -> Self {
        HubSpotOptions {
            token: "pat-na1-sim-hubspot".into(),
            rate_limit: Some(RateLimit::default()),
            search_per_second: Some(4),
            daily_budget: Some(250_000),
            batch_results: BatchResults::default(),
            time_zone: chrono::FixedOffset::east_opt(0).expect("UTC"),
            clock: Clock::default(),
            port: 0,
        }
    }
}

struct Shared {
    token: String,
    clock: Clock,
    store: Mutex<Store>,
    limiter: Mutex<Limiter>,
    faults: Mutex<VecDeque<u16>>,
    batch_results: Mutex<BatchResults>,
    requests: AtomicU64,
    limited: AtomicU64,
}

/// A running HubSpot simulator. Clones share the state; the server stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct HubSpotSim {
    shared: Arc<Shared>,
    served: Arc<Served>,
}

fn object_type(name: &str) -> anyhow::Result<ObjectType> {
    ObjectType::parse(name)
        .ok_or_else(|| anyhow::anyhow!("no object type `{name}` in the simulator"))
}

fn err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{} ({}): {}", e.status, e.category, e.message)
}

impl HubSpotSim {
    pub async fn start(opts: HubSpotOptions) -> anyhow::Result<HubSpotSim> {
        let port = opts.port;
        let now = opts.clock.now();
        let shared = Arc::new(Shared {
            token: opts.token,
            store: Mutex::new(Store::new(now)),
            limiter: Mutex::new({
                let mut l = Limiter::new(
                    opts.rate_limit,
                    opts.search_per_second,
                    opts.daily_budget,
                    now,
                );
                l.set_time_zone(opts.time_zone, now);
                l
            }),
            clock: opts.clock,
            faults: Mutex::new(VecDeque::new()),
            batch_results: Mutex::new(opts.batch_results),
            requests: AtomicU64::new(0),
            limited: AtomicU64::new(0),
        });
        let clock = shared.clock.clone();
        let served =
            Served::start_on(crate::server::dated(router(shared.clone()), clock), port).await?;
        Ok(HubSpotSim {
            shared,
            served: Arc::new(served),
        })
    }

    /// `http://127.0.0.1:PORT`; the API lives under `/crm/v3`.
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    pub fn clock(&self) -> Clock {
        self.shared.clock.clone()
    }

    /// Adds a custom property (`type`: string, number, date, datetime,
    /// enumeration, bool; `field_type`: text, number, date, select, radio,
    /// checkbox, booleancheckbox), as "Create a property" does.
    pub fn define_property(
        &self,
        object_type: &str,
        name: &str,
        kind: &str,
        field_type: &str,
        options: &[&str],
    ) -> anyhow::Result<()> {
        let ty = self::object_type(object_type)?;
        let kind =
            PropType::parse(kind).ok_or_else(|| anyhow::anyhow!("no property type `{kind}`"))?;
        let mut def = PropertyDef::new(name, kind, field_type, self.shared.clock.now());
        def.options = options.iter().map(|o| o.to_string()).collect();
        let mut store = self.shared.store.lock().unwrap();
        let props = &mut store.of_mut(ty).props;
        anyhow::ensure!(!props.contains_key(name), "property `{name}` exists");
        props.insert(name.to_string(), def);
        Ok(())
    }

    /// Creates a record as a person in the HubSpot app would: properties in the
    /// API's write shape (`{"email": "a@b.co"}`), validated, not counted, no
    /// rate limit. Returns the id.
    pub fn insert(&self, object_type: &str, properties: Value) -> anyhow::Result<String> {
        let ty = self::object_type(object_type)?;
        let now = self.shared.clock.now();
        let mut store = self.shared.store.lock().unwrap();
        Ok(store.create(ty, &properties, now).map_err(err)?.to_string())
    }

    /// Updates an active record's properties.
    pub fn update(&self, object_type: &str, id: &str, properties: Value) -> anyhow::Result<()> {
        let ty = self::object_type(object_type)?;
        let now = self.shared.clock.now();
        let mut store = self.shared.store.lock().unwrap();
        store.update(ty, id, &properties, now).map_err(err)?;
        Ok(())
    }

    /// Archives a record (as "Delete" in the HubSpot app does).
    pub fn archive(&self, object_type: &str, id: &str) -> anyhow::Result<()> {
        let ty = self::object_type(object_type)?;
        let now = self.shared.clock.now();
        let archived = self.shared.store.lock().unwrap().archive(ty, id, now);
        anyhow::ensure!(archived, "no active {} record {id}", ty.name());
        Ok(())
    }

    /// Restores an archived record.
    pub fn restore(&self, object_type: &str, id: &str) -> anyhow::Result<()> {
        let ty = self::object_type(object_type)?;
        let now = self.shared.clock.now();
        let restored = self.shared.store.lock().unwrap().restore(ty, id, now);
        anyhow::ensure!(restored, "no archived {} record {id}", ty.name());
        Ok(())
    }

    /// Permanently deletes a contact (GDPR delete), archived or not.
    pub fn gdpr_delete(&self, object_type: &str, id: &str) -> anyhow::Result<()> {
        let ty = self::object_type(object_type)?;
        let now = self.shared.clock.now();
        let deleted = self.shared.store.lock().unwrap().gdpr_delete(ty, id, now);
        anyhow::ensure!(deleted, "no {} record {id}", ty.name());
        Ok(())
    }

    /// Merges record `other` into record `primary` as "Merge" in the app
    /// does: a new record holds the result and both ids point to it (see
    /// `merge.rs`). Returns the new id.
    pub fn merge(&self, object_type: &str, primary: &str, other: &str) -> anyhow::Result<String> {
        let ty = self::object_type(object_type)?;
        let now = self.shared.clock.now();
        let mut store = self.shared.store.lock().unwrap();
        Ok(store
            .merge(ty, primary, other, now)
            .map_err(err)?
            .to_string())
    }

    /// Subscribes the app to every event of contacts, companies and deals
    /// (`propertyChange` for every property) in the legacy format
    /// (`contact.creation`): from now on each change of the store is queued
    /// for [`HubSpotSim::webhook_delivery`]. Subscribing again keeps what is
    /// queued.
    pub fn subscribe_webhooks(&self) {
        self.subscribe_webhooks_as(WebhookFormat::Legacy);
    }

    /// [`HubSpotSim::subscribe_webhooks`] in a format of choice: generic
    /// subscriptions send `object.creation` with `objectTypeId`.
    pub fn subscribe_webhooks_as(&self, format: WebhookFormat) {
        let mut store = self.shared.store.lock().unwrap();
        store.webhooks.get_or_insert_with(Default::default).format = format;
    }

    /// Changes queued and not yet delivered.
    pub fn pending_webhook_events(&self) -> usize {
        let store = self.shared.store.lock().unwrap();
        store.webhooks.as_ref().map_or(0, |w| w.pending())
    }

    /// The next webhook delivery as HubSpot sends it to `target_url` (the
    /// subscription's target URL): the headers (`X-HubSpot-Signature-v3`
    /// signed with `client_secret`, `X-HubSpot-Request-Timestamp` from the
    /// simulator's clock, and the legacy v1 signature) and the raw body, a
    /// JSON array of the oldest queued changes, at most 100. `None` when
    /// nothing changed since the last delivery. Panics without
    /// [`HubSpotSim::subscribe_webhooks`].
    pub fn webhook_delivery(
        &self,
        client_secret: &str,
        target_url: &str,
    ) -> Option<webhook::Delivery> {
        self.webhook_delivery_at(client_secret, target_url, self.shared.clock.now())
    }

    /// [`HubSpotSim::webhook_delivery`] signed at `at`: a delivery captured
    /// then, and replayed now.
    pub fn webhook_delivery_at(
        &self,
        client_secret: &str,
        target_url: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<webhook::Delivery> {
        let events = {
            let mut store = self.shared.store.lock().unwrap();
            let outbox = store
                .webhooks
                .as_mut()
                .expect("webhook_delivery needs subscribe_webhooks first");
            outbox.next_batch()
        };
        if events.is_empty() {
            return None;
        }
        Some(webhook::delivery(client_secret, target_url, &events, at))
    }

    /// Every record of a type, archived ones included, in id order, as API
    /// objects with every property that has a value.
    pub fn records(&self, object_type: &str) -> Vec<Value> {
        let Ok(ty) = self::object_type(object_type) else {
            return Vec::new();
        };
        let store = self.shared.store.lock().unwrap();
        store
            .of(ty)
            .records
            .values()
            .map(|r| store.render_all(ty, r))
            .collect()
    }

    /// One record (archived or not) with every property that has a value.
    pub fn record(&self, object_type: &str, id: &str) -> Option<Value> {
        let ty = self::object_type(object_type).ok()?;
        let store = self.shared.store.lock().unwrap();
        let r = store.of(ty).records.get(&id.parse().ok()?)?;
        Some(store.render_all(ty, r))
    }

    /// Every API request received, whatever its answer.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// 429 responses sent.
    pub fn rate_limited_count(&self) -> u64 {
        self.shared.limited.load(Ordering::SeqCst)
    }

    /// Replaces the burst limit (an empty window); `None` turns it off.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let mut limiter = self.shared.limiter.lock().unwrap();
        let time_zone = limiter.time_zone;
        let now = self.shared.clock.now();
        *limiter = Limiter::new(limit, limiter.search_per_second, limiter.daily_budget, now);
        limiter.set_time_zone(time_zone, now);
    }

    /// Replaces the search limit (requests per second); `None` turns it off.
    pub fn set_search_per_second(&self, per_second: Option<u32>) {
        self.shared.limiter.lock().unwrap().search_per_second = per_second;
    }

    /// Changes how batch results answer from now on: with or without the
    /// `objectWriteTraceId` echo, shuffled or in the order of the inputs.
    pub fn set_batch_results(&self, how: BatchResults) {
        *self.shared.batch_results.lock().unwrap() = how;
    }

    /// Makes the next `n` requests answer `status` with HubSpot's error body for
    /// it (502: a non-JSON gateway page), before any other check.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.shared
            .faults
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(status, n as usize));
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/crm/v3/objects/{type}", get(list).post(create_one))
        .route("/crm/v3/objects/{type}/search", post(search_objects))
        .route("/crm/v3/objects/{type}/merge", post(merge_two))
        .route("/crm/v3/objects/{type}/batch/{action}", post(batch_op))
        .route(
            "/crm/v3/objects/{type}/{id}",
            get(get_one).patch(patch_one).delete(delete_one),
        )
        .route("/crm/v3/properties/{type}", get(properties))
        .fallback(|| async {
            error(&ApiError::not_found(
                "Unable to find a resource at this path",
            ))
        })
        .method_not_allowed_fallback(|| async {
            error(&ApiError::new(
                405,
                "METHOD_NOT_ALLOWED",
                "HTTP method not allowed",
            ))
        })
        .layer(DefaultBodyLimit::max(16 << 20))
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

fn error(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(e.body())).into_response()
}

/// The 429 body ("API usage guidelines": `errorType` RATE_LIMIT and the
/// `policyName` of the limit reached). No `Retry-After`: HubSpot sends none.
fn rate_limited(policy: Policy) -> Response {
    let body = json!({
        "status": "error",
        "message": policy.message(),
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy.name(),
    });
    (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
}

/// 401 for a missing or wrong token ("Authentication credentials not found",
/// category INVALID_AUTHENTICATION).
fn unauthorized() -> Response {
    error(&ApiError::new(
        401,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    ))
}

/// An injected fault. A 502 comes from the edge, not the API, and is HTML.
fn fault(status: u16) -> Response {
    let (category, message) = match status {
        502 => {
            let page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>";
            return (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                page,
            )
                .into_response();
        }
        401 => return unauthorized(),
        429 => return rate_limited(Policy::TenSecondlyRolling),
        400 => ("VALIDATION_ERROR", "Injected validation error."),
        403 => (
            "MISSING_SCOPES",
            "This app hasn't been granted all required scopes to make this call.",
        ),
        404 => ("OBJECT_NOT_FOUND", "resource not found"),
        409 => ("CONFLICT", "Injected conflict."),
        503 => (
            "SERVICE_UNAVAILABLE",
            "Service unavailable, try again later.",
        ),
        504 => ("GATEWAY_TIMEOUT", "The request timed out."),
        _ => ("INTERNAL_ERROR", "internal error"),
    };
    error(&ApiError::new(status, category, message))
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
    // Private apps authenticate with "Authorization: Bearer YOUR_TOKEN"
    // (Private apps: "Make API calls with your app's access token").
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth.and_then(|a| a.strip_prefix("Bearer ")) != Some(sh.token.as_str()) {
        return unauthorized();
    }
    let search = req.method() == Method::POST && req.uri().path().ends_with("/search");
    let now = sh.clock.now();
    let admitted = sh.limiter.lock().unwrap().admit(now, search);
    let mut resp = match admitted {
        Err(policy) => {
            sh.limited.fetch_add(1, Ordering::SeqCst);
            rate_limited(policy)
        }
        Ok(()) => next.run(req).await,
    };
    let headers = sh.limiter.lock().unwrap().headers(sh.clock.now());
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
    resp
}
