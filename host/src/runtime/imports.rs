//! What the host gives a connector: the `http`, `log` and `crypto` imports of
//! the contract, and a WASI with nothing granted (no files, no environment,
//! no sockets) for the language runtime's own needs (clocks, randomness).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::v0_1_0::synchost::connector::{crypto, http, log, types};
use super::limits::{Limits, MemoryLimiter};
use super::outbound::{self, Clients, SendError};
use super::policy::{strip_query, Policy};
use super::rate::{Rate, RateLimiter};
use super::secrets::Secrets;
use types::AuthScheme;

/// Most log lines one session may write; the rest are counted and dropped.
const MAX_LOG_LINES: usize = 10_000;
const MAX_LOG_LINE: usize = 4096;
/// Times the host itself waits out a 429 before handing it to the connector.
const MAX_429_RETRIES: u32 = 5;

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
    pub stats: Arc<super::stats::Stats>,
    pub oauth: Option<super::oauth::Refresher>,
    pub tape: Option<super::tape::Tape>,
}

/// The data of one `Store`: one connector instance for one run.
pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub net: NetCtx,
    pub stderr: MemoryOutputPipe,
    /// bytes of `stderr` already logged
    pub stderr_seen: usize,
    log_lines: usize,
}

impl HostState {
    pub fn new(net: NetCtx) -> Self {
        // The guest's stdout and stderr go to a bounded buffer that the host
        // logs after each call: that is where a Rust panic message lands.
        let stderr = MemoryOutputPipe::new(64 * 1024);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .stdout(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(net.limits.memory_bytes),
            net,
            stderr,
            stderr_seen: 0,
            log_lines: 0,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            if self.log_lines == MAX_LOG_LINES + 1 {
                tracing::warn!(connector = %self.net.connector, "connector log limit reached; further lines dropped");
            }
            return Ok(());
        }
        let mut message = self.net.secrets.scrub_str(&message);
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let connector = &self.net.connector;
        match level {
            log::Level::Trace => {
                tracing::trace!(target: "synchost::connector", %connector, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(target: "synchost::connector", %connector, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: "synchost::connector", %connector, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: "synchost::connector", %connector, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: "synchost::connector", %connector, "{message}")
            }
        }
        Ok(())
    }
}

impl crypto::Host for HostState {
    async fn hmac_sha256(
        &mut self,
        secret_name: String,
        message: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let Some(key) = self.net.secrets.hmac_key(&secret_name) else {
            return Ok(Err(format!(
                "no secret named `{secret_name}` is bound for this job"
            )));
        };
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(&message);
        Ok(Ok(mac.finalize().into_bytes().to_vec()))
    }
}

impl http::Host for HostState {
    async fn send(
        &mut self,
        req: http::Request,
    ) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        let net = self.net.clone();
        Ok(net.send(req).await)
    }
}

impl NetCtx {
    async fn send(&self, req: http::Request) -> Result<http::Response, http::HttpError> {
        let started = Instant::now();
        let method = req.method.to_ascii_uppercase();
        let (host, path) = match url::Url::parse(&req.url) {
            Ok(u) => (
                u.host_str().unwrap_or_default().to_string(),
                u.path().to_string(),
            ),
            Err(_) => (String::new(), strip_query(&req.url).to_string()),
        };
        let result = self.send_checked(&method, req).await;
        let (status, error) = match &result {
            Ok(resp) => (resp.status, None),
            Err(e) => (0, Some(http_error_text(e))),
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
        self.calls.lock().unwrap().push(CallRecord {
            method,
            host,
            path,
            status,
            millis,
            micros,
            error,
        });
        result
    }

    async fn send_checked(
        &self,
        method: &str,
        req: http::Request,
    ) -> Result<http::Response, http::HttpError> {
        let routed = self
            .policy
            .route(&req.url)
            .map_err(http::HttpError::Denied)?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| http::HttpError::Denied(format!("`{method}` is not an HTTP method")))?;

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
        let mut retries = 0;
        let mut refreshed = false;
        loop {
            let (generation, secrets) = match &self.oauth {
                Some(oauth) => oauth.current(&self.secrets),
                None => (0, self.secrets.clone()),
            };
            let mut headers = reqwest::header::HeaderMap::new();
            for (name, value) in &req.headers {
                let value = secrets.substitute(value).map_err(http::HttpError::Denied)?;
                let name =
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        http::HttpError::Denied(format!("`{name}` is not a header name"))
                    })?;
                if name == reqwest::header::HOST {
                    continue;
                }
                let value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                    http::HttpError::Denied(format!("the value of header `{name}` is not valid"))
                })?;
                headers.append(name, value);
            }
            self.add_auth(&secrets, &mut headers)?;
            if let Some(rate) = self.rate {
                if let Some(budget) = rate.daily_budget {
                    // A spent budget answers as the platform would, without
                    // asking it: 429 with the wait until the budget renews.
                    if let Err(wait) = self.rate_limiter.spend(&self.rate_key, budget) {
                        let secs = wait.as_secs().max(1);
                        tracing::warn!(target: "synchost::http", connector = %self.connector, budget, "daily request budget spent; deferred for {secs} s");
                        return Ok(http::Response {
                            status: 429,
                            headers: vec![("retry-after".into(), secs.to_string()), ("content-type".into(), "application/json".into())],
                            body: format!(r#"{{"error":"synchost: the daily budget of {budget} requests for this platform and credential is spent"}}"#).into_bytes(),
                        });
                    }
                }
                self.rate_limiter.acquire(&self.rate_key, rate).await;
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
            if raw.status == 429 {
                let wait = retry_after(&raw.headers).unwrap_or(Duration::from_secs(1));
                let rate = self.rate.unwrap_or(Rate {
                    per_second: 1.0,
                    burst: 1,
                    daily_budget: None,
                });
                self.rate_limiter.pause(&self.rate_key, rate, wait);
                if retries < MAX_429_RETRIES && wait <= self.limits.call_timeout / 2 {
                    retries += 1;
                    tracing::info!(target: "synchost::http", connector = %self.connector, wait_ms = wait.as_millis() as u64, "429 from platform; waiting as Retry-After says");
                    if self.rate.is_none() {
                        tokio::time::sleep(wait).await;
                    }
                    continue;
                }
            }
            if raw.status == 401 && !refreshed {
                if let Some(oauth) = &self.oauth {
                    refreshed = true;
                    match oauth
                        .refresh(
                            generation,
                            &secrets,
                            &self.policy,
                            &self.clients,
                            &self.limits,
                        )
                        .await
                    {
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

/// `Retry-After` as delta-seconds (fractions allowed).
fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let value = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))?;
    let secs: f64 = value.1.trim().parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

fn http_error_text(e: &http::HttpError) -> String {
    match e {
        http::HttpError::Denied(why) => format!("denied: {why}"),
        http::HttpError::Timeout => "timeout".into(),
        http::HttpError::TooLarge(n) => format!("response larger than {n} bytes"),
        http::HttpError::Network(why) => format!("network: {why}"),
    }
}
