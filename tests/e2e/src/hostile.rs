//! The attacker's kit for the sandbox tests: the hostile connector
//! (`tests/hostile`) loaded into a runtime, and a hostile platform on loopback
//! that the connector declared: it echoes requests back (plainly, gzipped,
//! re-encoded), throttles with absurd `Retry-After` values and serves large
//! bodies. Each test in `tests/hostile*.rs` performs one attack with them.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use base64::Engine as _;
use synchost::runtime::{
    Connection, FieldValue, Limit, Limits, LoadedConnector, Page, ReadRequest, Runtime,
    RuntimeError,
};
use synchost_sim::server::Served;

use crate::{bind_secret, build_connector, runtime, simulated};

/// The credential the job binds as `token`: what every attack tries to read.
pub const SECRET: &str = "sk-live-very-secret-value-42";

pub fn req(entity: &str) -> ReadRequest {
    ReadRequest {
        entity: entity.into(),
        cursor: None,
        since: None,
        page_size: 10,
    }
}

/// Every request as the echo saw it: its URI, headers and body.
fn echo_text(headers: &HeaderMap, uri: &axum::http::Uri, body: &[u8]) -> String {
    let headers: Vec<String> = headers
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
        .collect();
    format!(
        "uri={uri}\nheaders={headers:?}\nbody={}",
        String::from_utf8_lossy(body)
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Echoes the request; gzipped when the request accepts gzip, as a real
/// server would.
async fn echo(headers: HeaderMap, uri: axum::http::Uri, body: Bytes) -> Response {
    let text = echo_text(&headers, &uri, &body);
    let accepts_gzip = headers
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    if accepts_gzip {
        ([("content-encoding", "gzip")], gzip(text.as_bytes())).into_response()
    } else {
        text.into_response()
    }
}

/// Echoes the request with a content coding it was not asked for:
/// `?coding=gzip` (which the host can decode) or any other name.
async fn forced(
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let text = echo_text(&headers, &uri, &body);
    let coding = q.get("coding").cloned().unwrap_or_else(|| "gzip".into());
    let bytes = if coding == "gzip" {
        gzip(text.as_bytes())
    } else {
        text.into_bytes()
    };
    ([("content-encoding", coding)], bytes).into_response()
}

/// The ways a platform might re-encode a credential it echoes.
pub fn encodings_of(value: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut out = vec![
        STANDARD.encode(value),
        STANDARD_NO_PAD.encode(value),
        URL_SAFE_NO_PAD.encode(value),
        // the whole header line, so the value sits at another offset
        STANDARD.encode(format!("authorization: {value}")),
        STANDARD.encode(format!("Authorization= {value}!")),
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        value
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>(),
        hex_lower(value.as_bytes()),
        hex_lower(value.as_bytes()).to_uppercase(),
        serde_json::to_string(value).unwrap(),
    ];
    if let Some(basic) = value.strip_prefix("Basic ") {
        if let Ok(decoded) = STANDARD.decode(basic) {
            let pair = String::from_utf8(decoded).unwrap();
            out.push(pair.clone());
            out.push(pair.split_once(':').unwrap().1.to_string());
        }
    }
    out
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn encoded(headers: HeaderMap) -> String {
    let value = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    encodings_of(&value).join("\n")
}

async fn throttle(Query(q): Query<BTreeMap<String, String>>) -> Response {
    let after = q.get("after").cloned().unwrap_or_else(|| "1".into());
    (
        StatusCode::TOO_MANY_REQUESTS,
        [("retry-after", after)],
        "slow down",
    )
        .into_response()
}

/// The hostile platform: a host the connector declared.
pub async fn echo_server() -> Served {
    let app = Router::new()
        .route("/echo", post(echo))
        .route("/forced", any(forced))
        .route("/encoded", get(encoded))
        .route("/throttle", get(throttle))
        .route("/headers", get(|| async { "ok" }))
        .route("/big", get(|| async { vec![b'x'; 4 << 20] }));
    Served::start(app).await.unwrap()
}

pub struct Setup {
    pub rt: Runtime,
    pub hostile: Arc<LoadedConnector>,
    pub echo: Served,
}

pub async fn setup() -> Setup {
    let rt = runtime();
    let hostile = rt
        .load(&build_connector("synchost-connector-hostile"))
        .await
        .unwrap();
    Setup {
        rt,
        hostile,
        echo: echo_server().await,
    }
}

/// The job's connection: the declared echo host routed to the hostile
/// platform, the credential bound as `token`, tight limits.
pub fn conn(s: &Setup, allow_private: bool) -> Connection {
    let mut c = simulated("https://echo.example.com", &s.echo.base_url());
    c.allow_private_networks = allow_private;
    c.limits = Some(Limits {
        call_timeout: Duration::from_secs(2),
        memory_bytes: 64 << 20,
        max_response_bytes: 1 << 20,
        ..Limits::default()
    });
    bind_secret(&mut c, "token", SECRET);
    c
}

pub async fn attack_with(s: &Setup, entity: &str, c: &Connection) -> Result<Page, RuntimeError> {
    let mut session = s.rt.session(&s.hostile, c).await.unwrap();
    session.read(&req(entity)).await
}

pub async fn attack(s: &Setup, entity: &str, allow_private: bool) -> Result<Page, RuntimeError> {
    attack_with(s, entity, &conn(s, allow_private)).await
}

/// After an attack, a fresh session of the same host still works.
pub async fn host_still_serves(s: &Setup) {
    let page = attack(s, "wasi", false)
        .await
        .expect("the host keeps serving after an attack");
    assert_eq!(page.records.len(), 1);
}

/// What the connector reported seeing.
pub fn observed(page: &Page) -> String {
    match &page.records[0].fields[0].value {
        FieldValue::Text(t) => t.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

pub fn assert_limit(err: RuntimeError, limit: Limit) {
    match err {
        RuntimeError::LimitExceeded {
            limit: got,
            ref detail,
            ..
        } if got == limit => {
            assert!(!err.to_string().is_empty(), "{detail}");
        }
        other => panic!("expected the {limit}, got: {other}"),
    }
}

/// The connector's request was refused by the host, saying `needle`.
pub fn assert_denied(err: RuntimeError, needle: &str) {
    let text = err.to_string();
    assert!(matches!(err, RuntimeError::Connector { .. }), "{text}");
    assert!(text.contains("denied") && text.contains(needle), "{text}");
    assert!(!text.contains(SECRET), "an error leaked the secret: {text}");
}

/// `text` holds the secret in none of the ways a platform might echo it.
pub fn assert_no_trace_of(secret: &str, text: &str) {
    assert!(
        !text.contains(secret),
        "the connector read the secret: {text}"
    );
    for form in encodings_of(secret) {
        assert!(
            !text.contains(&form),
            "the connector read the secret as `{form}`: {text}"
        );
    }
}

/// Log lines written on this thread while it lives (the tests run on a
/// current-thread runtime, so the session's logs are among them).
pub struct CapturedLogs {
    lines: Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone)]
struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    pub fn install() -> CapturedLogs {
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Sink(lines.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || sink.clone())
            .finish();
        CapturedLogs {
            lines,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    pub fn longest_line(&self) -> usize {
        let bytes = self.lines.lock().unwrap();
        bytes
            .split(|b| *b == b'\n')
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0)
    }
}
