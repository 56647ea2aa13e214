//! A fault proxy: sits between the host and a platform (a simulator, a real
//! Directus) and, by rule, answers for it or mangles its answers — the faults
//! a network and a platform under load produce:
//!
//! - 429 storms with `Retry-After`, 5xx answers ([`Fault::Status`]);
//! - a connection reset half-way through the body ([`Fault::ResetMidBody`]);
//! - a delay before the answer ([`Fault::Delay`]);
//! - a body cut short but well framed, so it parses as truncated JSON
//!   ([`Fault::Truncate`]);
//! - a 2xx body of the wrong shape ([`Fault::WrongShape`]);
//! - something done just before the request reaches the platform: a person's
//!   concurrent edit ([`Fault::Before`]).
//!
//! Rules match a method and a path fragment and fire a given number of times
//! (after skipping some matches), so a test injects exactly the fault it means.
//! The request that a rule answers for itself never reaches the platform,
//! except where the fault is about the answer (reset, truncate, wrong shape):
//! then the platform did the work and the client cannot know it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::server::Served;

/// A closure run just before a matching request is forwarded.
pub type Hook = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
pub enum Fault {
    /// answer with this status, headers and body, without asking the platform
    Status(u16, Vec<(String, String)>, String),
    /// forward, then send half of the answer's body and reset the connection
    ResetMidBody,
    /// wait, then forward
    Delay(Duration),
    /// forward, then answer with the first half of the body (well framed)
    Truncate,
    /// forward, then answer 200 with a body of the wrong shape
    WrongShape,
    /// run the hook (a concurrent edit), then forward
    Before(Hook),
}

#[derive(Clone)]
pub struct Rule {
    /// `GET`, `POST`, …; `None` matches any
    pub method: Option<String>,
    /// a fragment of the path (and query)
    pub path: String,
    /// matching requests let through before the rule fires
    pub skip: usize,
    /// times it fires; then it is spent
    pub times: usize,
    pub fault: Fault,
}

impl Rule {
    pub fn new(method: Option<&str>, path: &str, fault: Fault) -> Rule {
        Rule {
            method: method.map(str::to_string),
            path: path.to_string(),
            skip: 0,
            times: 1,
            fault,
        }
    }

    pub fn times(mut self, times: usize) -> Rule {
        self.times = times;
        self
    }

    pub fn skip(mut self, skip: usize) -> Rule {
        self.skip = skip;
        self
    }
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    rules: Arc<Mutex<Vec<Rule>>>,
    /// faults fired, as `METHOD path: fault`
    fired: Arc<Mutex<Vec<String>>>,
    /// requests being answered now, and the most there were at once
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// Counts a request as in flight until it is answered (or dropped).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The proxy, on loopback. It stops when dropped.
pub struct FaultProxy {
    served: Served,
    shared: Shared,
}

impl FaultProxy {
    /// Proxies every request to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> anyhow::Result<FaultProxy> {
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            rules: Default::default(),
            fired: Default::default(),
            in_flight: Default::default(),
            peak: Default::default(),
        };
        let app = Router::new().fallback(proxy).with_state(shared.clone());
        Ok(FaultProxy {
            served: Served::start(app).await?,
            shared,
        })
    }

    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    pub fn add(&self, rule: Rule) {
        self.shared.rules.lock().unwrap().push(rule);
    }

    /// Removes every rule (spent or not).
    pub fn clear(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// The most requests the proxy was answering at one time: how many
    /// calls a client kept in flight.
    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// The faults that fired, in order.
    pub fn fired(&self) -> Vec<String> {
        self.shared.fired.lock().unwrap().clone()
    }
}

fn name(fault: &Fault) -> &'static str {
    match fault {
        Fault::Status(..) => "status",
        Fault::ResetMidBody => "reset mid-body",
        Fault::Delay(_) => "delay",
        Fault::Truncate => "truncated body",
        Fault::WrongShape => "wrong-shape body",
        Fault::Before(_) => "concurrent edit",
    }
}

/// The fault of the first live rule matching this request, if one fires.
fn take(shared: &Shared, method: &str, path: &str) -> Option<Fault> {
    let mut rules = shared.rules.lock().unwrap();
    for rule in rules.iter_mut() {
        let matches =
            rule.method.as_deref().is_none_or(|m| m == method) && path.contains(&rule.path);
        if !matches || rule.times == 0 {
            continue;
        }
        if rule.skip > 0 {
            rule.skip -= 1;
            continue;
        }
        rule.times -= 1;
        shared
            .fired
            .lock()
            .unwrap()
            .push(format!("{method} {path}: {}", name(&rule.fault)));
        return Some(rule.fault.clone());
    }
    None
}

async fn proxy(State(shared): State<Shared>, req: Request) -> Response {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.peak.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(shared.in_flight.clone());
    let method = req.method().as_str().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let fault = take(&shared, &method, &path);
    match &fault {
        Some(Fault::Status(status, headers, body)) => {
            let mut resp = (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                body.clone(),
            )
                .into_response();
            for (k, v) in headers {
                if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v))
                {
                    resp.headers_mut().insert(k, v);
                }
            }
            return resp;
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        Some(Fault::Before(hook)) => {
            let hook = hook.clone();
            let _ = tokio::task::spawn_blocking(move || hook()).await;
        }
        _ => {}
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut forward = shared
        .client
        .request(parts.method.clone(), format!("{}{path}", shared.upstream))
        .body(body);
    for (k, v) in parts.headers.iter() {
        if k != axum::http::header::HOST {
            forward = forward.header(k, v);
        }
    }
    let upstream = match forward.send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("fault proxy: {e}")).into_response(),
    };
    let status = upstream.status();
    let mut headers = HeaderMap::new();
    for (k, v) in upstream.headers() {
        if k != axum::http::header::CONTENT_LENGTH && k != axum::http::header::TRANSFER_ENCODING {
            headers.insert(k.clone(), v.clone());
        }
    }
    let bytes = upstream.bytes().await.unwrap_or_default();
    let (status, bytes) = match fault {
        Some(Fault::Truncate) => (status, bytes.slice(..bytes.len() / 2)),
        Some(Fault::WrongShape) => (
            StatusCode::OK,
            Bytes::from_static(br#"{"unexpected":[1,2,3]}"#),
        ),
        Some(Fault::ResetMidBody) => {
            let half = bytes.slice(..bytes.len() / 2);
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fault proxy: reset",
                )),
            ];
            let mut resp = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
            *resp.status_mut() = status;
            *resp.headers_mut() = headers;
            resp.headers_mut().insert(
                axum::http::header::CONTENT_LENGTH,
                HeaderValue::from(bytes.len()),
            );
            return resp;
        }
        _ => (status, bytes),
    };
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}
