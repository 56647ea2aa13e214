//! A small "items" REST API: the platform the connector template reads from.
//!
//! It is not a real product, so it documents itself here, in the shape most
//! JSON APIs share: `GET /v1/items?limit=N&after=CURSOR&updated_since=ISO`
//! answers `{"items":[{"id","name","done","updated_at"}],"next":CURSOR|null}`;
//! `limit` is 1..=100 (else 400 `{"error":"..."}`); a bearer token is required
//! (else 401); more than `per_second` requests in a second gets 429 with
//! `Retry-After: 1`.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::clock::Clock;
use crate::server::Served;

#[derive(Clone)]
pub struct ItemsSim {
    state: Arc<Mutex<ItemsState>>,
    clock: Clock,
    served: Arc<Served>,
}

struct ItemsState {
    token: String,
    per_second: Option<u32>,
    window: (i64, u32),
    items: Vec<(String, String, bool, DateTime<Utc>)>,
    requests: u64,
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<i64>,
    after: Option<String>,
    updated_since: Option<String>,
}

impl ItemsSim {
    pub async fn start(token: &str, per_second: Option<u32>) -> anyhow::Result<ItemsSim> {
        Self::start_on(token, per_second, 0).await
    }

    /// As `start`, listening on loopback port `port` (0 picks a free one).
    pub async fn start_on(
        token: &str,
        per_second: Option<u32>,
        port: u16,
    ) -> anyhow::Result<ItemsSim> {
        let state = Arc::new(Mutex::new(ItemsState {
            token: token.into(),
            per_second,
            window: (0, 0),
            items: Vec::new(),
            requests: 0,
        }));
        let clock = Clock::default();
        let app = Router::new()
            .route("/v1/items", get(list))
            .with_state((state.clone(), clock.clone()));
        let served = Arc::new(Served::start_on(app, port).await?);
        Ok(ItemsSim {
            state,
            clock,
            served,
        })
    }

    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    pub fn insert(&self, name: &str, done: bool) -> String {
        let mut s = self.state.lock().unwrap();
        let id = format!("item-{:06}", s.items.len() + 1);
        let now = self.clock.now();
        s.items.push((id.clone(), name.into(), done, now));
        id
    }

    pub fn request_count(&self) -> u64 {
        self.state.lock().unwrap().requests
    }
}

type Shared = (Arc<Mutex<ItemsState>>, Clock);

async fn list(
    State((state, clock)): State<Shared>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> Response {
    let mut s = state.lock().unwrap();
    s.requests += 1;
    let expected = format!("Bearer {}", s.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "missing or invalid bearer token"})),
        )
            .into_response();
    }
    if let Some(limit) = s.per_second {
        let second = clock.now().timestamp();
        if s.window.0 != second {
            s.window = (second, 0);
        }
        s.window.1 += 1;
        if s.window.1 > limit {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                Json(json!({"error": "rate limited"})),
            )
                .into_response();
        }
    }
    let limit = p.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "limit must be between 1 and 100"})),
        )
            .into_response();
    }
    let since = match p.updated_since.as_deref().map(DateTime::parse_from_rfc3339) {
        Some(Err(_)) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "updated_since is not RFC 3339"})),
            )
                .into_response()
        }
        Some(Ok(t)) => Some(t.with_timezone(&Utc)),
        None => None,
    };
    let start = match &p.after {
        Some(after) => match s.items.iter().position(|i| &i.0 == after) {
            Some(i) => i + 1,
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "unknown cursor"})),
                )
                    .into_response()
            }
        },
        None => 0,
    };
    let matching: Vec<_> = s.items[start..]
        .iter()
        .filter(|i| since.is_none_or(|t| i.3 >= t))
        .take(limit as usize + 1)
        .collect();
    let more = matching.len() > limit as usize;
    let page: Vec<_> = matching.iter().take(limit as usize).collect();
    let next = if more {
        page.last().map(|i| i.0.clone())
    } else {
        None
    };
    let items: Vec<_> = page
        .iter()
        .map(|i| json!({"id": i.0, "name": i.1, "done": i.2, "updated_at": i.3.to_rfc3339()}))
        .collect();
    Json(json!({"items": items, "next": next})).into_response()
}
