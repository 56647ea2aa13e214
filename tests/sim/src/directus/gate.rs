//! The gate every request passes, in Directus' middleware order: counting
//! (and the log of writes), injected faults, the rate limiter, the access
//! token, the body; then the endpoint.

use super::endpoints::{self, Answer, Req};
use super::error::ApiError;
use super::model::fmt_ts;
use super::query;
use super::store::Ctx;
use super::{Shared, SimState, WriteRequest, ADMIN_USER};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The rate limiter's window (rate-limiter-flexible's fixed window: it
/// starts at a client's first request and lasts `RATE_LIMITER_DURATION`).
pub(super) struct Limiter {
    points: u32,
    window: Duration,
    start: Instant,
    used: u32,
}

pub(super) fn limiter(points: Option<u32>, window: Duration) -> Option<Limiter> {
    points.map(|points| Limiter {
        points,
        window,
        start: Instant::now(),
        used: 0,
    })
}

impl Shared {
    pub(super) fn sign(&self, data: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(data.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Authentication (https://docs.directus.io/reference/authentication.html):
    /// the token comes as `Authorization: Bearer` or `?access_token=` (both
    /// at once is INVALID_PAYLOAD, after RFC 6750). A Directus JWT is
    /// verified (INVALID_TOKEN, TOKEN_EXPIRED); any other token is a static
    /// token, which must be a user's (INVALID_CREDENTIALS). No token is the
    /// public role: "All data within the platform is private by default",
    /// so it is FORBIDDEN, not 401. Returns the user, or None for the public
    /// role.
    fn authenticate(&self, headers: &HeaderMap, query: &str) -> Result<Option<String>, ApiError> {
        let from_query = query::qs(query)
            .get("access_token")
            .and_then(Value::as_str)
            .map(String::from);
        let from_header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|a| match a.split(' ').collect::<Vec<_>>().as_slice() {
                // extract-token: exactly `<scheme> <token>`, the scheme `bearer` in any case
                [scheme, token] if scheme.eq_ignore_ascii_case("bearer") => Some(token.to_string()),
                _ => None,
            });
        let token = match (from_query, from_header) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_payload(
                    "The request uses more than one method for including an access token",
                ))
            }
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => return Ok(None),
        };
        let parts: Vec<&str> = token.split('.').collect();
        let claims: Option<Value> = match parts.as_slice() {
            [_, payload, _] => URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok()),
            _ => None,
        };
        if let Some(claims) = claims.filter(|c| c["iss"] == "directus") {
            if self.sign(&format!("{}.{}", parts[0], parts[1])) != parts[2] {
                return Err(ApiError::invalid_token());
            }
            if claims["exp"]
                .as_i64()
                .is_some_and(|exp| exp <= self.clock.now().timestamp())
            {
                return Err(ApiError::token_expired());
            }
            return Ok(Some(
                claims["id"].as_str().unwrap_or(ADMIN_USER).to_string(),
            ));
        }
        if token == self.token {
            Ok(Some(ADMIN_USER.to_string()))
        } else {
            Err(ApiError::invalid_credentials())
        }
    }
}

/// Directus' answer to an injected fault.
fn fault(status: u16) -> ApiError {
    match status {
        429 => {
            let mut e = ApiError::new(
                429,
                "REQUESTS_EXCEEDED",
                "Too many requests, retry after 1s.",
            );
            e.retry_after = Some(1);
            e
        }
        503 => ApiError::new(503, "SERVICE_UNAVAILABLE", "Under pressure"),
        404 => ApiError::route_not_found("/"),
        403 => ApiError::forbidden(),
        401 => ApiError::invalid_credentials(),
        400 => ApiError::invalid_payload("Injected by the simulator"),
        s => ApiError {
            status: s,
            ..ApiError::internal()
        },
    }
}

fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub(super) async fn handle(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sh.requests.fetch_add(1, Ordering::SeqCst);
    let mut st = sh.state.lock().unwrap();
    let resp = gate(&sh, &mut st, &method, &uri, &headers, &body);
    if is_write(&method) {
        st.writes.push(WriteRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            status: resp.status().as_u16(),
        });
    }
    resp
}

fn gate(
    sh: &Shared,
    st: &mut SimState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if let Some(status) = st.faults.pop_front() {
        if status == 429 {
            sh.limited.fetch_add(1, Ordering::SeqCst);
        }
        return fault(status).into_response();
    }
    // Rate limiting: RATE_LIMITER_POINTS per RATE_LIMITER_DURATION, then 429
    // REQUESTS_EXCEEDED with Retry-After until the window ends.
    if let Some(l) = &mut st.limiter {
        let now = Instant::now();
        if now.duration_since(l.start) >= l.window {
            l.start = now;
            l.used = 0;
        }
        l.used = l.used.saturating_add(1);
        if l.used > l.points {
            sh.limited.fetch_add(1, Ordering::SeqCst);
            let left = l
                .window
                .saturating_sub(now.duration_since(l.start))
                .as_millis() as u64;
            let reset = fmt_ts(Utc::now() + chrono::Duration::milliseconds(left as i64));
            return ApiError::requests_exceeded(l.points, left, &reset).into_response();
        }
    }
    // Server: health and ping answer without a token
    // (https://docs.directus.io/reference/system/server.html).
    match (method, uri.path()) {
        (&Method::GET, "/server/ping") => return (StatusCode::OK, "pong").into_response(),
        (&Method::GET, "/server/health") => {
            return axum::Json(json!({"status": "ok"})).into_response();
        }
        _ => {}
    }
    let query = uri.query().unwrap_or("");
    let user = match sh.authenticate(headers, query) {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    // MAX_PAYLOAD_SIZE: Express' JSON parser refuses a larger body, and
    // Directus answers INVALID_PAYLOAD with its message.
    if body.len() > sh.max_payload {
        return ApiError::invalid_payload("request entity too large").into_response();
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let req = Req {
        method,
        path: uri.path(),
        query,
        body,
        json,
        admin: user.is_some(),
        agent,
    };
    let user = user.unwrap_or_default();
    let now = sh.clock.now();
    let ctx = Ctx {
        now: DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now),
        user: &user,
        unknown: sh.unknown,
    };
    match endpoints::route(&mut st.store, &req, &ctx) {
        Ok(Answer::Json(v)) => axum::Json(v).into_response(),
        Ok(Answer::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}
