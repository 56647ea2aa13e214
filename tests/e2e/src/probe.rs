//! The platform of the probe connectors (tests/probe, tests/probe-cc): a
//! small HTTP store on loopback that checks credentials the way a real API
//! does and records what it was sent, so a test can assert what contract
//! 0.2.0 promises: Basic auth (RFC 7617 §2), OAuth 2.0 client credentials
//! (RFC 6749 §4.4.2 token request, §5.1 answer, §5.2 error), entities listed
//! after configure, an opaque checkpoint given back exactly, write calls no
//! larger than the declared max-batch, and `unknown` outcomes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};

/// The credential the server accepts.
#[derive(Clone, Debug)]
pub enum Credential {
    Basic { user: String, password: String },
    ClientCredentials { id: String, secret: String },
}

#[derive(Clone, Debug)]
pub struct Note {
    pub id: String,
    pub title: Option<String>,
    pub email: Option<String>,
    /// the change counter when it last changed
    pub seq: u64,
}

/// What the server holds and what it saw.
#[derive(Default)]
pub struct Seen {
    pub entities: Vec<String>,
    pub notes: BTreeMap<String, Note>,
    /// `Authorization` of every request to the API (not the token endpoint)
    pub authorizations: Vec<String>,
    /// ops in each write call
    pub write_calls: Vec<usize>,
    /// every checkpoint the server gave out, and every `since` it received
    pub checkpoints_given: Vec<String>,
    pub since_received: Vec<String>,
    /// form bodies of token requests
    pub token_requests: Vec<BTreeMap<String, String>>,
    tokens: Vec<String>,
    /// answer write calls 504 after applying them
    pub writes_time_out: bool,
    seq: u64,
    next_id: u64,
}

#[derive(Clone)]
struct App {
    credential: Credential,
    seen: Arc<Mutex<Seen>>,
}

pub struct ProbeServer {
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ProbeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A checkpoint that reads as an RFC 3339 date-time but is the server's
/// change counter: moved by a second, it names another change.
fn checkpoint_of(seq: u64) -> String {
    let t = chrono_free_time(seq);
    format!("2030-01-01T{t}.000Z")
}

fn chrono_free_time(seq: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        seq / 3600 % 24,
        seq / 60 % 60,
        seq % 60
    )
}

fn seq_of(checkpoint: &str) -> Option<u64> {
    let t = checkpoint
        .strip_prefix("2030-01-01T")?
        .strip_suffix(".000Z")?;
    let mut parts = t.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some(h * 3600 + m * 60 + s)
}

impl ProbeServer {
    pub async fn start(credential: Credential, entities: &[&str]) -> ProbeServer {
        let seen = Arc::new(Mutex::new(Seen {
            entities: entities.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        }));
        let app = App {
            credential,
            seen: seen.clone(),
        };
        let router = Router::new()
            .route("/oauth/token", post(token))
            .route("/entities", get(list_entities))
            .route("/records/{entity}", get(read).post(write))
            .with_state(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        ProbeServer { url, seen, task }
    }

    /// Access tokens given so far stop working, as when they expire.
    pub fn revoke_tokens(&self) {
        self.seen.lock().unwrap().tokens.clear();
    }

    pub fn titles(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        let mut titles: Vec<String> = seen
            .notes
            .values()
            .filter_map(|n| n.title.clone())
            .collect();
        titles.sort();
        titles
    }
}

fn no_such_entity() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "no such entity"})),
    )
        .into_response()
}

fn unauthorized(why: &str) -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({"error": why}))).into_response()
}

/// Whether the request carries the credential; records what it carried.
#[allow(clippy::result_large_err)] // the answer to send back, as axum builds it
fn authorized(app: &App, headers: &HeaderMap) -> Result<(), Response> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut seen = app.seen.lock().unwrap();
    seen.authorizations.push(given.clone());
    let ok = match &app.credential {
        Credential::Basic { user, password } => {
            let expected =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            given == format!("Basic {expected}")
        }
        Credential::ClientCredentials { .. } => given
            .strip_prefix("Bearer ")
            .is_some_and(|t| seen.tokens.iter().any(|k| k == t)),
    };
    if ok {
        Ok(())
    } else {
        Err(unauthorized("missing or wrong credential"))
    }
}

/// RFC 6749 §4.4.2: `grant_type=client_credentials`, the client's id and
/// secret in the body (§2.3.1), an optional `scope`.
async fn token(State(app): State<App>, Form(form): Form<BTreeMap<String, String>>) -> Response {
    let mut seen = app.seen.lock().unwrap();
    seen.token_requests.push(form.clone());
    let Credential::ClientCredentials { id, secret } = &app.credential else {
        return (StatusCode::NOT_FOUND, "no token endpoint").into_response();
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    if form.get("client_id") != Some(id) || form.get("client_secret") != Some(secret) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "unknown client"})),
        )
            .into_response();
    }
    let token = format!("tok-{}", seen.token_requests.len());
    seen.tokens.push(token.clone());
    Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600})).into_response()
}

async fn list_entities(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&app, &headers) {
        return r;
    }
    let seen = app.seen.lock().unwrap();
    let list: Vec<Value> = seen
        .entities
        .iter()
        .map(|e| json!({"name": e, "description": format!("the {e} table")}))
        .collect();
    Json(json!({ "entities": list })).into_response()
}

async fn read(
    State(app): State<App>,
    Path(entity): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&app, &headers) {
        return r;
    }
    let mut seen = app.seen.lock().unwrap();
    if !seen.entities.contains(&entity) {
        return no_such_entity();
    }
    let since = match q.get("since") {
        Some(s) => {
            if !q.contains_key("after") {
                seen.since_received.push(s.clone());
            }
            match seq_of(s) {
                Some(n) => n,
                None => {
                    return (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"error": format!("not a checkpoint of mine: {s}")})),
                    )
                        .into_response()
                }
            }
        }
        None => 0,
    };
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    let after = q.get("after").cloned().unwrap_or_default();
    let matching: Vec<&Note> = seen
        .notes
        .values()
        .filter(|n| n.seq > since && n.id > after)
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .take(limit)
        .map(|n| json!({"id": n.id, "title": n.title, "email": n.email, "updated_at": checkpoint_of(n.seq)}))
        .collect();
    let more = matching.len() > limit;
    let next = more.then(|| matching[limit - 1].id.clone());
    let checkpoint = (!more).then(|| checkpoint_of(seen.seq));
    if let Some(c) = &checkpoint {
        seen.checkpoints_given.push(c.clone());
    }
    Json(json!({"records": page, "next": next, "checkpoint": checkpoint})).into_response()
}

async fn write(
    State(app): State<App>,
    Path(entity): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = authorized(&app, &headers) {
        return r;
    }
    let mut seen = app.seen.lock().unwrap();
    if !seen.entities.contains(&entity) {
        return no_such_entity();
    }
    let ops = body["ops"].as_array().cloned().unwrap_or_default();
    seen.write_calls.push(ops.len());
    let mut results = Vec::new();
    for op in ops {
        seen.seq += 1;
        let seq = seen.seq;
        let text = |name: &str| op["fields"][name].as_str().map(String::from);
        match op["op"].as_str() {
            Some("create") => {
                seen.next_id += 1;
                let id = format!("n{:06}", seen.next_id);
                let note = Note {
                    id: id.clone(),
                    title: text("title"),
                    email: text("email"),
                    seq,
                };
                seen.notes.insert(id.clone(), note);
                results.push(json!({"id": id, "updated_at": checkpoint_of(seq)}));
            }
            Some("update") => {
                let id = op["id"].as_str().unwrap_or_default().to_string();
                match seen.notes.get_mut(&id) {
                    Some(n) => {
                        if op["fields"].get("title").is_some() {
                            n.title = text("title");
                        }
                        if op["fields"].get("email").is_some() {
                            n.email = text("email");
                        }
                        n.seq = seq;
                        results.push(json!({"id": id, "updated_at": checkpoint_of(seq)}));
                    }
                    None => results.push(json!({"error": format!("no note {id}")})),
                }
            }
            Some("delete") => {
                let id = op["id"].as_str().unwrap_or_default().to_string();
                seen.notes.remove(&id);
                results.push(json!({"id": id}));
            }
            _ => results.push(json!({"error": "unknown op"})),
        }
    }
    if seen.writes_time_out {
        return (StatusCode::GATEWAY_TIMEOUT, "upstream timed out").into_response();
    }
    Json(json!({ "results": results })).into_response()
}
