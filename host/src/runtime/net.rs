//! The `http` import: every request a connector makes goes through here, and
//! the host, not the connector, decides what leaves and what comes back.
//!
//! In order, a request is: counted and sized against the session's limits
//! (URL, headers, body, requests per call and per session); routed by the
//! [`Policy`] (declared hosts, overrides, address rules); refused if it would
//! carry a credential to an origin named only by a wildcard; stripped of the
//! headers the host decides itself (content coding, framing, hop-by-hop);
//! given its credentials (placeholders, auth scheme, OAuth refresh); paced by
//! the rate limiter; sent; decoded; scrubbed of every secret; logged.
//!
//! What the host keeps of a call (the call log, log lines) is bounded, so a
//! connector cannot make the host hold more than it may hold itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::bindings::v0_2_0::synchost::connector::{http, types};
use super::limits::Limits;
use super::outbound::{self, Clients, SendError};
use super::policy::{clip, shown, Policy};
use super::rate::{Rate, RateLimiter, MAX_PAUSE};
use super::secrets::Secrets;
use types::AuthScheme;

/// Times the host itself waits out a 429 before handing it to the connector.
const MAX_429_RETRIES: u32 = 5;
/// The least wait after a 429, doubled at each retry (250 ms, 500 ms, … 4 s).
/// A platform whose `Retry-After` rounds the time left down (Directus says 0
/// in the last half second of its window) would otherwise be asked again at
/// once, and the retries spent in a few milliseconds.
const MIN_429_WAIT: Duration = Duration::from_millis(250);
/// Most calls a session's call log keeps; later ones are counted only.
const MAX_CALL_RECORDS: usize = 10_000;
/// Most headers one request may carry.
const MAX_HEADERS: usize = 100;
/// Longest host, path and error a call log entry or log line holds.
const SHOWN_HOST: usize = 255;
const SHOWN_PATH: usize = 256;
const SHOWN_ERROR: usize = 1024;

/// Request headers the host decides itself, whatever the connector wrote:
/// content coding (so that the host can always read, and scrub, what comes
/// back), message framing, and hop-by-hop headers.
const HOST_DECIDES: [&str; 11] = [
    "accept-encoding",
    "te",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "proxy-authorization",
    "proxy-connection",
    "trailer",
];

/// One outbound call, as logged: never a header value, never a query string.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallRecord {
    pub method: String,
    pub host: String,
    pub path: String,
    /// 0 when no response came back
    pub status: u16,
    pub millis: u64,
    /// the same, finer: for measuring time spent in the sandbox versus on the wire
    pub micros: u64,
    /// why the host refused or failed the call, if it did
    pub error: Option<String>,
}

/// Requests made in the current call and in the whole session.
#[derive(Debug, Default)]
pub struct Counters {
    this_call: AtomicU64,
    this_session: AtomicU64,
}

impl Counters {
    /// A new call into the connector begins.
    pub fn new_call(&self) {
        self.this_call.store(0, Ordering::Relaxed);
    }
}

/// Everything a session's HTTP calls need; shared parts are `Arc`s.
#[derive(Clone)]
pub struct NetCtx {
    pub connector: String,
    pub clients: Clients,
    pub policy: Policy,
    pub secrets: Secrets,
    pub auth: AuthScheme,
    pub rate_limiter: RateLimiter,
    /// bucket key: platform and credential
    pub rate_key: String,
    pub rate: Option<Rate>,
    pub limits: Limits,
    pub calls: Arc<Mutex<Vec<CallRecord>>>,
    pub counters: Arc<Counters>,
    pub stats: Arc<super::stats::Stats>,
    pub oauth: Option<super::oauth::Refresher>,
    pub tape: Option<super::tape::Tape>,
}

impl NetCtx {
    pub async fn send(&self, req: http::Request) -> Result<http::Response, http::HttpError> {
        let started = Instant::now();
        let method = clip(&req.method.to_ascii_uppercase(), 16);
        let (host, path) = match url::Url::parse(&req.url) {
            Ok(u) => (
                clip(u.host_str().unwrap_or_default(), SHOWN_HOST),
                clip(u.path(), SHOWN_PATH),
            ),
            Err(_) => (String::new(), clip(&shown(&req.url), SHOWN_PATH)),
        };
        let result = self.send_checked(&method, req).await;
        let (status, error) = match &result {
            Ok(resp) => (resp.status, None),
            Err(e) => (0, Some(clip(&http_error_text(e), SHOWN_ERROR))),
        };
        let micros = started.elapsed().as_micros() as u64;
        let millis = micros / 1000;
        match &error {
            None => {
                tracing::info!(target: "synchost::http", connector = %self.connector, %method, %host, %path, status, millis, "http call")
            }
            Some(why) => {
                tracing::warn!(target: "synchost::http", connector = %self.connector, %method, %host, %path, millis, error = %why, "http call refused or failed")
            }
        }
        self.stats.http(&self.connector, status);
        let mut calls = self.calls.lock();
        if calls.len() < MAX_CALL_RECORDS {
            calls.push(CallRecord {
                method,
                host,
                path,
                status,
                millis,
                micros,
                error,
            });
        }
        result
    }

    /// Counts the request and checks its size against the session's limits.
    fn admit(&self, req: &http::Request) -> Result<(), http::HttpError> {
        let limits = &self.limits;
        let denied = |why: String| Err(http::HttpError::Denied(why));
        let this_call = self.counters.this_call.fetch_add(1, Ordering::Relaxed);
        if this_call >= limits.max_requests_per_call {
            return denied(format!(
                "more than {} requests in one call into the connector (limits.max_requests_per_call)",
                limits.max_requests_per_call
            ));
        }
        let this_session = self.counters.this_session.fetch_add(1, Ordering::Relaxed);
        if this_session >= limits.max_requests_per_session {
            return denied(format!(
                "more than {} requests in one session (limits.max_requests_per_session)",
                limits.max_requests_per_session
            ));
        }
        if req.url.len() > limits.max_url_bytes {
            return denied(format!(
                "the URL is {} bytes; the limit is {} (limits.max_url_bytes)",
                req.url.len(),
                limits.max_url_bytes
            ));
        }
        let header_bytes: usize = req.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        if req.headers.len() > MAX_HEADERS || header_bytes > limits.max_header_bytes {
            return denied(format!(
                "{} headers of {header_bytes} bytes; the limit is {MAX_HEADERS} headers of {} bytes (limits.max_header_bytes)",
                req.headers.len(),
                limits.max_header_bytes
            ));
        }
        let body = req.body.as_ref().map_or(0, Vec::len);
        if body > limits.max_request_bytes {
            return denied(format!(
                "a request body of {body} bytes; the limit is {} (limits.max_request_bytes)",
                limits.max_request_bytes
            ));
        }
        Ok(())
    }

    async fn send_checked(
        &self,
        method: &str,
        req: http::Request,
    ) -> Result<http::Response, http::HttpError> {
        self.admit(&req)?;
        let routed = self
            .policy
            .route(&req.url)
            .map_err(http::HttpError::Denied)?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| http::HttpError::Denied(format!("`{method}` is not an HTTP method")))?;
        let carries_secret = !matches!(self.auth, AuthScheme::None)
            || req.headers.iter().any(|(_, v)| Secrets::has_placeholder(v));
        if let (true, Some(why)) = (carries_secret, &routed.no_credentials) {
            return Err(http::HttpError::Denied(why.clone()));
        }

        if let Some(super::tape::Tape {
            tag,
            mode: super::tape::Mode::Replay(cassette),
        }) = &self.tape
        {
            let recorded = cassette
                .answer(tag, method.as_str(), &req.url, req.body.as_deref())
                .map_err(http::HttpError::Network)?;
            return Ok(http::Response {
                status: recorded.status,
                body: recorded.body(),
                headers: recorded.response_headers,
            });
        }
        let client = self.clients.get(self.policy.allow_private_networks);
        self.clients
            .check_destination(&routed.target, &self.policy)
            .await
            .map_err(http::HttpError::Denied)?;
        // Waits longer than this are not waited out inside the call: the
        // connector is told (a 429) and its run ends `queued`.
        let max_wait = self.limits.call_timeout / 2;
        let mut retries = 0;
        let mut refreshed = false;
        loop {
            let (generation, secrets) = match &self.oauth {
                Some(oauth) => oauth.current(&self.secrets),
                None => (0, self.secrets.clone()),
            };
            if let Some(oauth) = self
                .oauth
                .as_ref()
                .filter(|o| o.needs_first_token(generation))
            {
                self.refresh(oauth, generation, &secrets)
                    .await
                    .map_err(|why| http::HttpError::Denied(format!("no access token: {why}")))?;
                continue;
            }
            let mut headers = reqwest::header::HeaderMap::new();
            for (name, value) in &req.headers {
                let name =
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        http::HttpError::Denied(format!(
                            "`{}` is not a header name",
                            clip(name, 64)
                        ))
                    })?;
                if HOST_DECIDES.contains(&name.as_str()) {
                    continue;
                }
                let value = secrets.substitute(value).map_err(http::HttpError::Denied)?;
                let value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                    http::HttpError::Denied(format!("the value of header `{name}` is not valid"))
                })?;
                headers.append(name, value);
            }
            self.add_auth(&secrets, &mut headers)?;
            if let Some(budget) = self.rate.and_then(|r| r.daily_budget) {
                // A spent budget answers as the platform would, without
                // asking it: 429 with the wait until the budget renews.
                if let Err(wait) = self.rate_limiter.spend(&self.rate_key, budget) {
                    tracing::warn!(target: "synchost::http", connector = %self.connector, budget, "daily request budget spent; deferred for {} s", wait.as_secs().max(1));
                    return Ok(host_429(
                        wait,
                        &format!("the daily budget of {budget} requests for this platform and credential is spent"),
                    ));
                }
            }
            if let Err(wait) = self
                .rate_limiter
                .acquire(&self.rate_key, self.rate, max_wait)
                .await
            {
                tracing::warn!(target: "synchost::http", connector = %self.connector, wait_s = wait.as_secs(), "platform asked to pause longer than a call can wait; deferred");
                return Ok(host_429(
                    wait,
                    "the platform asked this credential to pause; the run is deferred",
                ));
            }
            let mut builder = client
                .request(method.clone(), routed.target.clone())
                .headers(headers.clone());
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            }
            let request = builder
                .build()
                .map_err(|e| http::HttpError::Network(e.to_string()))?;
            let raw = outbound::send(
                client,
                request,
                self.limits.max_response_bytes,
                self.limits.http_timeout,
            )
            .await
            .map_err(|e| match e {
                SendError::Timeout => http::HttpError::Timeout,
                SendError::TooLarge(n) => http::HttpError::TooLarge(n),
                SendError::Denied(why) => http::HttpError::Denied(why),
                SendError::Network(why) => http::HttpError::Network(self.secrets.scrub_str(&why)),
            })?;
            // 429, and 529 (an overloaded service, as Notion answers it): not
            // done, come back later. The host waits and retries as for 429.
            if raw.status == 429 || raw.status == 529 {
                let floor = MIN_429_WAIT * 2u32.pow(retries);
                let wait = retry_after(&raw.headers)
                    .unwrap_or(Duration::from_secs(1))
                    .max(floor);
                let rate = self.rate.unwrap_or(Rate {
                    per_second: 1.0,
                    burst: 1,
                    daily_budget: None,
                });
                self.rate_limiter.pause(&self.rate_key, rate, wait);
                if retries < MAX_429_RETRIES && wait <= max_wait {
                    retries += 1;
                    tracing::info!(target: "synchost::http", connector = %self.connector, wait_ms = wait.as_millis() as u64, "429 from platform; waiting as Retry-After says");
                    continue;
                }
            }
            if raw.status == 401 && !refreshed {
                if let Some(oauth) = &self.oauth {
                    refreshed = true;
                    match self.refresh(oauth, generation, &secrets).await {
                        Ok(()) => continue,
                        // The platform's 401 goes to the connector, which
                        // reports `unauthorized`; the log says why the
                        // refresh did not help.
                        Err(why) => {
                            tracing::warn!(target: "synchost::http", connector = %self.connector, error = %why, "oauth2 refresh failed")
                        }
                    }
                }
            }
            let response = http::Response {
                status: raw.status,
                headers: raw
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k, secrets.scrub_str(&v)))
                    .collect(),
                body: secrets.scrub(raw.body),
            };
            if let Some(super::tape::Tape {
                tag,
                mode: super::tape::Mode::Record(recorder),
            }) = &self.tape
            {
                recorder.append(
                    &super::tape::Exchange::request(
                        tag,
                        method.as_str(),
                        &req.url,
                        &self.headers_as_written(&req.headers),
                        req.body.as_deref(),
                    )
                    .answered(
                        response.status,
                        response.headers.clone(),
                        &response.body,
                    ),
                );
            }
            return Ok(response);
        }
    }

    /// A new access token from `oauth`'s token endpoint, unless one newer
    /// than `generation` came meanwhile.
    async fn refresh(
        &self,
        oauth: &super::oauth::Refresher,
        generation: u64,
        secrets: &Secrets,
    ) -> Result<(), String> {
        oauth
            .refresh(
                generation,
                secrets,
                &self.policy,
                &self.clients,
                &self.limits,
            )
            .await
    }

    /// The request's headers with the credential the host adds, as its
    /// placeholder: what a cassette shows of a request.
    fn headers_as_written(&self, headers: &[(String, String)]) -> Vec<(String, String)> {
        let mut out = headers.to_vec();
        if let Some((name, value)) = self.auth_placeholder() {
            if !out.iter().any(|(k, _)| k.eq_ignore_ascii_case(&name)) {
                out.push((name, value));
            }
        }
        out
    }

    /// The header the connector's auth scheme adds, with the secret's
    /// placeholder as its value.
    fn auth_placeholder(&self) -> Option<(String, String)> {
        match &self.auth {
            AuthScheme::None => None,
            AuthScheme::Bearer(secret) => Some((
                "authorization".to_string(),
                format!("Bearer {{{{secret:{secret}}}}}"),
            )),
            AuthScheme::Header((header, secret)) => Some((
                header.to_ascii_lowercase(),
                format!("{{{{secret:{secret}}}}}"),
            )),
            AuthScheme::Basic(_) => Some((
                "authorization".to_string(),
                format!("Basic {{{{secret:{BASIC_SECRET}}}}}"),
            )),
            AuthScheme::ClientCredentials(_) => Some((
                "authorization".to_string(),
                format!("Bearer {{{{secret:{ACCESS_TOKEN_SECRET}}}}}"),
            )),
        }
    }

    /// Adds the credential the connector's auth scheme names, unless the
    /// connector already set that header itself (with a placeholder).
    fn add_auth(
        &self,
        secrets: &Secrets,
        headers: &mut reqwest::header::HeaderMap,
    ) -> Result<(), http::HttpError> {
        let Some((name, value)) = self.auth_placeholder() else {
            return Ok(());
        };
        if headers.contains_key(name.as_str()) {
            return Ok(());
        }
        if let AuthScheme::Basic(b) = &self.auth {
            for name in [&b.user_secret, &b.password_secret] {
                if secrets.get(name).is_none() {
                    return Err(http::HttpError::Denied(format!(
                        "basic auth: no secret named `{name}` is bound for this job"
                    )));
                }
            }
        }
        let value = secrets
            .substitute(&value)
            .map_err(http::HttpError::Denied)?;
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            http::HttpError::Denied(format!("auth header `{name}` is not a header name"))
        })?;
        let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
            http::HttpError::Denied("the secret is not a valid header value".into())
        })?;
        value.set_sensitive(true);
        headers.insert(name, value);
        Ok(())
    }
}

/// The secret a `basic` scheme's header is made of: `base64(user:password)`,
/// derived by the host from the two secrets the scheme names, so that it is
/// substituted and scrubbed like any other secret.
pub const BASIC_SECRET: &str = "synchost.basic-credential";

/// The secret holding the access token of a `client-credentials` scheme,
/// filled by the host once it has asked the token endpoint.
pub const ACCESS_TOKEN_SECRET: &str = "synchost.access-token";

/// `secrets` with [`BASIC_SECRET`] derived from the scheme's user and
/// password secrets (RFC 7617 §2), when both are bound.
pub fn with_basic_credential(secrets: Secrets, basic: &types::BasicAuth) -> Secrets {
    use base64::Engine as _;
    match (
        secrets.get(&basic.user_secret),
        secrets.get(&basic.password_secret),
    ) {
        (Some(user), Some(password)) => {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            secrets.with_value(BASIC_SECRET, encoded)
        }
        _ => secrets,
    }
}

/// `Retry-After` as delta-seconds (fractions allowed) or an HTTP-date
/// (RFC 9110 §10.2.3), capped at [`MAX_PAUSE`]; `None` when it is neither.
fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let value = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))?
        .1
        .trim();
    if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        return Some(
            Duration::try_from_secs_f64(secs)
                .unwrap_or(MAX_PAUSE)
                .min(MAX_PAUSE),
        );
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO).min(MAX_PAUSE))
}

/// The host's own 429, as the platform would answer: the request was not
/// sent, and `wait` is how long until it may be.
fn host_429(wait: Duration, why: &str) -> http::Response {
    let secs = wait.as_secs().max(1);
    http::Response {
        status: 429,
        headers: vec![
            ("retry-after".into(), secs.to_string()),
            ("content-type".into(), "application/json".into()),
        ],
        body: serde_json::json!({ "error": format!("synchost: {why}") })
            .to_string()
            .into_bytes(),
    }
}

fn http_error_text(e: &http::HttpError) -> String {
    match e {
        http::HttpError::Denied(why) => format!("denied: {why}"),
        http::HttpError::Timeout => "timeout".into(),
        http::HttpError::TooLarge(n) => format!("response larger than {n} bytes"),
        http::HttpError::Network(why) => format!("network: {why}"),
    }
}
