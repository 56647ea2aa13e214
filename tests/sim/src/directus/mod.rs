//! A simulator of the Directus REST API (https://docs.directus.io/reference/introduction.html),
//! as Directus 11 answers an instance's static admin token.
//!
//! Served on loopback; `base_url()` stands in for the instance's URL.
//! Endpoints: items (`GET|POST|PATCH|DELETE /items/{collection}`, and
//! `/items/{collection}/{id}`), with the global query parameters `fields`,
//! `filter`, `search`, `sort`, `limit`, `offset`, `page`, `meta`;
//! `GET|POST /collections`, `GET /collections/{collection}`;
//! `GET /fields`, `GET|POST /fields/{collection}`,
//! `GET /fields/{collection}/{field}`; `GET /activity`, `GET /activity/{id}`;
//! `GET /server/health`, `GET /server/ping`. Every request passes a gate, in
//! Directus' middleware order: counting (and the log of writes), injected
//! faults, the rate limiter (429 REQUESTS_EXCEEDED with `Retry-After`), the
//! access token (401/403), then the endpoint. Every answer carries a `Date`
//! from the simulator's clock, which the connector takes as its checkpoint.
//!
//! Items are held in primary key order and pages are range queries (see
//! `select`), so a page costs O(log n + page) however large the collection.
//!
//! Where Directus' behaviour is read from its source rather than its
//! documentation, the simulator follows Directus 11 (the version
//! tests/directus/setup.sh runs): no token is the public role, which may
//! read nothing (403 FORBIDDEN, not 401); an item that does not exist is
//! FORBIDDEN to read, and its update or delete by an admin is a 204 that
//! changes nothing; a batch create answers its items as `readMany` reads
//! them back, in the collection's default order (sort field, else key), not
//! in the order sent; `Retry-After` is the rounded seconds left in the
//! limiter's window (so it can be 0); values come back as on SQLite (see
//! `model`). One choice is stricter than Directus: a write naming a field
//! the collection lacks is 400 INVALID_PAYLOAD, where Directus drops it for
//! an admin ([`UnknownFields::Drop`] plays that).

mod activity;
mod endpoints;
mod error;
mod filter;
mod gate;
mod model;
mod query;
mod select;
mod store;

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod tests;

pub use store::UnknownFields;

use crate::clock::Clock;
use crate::server::Served;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use error::ApiError;
use gate::{limiter, Limiter};
use model::Key;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::{Collection, Ctx, Store};

/// The admin user the static token belongs to: `user` of the activity it causes.
pub const ADMIN_USER: &str = "0b2d6a1e-7c44-4f5e-9a3b-1d2c3e4f5a6b";
/// The user agent the activity of [`DirectusSim`]'s own edits records: they
/// stand for someone editing in the Data Studio.
const STUDIO_AGENT: &str = "Mozilla/5.0 (Directus Data Studio; simulated)";

#[derive(Clone)]
pub struct DirectusOptions {
    /// The static token expected as `Authorization: Bearer <token>` (or `?access_token=`).
    pub token: String,
    /// Directus' rate limiter (https://docs.directus.io/self-hosted/config-options.html#rate-limiting):
    /// `RATE_LIMITER_POINTS` requests per `rate_window`, per client (all of
    /// them here: every client is 127.0.0.1). `None` turns it off (benchmarks).
    pub rate_limit: Option<u32>,
    /// `RATE_LIMITER_DURATION`: 1 second by default.
    pub rate_window: Duration,
    pub clock: Clock,
    /// The loopback port to listen on; 0 picks a free one.
    pub port: u16,
    /// What a write naming a field the collection lacks gets.
    pub unknown_fields: UnknownFields,
    /// `MAX_PAYLOAD_SIZE` (Directus' default "1mb"): a larger body is INVALID_PAYLOAD.
    pub max_payload: usize,
}

impl Default for DirectusOptions {
    fn default() -> Self {
        DirectusOptions {
            token: "directus-sim-static-token".into(),
            rate_limit: None,
            rate_window: Duration::from_secs(1),
            clock: Clock::default(),
            port: 0,
            unknown_fields: UnknownFields::default(),
            max_payload: 1024 * 1024,
        }
    }
}

/// A write request the simulator received: method, path (no query), status answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
}

struct SimState {
    store: Store,
    limiter: Option<Limiter>,
    faults: VecDeque<u16>,
    writes: Vec<WriteRequest>,
}

struct Shared {
    token: String,
    /// signs the JWTs of [`DirectusSim::issue_access_token`]
    secret: [u8; 32],
    clock: Clock,
    unknown: UnknownFields,
    max_payload: usize,
    state: Mutex<SimState>,
    requests: AtomicU64,
    limited: AtomicU64,
}

/// A running Directus simulator. Clones share it; it stops when the last clone drops.
#[derive(Clone)]
pub struct DirectusSim {
    shared: Arc<Shared>,
    served: Arc<Served>,
}

impl DirectusSim {
    pub async fn start(opts: DirectusOptions) -> anyhow::Result<DirectusSim> {
        let shared = Arc::new(Shared {
            token: opts.token,
            secret: rand::random(),
            clock: opts.clock,
            unknown: opts.unknown_fields,
            max_payload: opts.max_payload,
            state: Mutex::new(SimState {
                store: Store::default(),
                limiter: limiter(opts.rate_limit, opts.rate_window),
                faults: VecDeque::new(),
                writes: Vec::new(),
            }),
            requests: AtomicU64::new(0),
            limited: AtomicU64::new(0),
        });
        let router = Router::new()
            .fallback(gate::handle)
            .layer(DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let router = crate::server::dated(router, shared.clock.clone());
        let served = Served::start_on(router, opts.port).await?;
        Ok(DirectusSim {
            shared,
            served: Arc::new(served),
        })
    }

    /// `http://127.0.0.1:PORT`: the instance's URL.
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    pub fn token(&self) -> &str {
        &self.shared.token
    }

    pub fn clock(&self) -> Clock {
        self.shared.clock.clone()
    }

    fn state(&self) -> MutexGuard<'_, SimState> {
        self.shared.state.lock().unwrap()
    }

    fn now(&self) -> DateTime<Utc> {
        let now = self.shared.clock.now();
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }

    /// Creates collection `name` as the e2e setup does (tests/e2e/src/directus.rs):
    /// an auto-increment integer `id`, `fields` (`(name, directus type)`,
    /// e.g. `("points", "float")`, with an `input` interface), and
    /// `date_created`/`date_updated` timestamps Directus fills (`date-created`,
    /// `date-updated` specials); accountability "all".
    pub fn create_collection(&self, name: &str, fields: &[(&str, &str)]) -> anyhow::Result<()> {
        let mut all = vec![endpoints::default_key()];
        for (field, kind) in fields {
            all.push(
                json!({"field": field, "type": kind, "meta": {"interface": "input"}, "schema": {}}),
            );
        }
        for (field, special) in [
            ("date_created", "date-created"),
            ("date_updated", "date-updated"),
        ] {
            all.push(json!({"field": field, "type": "timestamp", "schema": {},
                "meta": {"special": [special], "readonly": true, "interface": "datetime"}}));
        }
        let body = json!({"collection": name, "schema": {}, "meta": {"accountability": "all"}, "fields": all});
        self.create_collection_raw(&body)
    }

    /// Creates a collection from a `POST /collections` body.
    pub fn create_collection_raw(&self, body: &Value) -> anyhow::Result<()> {
        endpoints::create_collection(&mut self.state().store, body)
            .map(|_| ())
            .map_err(err)
    }

    /// Makes `field` a select (`select-dropdown` interface) of `choices`, as
    /// the e2e's `status` field is.
    pub fn set_choices(
        &self,
        collection: &str,
        field: &str,
        choices: &[&str],
    ) -> anyhow::Result<()> {
        self.with(collection, |c| {
            let i = c
                .field(field)
                .ok_or_else(|| anyhow::anyhow!("no field {field}"))?;
            let choices: Vec<Value> = choices
                .iter()
                .map(|c| json!({"text": c, "value": c}))
                .collect();
            let f = &mut c.fields[i];
            if !f.meta.is_object() {
                f.meta = json!({});
            }
            f.meta["interface"] = json!("select-dropdown");
            f.meta["options"] = json!({ "choices": choices });
            Ok(())
        })
    }

    /// Sets a collection's `meta.accountability` ("all", "activity", or None:
    /// its writes are not logged, and so its deletions are not seen).
    pub fn set_accountability(
        &self,
        collection: &str,
        accountability: Option<&str>,
    ) -> anyhow::Result<()> {
        self.with(collection, |c| {
            if !c.meta.is_object() {
                c.meta = json!({});
            }
            c.meta["accountability"] = json!(accountability);
            Ok(())
        })
    }

    fn with<R>(
        &self,
        collection: &str,
        f: impl FnOnce(&mut Collection) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        let mut st = self.state();
        let c = st
            .store
            .collection_mut(collection)
            .ok_or_else(|| anyhow::anyhow!("no collection {collection}"))?;
        f(c)
    }

    fn studio(&self) -> Ctx<'static> {
        Ctx {
            now: self.now(),
            user: ADMIN_USER,
            unknown: UnknownFields::Refuse,
        }
    }

    /// Creates an item as someone in the Data Studio would (validated as an
    /// API write, logged in the activity; no rate limit, not counted as a
    /// request). Returns its key as text.
    pub fn insert(&self, collection: &str, item: Value) -> anyhow::Result<String> {
        Ok(self.insert_many(collection, vec![item])?.remove(0))
    }

    /// Creates `items` in one transaction; returns their keys as text.
    pub fn insert_many(&self, collection: &str, items: Vec<Value>) -> anyhow::Result<Vec<String>> {
        let ctx = self.studio();
        let mut st = self.state();
        let refs: Vec<&Value> = items.iter().collect();
        let c = st
            .store
            .collection_mut(collection)
            .ok_or_else(|| anyhow::anyhow!("no collection {collection}"))?;
        let logs = c.logs_activity();
        let keys = c.create_many(&refs, &ctx).map_err(err)?;
        if logs {
            for k in &keys {
                st.store.activity.log(
                    activity::Action::Create,
                    collection,
                    k,
                    ctx.now,
                    ADMIN_USER,
                    STUDIO_AGENT,
                );
            }
        }
        Ok(keys.iter().map(Key::text).collect())
    }

    /// Changes the fields of `patch` on item `id`, as an edit in the Data Studio.
    pub fn update(&self, collection: &str, id: &str, patch: Value) -> anyhow::Result<()> {
        let ctx = self.studio();
        let mut st = self.state();
        let c = st
            .store
            .collection_mut(collection)
            .ok_or_else(|| anyhow::anyhow!("no collection {collection}"))?;
        let k = Key::parse(c.pk_kind(), id).ok_or_else(|| anyhow::anyhow!("bad key {id}"))?;
        let changes = c.check_update(&k, &patch, &ctx).map_err(err)?;
        anyhow::ensure!(
            c.apply_update(&k, &changes, &ctx).map_err(err)?,
            "no item {id}"
        );
        if c.logs_activity() {
            st.store.activity.log(
                activity::Action::Update,
                collection,
                &k,
                ctx.now,
                ADMIN_USER,
                STUDIO_AGENT,
            );
        }
        Ok(())
    }

    /// Deletes item `id` (logged in the activity, where the connector's
    /// deletions feed finds it).
    pub fn delete(&self, collection: &str, id: &str) -> anyhow::Result<()> {
        let ctx = self.studio();
        let mut st = self.state();
        let c = st
            .store
            .collection_mut(collection)
            .ok_or_else(|| anyhow::anyhow!("no collection {collection}"))?;
        let k = Key::parse(c.pk_kind(), id).ok_or_else(|| anyhow::anyhow!("bad key {id}"))?;
        anyhow::ensure!(c.delete(&k), "no item {id}");
        if c.logs_activity() {
            st.store.activity.log(
                activity::Action::Delete,
                collection,
                &k,
                ctx.now,
                ADMIN_USER,
                STUDIO_AGENT,
            );
        }
        Ok(())
    }

    /// Every item of `collection` as `GET /items` returns it (`fields=*`), by key.
    pub fn items(&self, collection: &str) -> Vec<Value> {
        let st = self.state();
        let Some(c) = st.store.collection(collection) else {
            return Vec::new();
        };
        let all = c.all_fields();
        c.items.values().map(|r| c.render(r, &all)).collect()
    }

    /// Item `id`, if it exists.
    pub fn item(&self, collection: &str, id: &str) -> Option<Value> {
        let st = self.state();
        let c = st.store.collection(collection)?;
        let row = c.items.get(&Key::parse(c.pk_kind(), id)?)?;
        Some(c.render(row, &c.all_fields()))
    }

    /// Items in `collection`.
    pub fn count(&self, collection: &str) -> usize {
        self.state()
            .store
            .collection(collection)
            .map_or(0, |c| c.items.len())
    }

    /// The activity log as `GET /activity?limit=-1` returns it, oldest first.
    pub fn activity(&self) -> Vec<Value> {
        let st = self.state();
        let all = query::Params {
            limit: Some(None),
            ..Default::default()
        };
        select::read_activity(&st.store.activity, &all, self.now()).map_or_else(
            |_| Vec::new(),
            |v| v["data"].as_array().cloned().unwrap_or_default(),
        )
    }

    /// HTTP requests received, whatever their answer.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests answered 429 by the rate limiter.
    pub fn rate_limited_count(&self) -> u64 {
        self.shared.limited.load(Ordering::SeqCst)
    }

    /// Every request other than GET (and HEAD, OPTIONS) received, in order,
    /// with the status it was answered: to assert that no write was sent.
    pub fn writes(&self) -> Vec<WriteRequest> {
        self.state().writes.clone()
    }

    /// Replaces the rate limiter (a fresh window); `None` turns it off.
    pub fn set_rate_limit(&self, points: Option<u32>, window: Duration) {
        self.state().limiter = limiter(points, window);
    }

    /// The next `n` requests answer `status` with Directus' body for it
    /// (429 with `Retry-After: 1`), before any other check.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.state()
            .faults
            .extend(std::iter::repeat_n(status, n as usize));
    }

    /// A Directus access token (a JWT, `iss: directus`, HS256) for the admin
    /// user, expiring `ttl` from the simulator's clock: what `POST
    /// /auth/login` hands out. Once the clock passes its `exp`, requests with
    /// it answer 401 TOKEN_EXPIRED; a tampered one, 403 INVALID_TOKEN.
    pub fn issue_access_token(&self, ttl: chrono::Duration) -> String {
        let now = self.shared.clock.now().timestamp();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = json!({"id": ADMIN_USER, "role": "admin-role", "app_access": true, "admin_access": true,
                            "iat": now, "exp": now + ttl.num_seconds(), "iss": "directus"});
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{payload}");
        format!("{signed}.{}", self.shared.sign(&signed))
    }
}

fn err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{} ({}): {}", e.status, e.code(), e.message())
}
