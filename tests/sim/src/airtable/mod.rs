//! A simulator of the Airtable Web API (https://airtable.com/developers/web/api).
//!
//! Served on loopback; `base_url()` stands in for `https://api.airtable.com`.
//! Implemented: list records (GET and `POST .../listRecords`) with pageSize,
//! maxRecords, offset, filterByFormula, fields, sort, view and
//! returnFieldsByFieldId; get, create, update (PATCH/PUT), delete records; the
//! base schema (`GET /v0/meta/bases/{baseId}/tables`); bearer-token auth; the
//! per-base rate limit with its penalty; fault injection for tests; the
//! readings of a refused batch write ([`BatchFailure`]); webhooks created,
//! listed and refreshed, expiring 7 days after their creation or last refresh.
//! Notifications go the other way: [`AirtableSim::webhook_notification`]
//! builds a signed notification for the test to POST to the receiver.

mod endpoints;
mod formula;
mod list;
mod store;
mod webhook;

pub use endpoints::BatchFailure;
pub use webhook::{content_mac as webhook_content_mac, MAC_HEADER};

use crate::clock::Clock;
use crate::parse::pct_decode;
use crate::server::Served;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};
use endpoints::{by_id, create, delete_many, meta_tables, update_many, update_one};
use list::{Iter, ListParams};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use store::{new_id, to_ms, ApiError, Base, Table};

/// Rate limits (https://airtable.com/developers/web/api/rate-limits): "The API
/// is limited to 5 requests per second per base ... If you exceed these rates,
/// you will receive a 429 status code and will need to wait 30 seconds before
/// subsequent requests will succeed."
#[derive(Clone, Copy, Debug)]
pub struct AirtableRateLimit {
    pub per_second: u32,
    pub penalty: std::time::Duration,
}

#[derive(Clone)]
pub struct AirtableOptions {
    pub token: String,
    /// None turns rate limiting off (benchmarks).
    pub rate_limit: Option<AirtableRateLimit>,
    /// How long an unused list offset stays valid. Airtable documents only that
    /// iteration "may timeout due to client inactivity"; 5 minutes here.
    pub offset_ttl: chrono::Duration,
    pub clock: Clock,
    /// The loopback port to listen on; 0 picks a free one.
    pub port: u16,
    /// What a refused batch write leaves written (the docs do not say).
    pub batch_failure: BatchFailure,
}

impl Default for AirtableOptions {
    fn default() -> Self {
        AirtableOptions {
            token: "pat_sim_airtable".into(),
            rate_limit: Some(AirtableRateLimit {
                per_second: 5,
                penalty: std::time::Duration::from_secs(30),
            }),
            offset_ttl: chrono::Duration::minutes(5),
            clock: Clock::default(),
            port: 0,
            batch_failure: BatchFailure::default(),
        }
    }
}

#[derive(Default)]
struct RateState {
    window: VecDeque<DateTime<Utc>>,
    penalty_until: Option<DateTime<Utc>>,
}

struct SimState {
    bases: HashMap<String, Base>,
    iters: HashMap<String, Iter>,
    rate_limit: Option<AirtableRateLimit>,
    rate: HashMap<String, RateState>,
    fail: Option<(u32, u16)>,
    requests: u64,
    limited: u64,
    /// the id of the one webhook each base notifies from, by base id
    webhooks: HashMap<String, String>,
    /// webhooks created through the API (or `register_webhook`)
    hooks: Vec<webhook::Hook>,
    batch_failure: BatchFailure,
}

struct Inner {
    token: String,
    offset_ttl: chrono::Duration,
    clock: Clock,
    state: Mutex<SimState>,
}

/// A running Airtable simulator; clones share it. It stops when the last clone drops.
#[derive(Clone)]
pub struct AirtableSim {
    inner: Arc<Inner>,
    served: Arc<Served>,
}

impl AirtableSim {
    pub async fn start(opts: AirtableOptions) -> anyhow::Result<AirtableSim> {
        let port = opts.port;
        let inner = Arc::new(Inner {
            token: opts.token,
            offset_ttl: opts.offset_ttl,
            clock: opts.clock,
            state: Mutex::new(SimState {
                bases: HashMap::new(),
                iters: HashMap::new(),
                rate_limit: opts.rate_limit,
                rate: HashMap::new(),
                fail: None,
                requests: 0,
                limited: 0,
                webhooks: HashMap::new(),
                hooks: Vec::new(),
                batch_failure: opts.batch_failure,
            }),
        });
        let router = crate::server::dated(
            Router::new().fallback(handle).with_state(inner.clone()),
            inner.clock.clone(),
        );
        let served = Arc::new(Served::start_on(router, port).await?);
        Ok(AirtableSim { inner, served })
    }

    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    pub fn clock(&self) -> Clock {
        self.inner.clock.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.inner.state.lock().unwrap()
    }

    fn now(&self) -> DateTime<Utc> {
        to_ms(self.inner.clock.now())
    }

    pub fn create_base(&self) -> String {
        let id = new_id("app");
        self.state()
            .bases
            .insert(id.clone(), Base { tables: vec![] });
        id
    }

    /// `fields` are (name, Airtable type); the first is the primary field. A link
    /// field may name its target: "multipleRecordLinks:Other table".
    /// A table of tasks, as the demo, the tests and the benchmarks sync
    /// them: Name, Email, Status (Todo, Doing, Done), Points and Last
    /// Modified.
    pub fn create_tasks_table(&self, base: &str, name: &str) -> String {
        let id = self.create_table(
            base,
            name,
            &[
                ("Name", "singleLineText"),
                ("Email", "email"),
                ("Status", "singleSelect"),
                ("Points", "number"),
                ("Last Modified", "lastModifiedTime"),
            ],
        );
        self.set_choices(base, name, "Status", &["Todo", "Doing", "Done"]);
        id
    }

    pub fn create_table(&self, base: &str, name: &str, fields: &[(&str, &str)]) -> String {
        let table = Table::new(name, fields);
        let id = table.id.clone();
        self.state()
            .bases
            .get_mut(base)
            .expect("unknown base")
            .tables
            .push(table);
        id
    }

    /// Sets the options of a select field (existing options keep their ids).
    pub fn set_choices(&self, base: &str, table: &str, field: &str, choices: &[&str]) {
        let mut st = self.state();
        let t = st
            .bases
            .get_mut(base)
            .and_then(|b| b.table_mut(table))
            .expect("unknown table");
        let i = t.field_index(field).expect("unknown field");
        let f = &mut t.fields[i];
        f.choices.retain(|c| choices.contains(&c.name.as_str()));
        for c in choices {
            if !f.choices.iter().any(|x| x.name == *c) {
                f.add_choice(c);
            }
        }
    }

    fn with_table<R>(
        &self,
        base: &str,
        table: &str,
        f: impl FnOnce(&mut Table) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        let mut st = self.state();
        let t = st.bases.get_mut(base).and_then(|b| b.table_mut(table));
        f(t.ok_or_else(|| anyhow::anyhow!("unknown base or table {base}/{table}"))?)
    }

    /// Creates a record as a collaborator would (typecast on; no rate limit, not counted).
    pub fn insert(&self, base: &str, table: &str, fields: Value) -> anyhow::Result<String> {
        let now = self.now();
        self.with_table(base, table, |t| {
            let changes = t
                .validate(&fields, true)
                .map_err(|e| anyhow::anyhow!("{}", e.body))?;
            Ok(t.create(changes, now))
        })
    }

    /// Merges `fields` into a record, as a PATCH would.
    pub fn update(&self, base: &str, table: &str, id: &str, fields: Value) -> anyhow::Result<()> {
        let now = self.now();
        self.with_table(base, table, |t| {
            let changes = t
                .validate(&fields, true)
                .map_err(|e| anyhow::anyhow!("{}", e.body))?;
            anyhow::ensure!(t.update(id, changes, false, now), "no record {id}");
            Ok(())
        })
    }

    pub fn delete(&self, base: &str, table: &str, id: &str) -> anyhow::Result<()> {
        self.with_table(base, table, |t| {
            anyhow::ensure!(t.delete(id), "no record {id}");
            Ok(())
        })
    }

    /// Every record as the API renders it, in creation order.
    pub fn records(&self, base: &str, table: &str) -> Vec<Value> {
        self.with_table(base, table, |t| {
            Ok(t.records
                .values()
                .map(|r| t.render(r, false, None))
                .collect())
        })
        .unwrap_or_default()
    }

    /// A webhook notification as Airtable sends it: the headers (`content-type`,
    /// `X-Airtable-Content-MAC: hmac-sha256=<hex of HMAC-SHA256(mac_secret, body)>`)
    /// and the raw body `{"base":{"id":base},"webhook":{"id":"ach..."},"timestamp":..}`
    /// (the simulator's clock). `mac_secret` is the decoded `macSecretBase64`.
    /// Each base notifies from one webhook id, stable across calls; the base
    /// need not exist (to test a receiver against a foreign base).
    pub fn webhook_notification(
        &self,
        base: &str,
        mac_secret: &[u8],
    ) -> (Vec<(String, String)>, Vec<u8>) {
        let webhook = self
            .state()
            .webhooks
            .entry(base.to_string())
            .or_insert_with(|| new_id("ach"))
            .clone();
        webhook::notification(base, &webhook, self.now(), mac_secret)
    }

    /// A notification from registered webhook `id`, signed with its own MAC
    /// secret; `None` once the webhook has expired ("will expire and be
    /// disabled after 7 days": a disabled webhook notifies no one).
    pub fn hook_notification(&self, id: &str) -> Option<webhook::Notification> {
        let now = self.now();
        let st = self.state();
        let hook = st.hooks.iter().find(|h| h.id == id && h.enabled(now))?;
        Some(webhook::notification(&hook.base, id, now, &hook.mac_secret))
    }

    /// Every request received, as `METHOD /path`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.served.requests()
    }

    /// HTTP requests received (including rejected ones).
    pub fn request_count(&self) -> u64 {
        self.state().requests
    }

    /// Requests answered 429 by the rate limiter.
    pub fn rate_limited_count(&self) -> u64 {
        self.state().limited
    }

    pub fn set_rate_limit(&self, limit: Option<AirtableRateLimit>) {
        let mut st = self.state();
        st.rate_limit = limit;
        st.rate.clear();
    }

    pub fn set_batch_failure(&self, mode: BatchFailure) {
        self.state().batch_failure = mode;
    }

    /// Creates a webhook on `base` as "Create a webhook" would; returns its id
    /// and its MAC secret (the decoded `macSecretBase64`).
    pub fn register_webhook(
        &self,
        base: &str,
        notification_url: Option<&str>,
    ) -> (String, Vec<u8>) {
        let now = self.now();
        let spec = json!({"options": {"filters": {"dataTypes": ["tableData"]}}});
        let url = notification_url.map(String::from);
        webhook::register(&mut self.state().hooks, base, url, spec, now)
    }

    /// When webhook `id` expires (or expired), and whether it is still enabled;
    /// `None` once it is gone.
    pub fn webhook_expiration(&self, id: &str) -> Option<(DateTime<Utc>, bool)> {
        let now = self.now();
        let st = self.state();
        let hook = st.hooks.iter().find(|h| h.id == id)?;
        (now < hook.expires + webhook::lifetime()).then(|| (hook.expires, hook.enabled(now)))
    }

    /// The next `n` requests answer `status` (before auth and rate limiting).
    pub fn fail_next(&self, n: u32, status: u16) {
        self.state().fail = (n > 0).then_some((n, status));
    }
}

fn reply(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

fn error(e: ApiError) -> Response {
    reply(e.status, e.body)
}

/// The 429 body as Airtable sends it (an `errors` array, unlike other errors;
/// the message is the one the errors page quotes).
fn too_many(retry_after: u64) -> Response {
    let body = json!({"errors": [{"error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later"}]});
    let mut r = reply(429, body);
    r.headers_mut()
        .insert(header::RETRY_AFTER, retry_after.max(1).into());
    r
}

/// Server error codes (errors page): 500, 502, 503.
fn fault(status: u16) -> Response {
    let (typ, msg) = match status {
        429 => return too_many(1),
        500 => ("SERVER_ERROR", "The server encountered an unexpected condition that prevented it from fulfilling the request."),
        502 => ("BAD_GATEWAY", "Airtable's servers are restarting or an unexpected outage is in progress."),
        503 => ("SERVICE_UNAVAILABLE", "The server could not process your request in time. The server could be temporarily unavailable, or it could have timed out processing your request."),
        _ => ("SIMULATED_FAULT", "Injected by the simulator"),
    };
    reply(status, json!({"error": {"type": typ, "message": msg}}))
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    let q = uri.query().unwrap_or("");
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k, true), pct_decode(v, true))
        })
        .collect()
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dispatch(&inner, &method, &uri, &headers, &body)
}

fn dispatch(
    inner: &Inner,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let mut st = inner.state.lock().unwrap();
    st.requests += 1;
    if let Some((n, status)) = st.fail {
        st.fail = (n > 1).then_some((n - 1, status));
        return fault(status);
    }
    // Authentication (https://airtable.com/developers/web/api/authentication) is a
    // bearer token. "Airtable API: Common troubleshooting" lists 401
    // AUTHENTICATION_REQUIRED (no token, or not Bearer) and 401 UNAUTHORIZED
    // "invalid authentication token".
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let bearer = auth.and_then(|a| {
        let (scheme, token) = a.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(token)
    });
    match bearer {
        None => {
            return error(ApiError::new(
                401,
                "AUTHENTICATION_REQUIRED",
                "Authentication required",
            ))
        }
        Some(t) if t.trim() != inner.token => {
            return error(ApiError::new(
                401,
                "UNAUTHORIZED",
                "Invalid authentication token",
            ))
        }
        Some(_) => {}
    }
    let segs: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| pct_decode(s, false))
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let base = match segs.as_slice() {
        ["v0", "meta", "bases", b, ..] | ["v0", "bases", b, ..] => Some(*b),
        ["v0", "meta", ..] => None,
        ["v0", b, ..] => Some(*b),
        _ => None,
    };
    let now = to_ms(inner.clock.now());
    if let (Some(b), Some(limit)) = (base, st.rate_limit) {
        if let Some(wait) = rate_check(st.rate.entry(b.to_string()).or_default(), limit, now) {
            st.limited += 1;
            return too_many(wait);
        }
    }
    let st = &mut *st;
    let result = match (method.clone(), segs.as_slice()) {
        (Method::GET, ["v0", "meta", "bases", b, "tables"]) => st
            .bases
            .get(*b)
            .map(meta_tables)
            .ok_or_else(ApiError::model_not_found),
        (m, ["v0", "bases", b, "webhooks", rest @ ..]) => match st.bases.contains_key(*b) {
            true => webhook::route(&mut st.hooks, b, &m, rest, body, now),
            false => Err(ApiError::model_not_found()),
        },
        (m, ["v0", b, t, rest @ ..]) if rest.len() <= 1 => {
            let Some(base) = st.bases.get_mut(*b) else {
                return error(ApiError::model_not_found());
            };
            let Some(table) = base.table_mut(t) else {
                return error(ApiError::model_not_found());
            };
            let q = || query_pairs(uri);
            let ttl = inner.offset_ttl;
            match (m, rest) {
                (Method::GET, []) => ListParams::from_query(&q())
                    .and_then(|p| list::list(table, &mut st.iters, &p, now, ttl)),
                (Method::POST, ["listRecords"]) => parse_body(body)
                    .and_then(|v| ListParams::from_body(&v))
                    .and_then(|p| list::list(table, &mut st.iters, &p, now, ttl)),
                (Method::POST, []) => {
                    parse_body(body).and_then(|v| create(table, &v, st.batch_failure, now))
                }
                (Method::PATCH, []) => parse_body(body)
                    .and_then(|v| update_many(table, &v, false, st.batch_failure, now)),
                (Method::PUT, []) => parse_body(body)
                    .and_then(|v| update_many(table, &v, true, st.batch_failure, now)),
                (Method::DELETE, []) => delete_many(table, &q(), st.batch_failure),
                (Method::GET, [r]) => table
                    .record(r)
                    .map(|rec| table.render(rec, by_id(&q()), None))
                    .ok_or_else(ApiError::not_found),
                (Method::PATCH, [r]) => {
                    parse_body(body).and_then(|v| update_one(table, r, &v, false, now))
                }
                (Method::PUT, [r]) => {
                    parse_body(body).and_then(|v| update_one(table, r, &v, true, now))
                }
                (Method::DELETE, [r]) => match table.delete(r) {
                    true => Ok(json!({"id": r, "deleted": true})),
                    false => Err(ApiError::not_found()),
                },
                _ => Err(ApiError::not_found()),
            }
        }
        _ => Err(ApiError::not_found()),
    };
    match result {
        Ok(v) => reply(200, v),
        Err(e) => error(e),
    }
}

/// Sliding one-second window per base; past it, every request to the base gets
/// 429 until the penalty has passed. Returns the seconds to wait (rounded up).
fn rate_check(rs: &mut RateState, limit: AirtableRateLimit, now: DateTime<Utc>) -> Option<u64> {
    let secs = |d: chrono::Duration| (d.num_milliseconds().max(0) as u64).div_ceil(1000);
    if let Some(until) = rs.penalty_until {
        if now < until {
            return Some(secs(until - now));
        }
        rs.penalty_until = None;
        rs.window.clear();
    }
    while rs
        .window
        .front()
        .is_some_and(|t| now - *t >= chrono::Duration::seconds(1))
    {
        rs.window.pop_front();
    }
    if rs.window.len() >= limit.per_second as usize {
        let penalty =
            chrono::Duration::from_std(limit.penalty).unwrap_or(chrono::Duration::seconds(30));
        rs.penalty_until = Some(now + penalty);
        return Some(secs(penalty));
    }
    rs.window.push_back(now);
    None
}

/// "400 Bad Request: The request encoding is invalid; the request can't be
/// parsed as a valid JSON." (errors page)
fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|_| ApiError::new(400, "INVALID_REQUEST_BODY", "Could not parse request body"))
}
