//! Console sessions. Logging in takes an API token once; the daemon keeps
//! the session in memory (the token's scope, a CSRF token) under a random
//! id, and the browser holds only that id, in a cookie that scripts cannot
//! read (`HttpOnly`) and that no other site's request carries
//! (`SameSite=Strict`), sent to `/ui` only. The token is checked again on
//! every request: a revoked project token ends its sessions at once.
//!
//! Every POST is checked by [`guard`] before its handler runs: it must
//! carry the session's CSRF token, as the `X-CSRF-Token` header (htmx) or
//! as the form's `csrf` field; the login form carries the token of a
//! short-lived login cookie instead. Anything else is refused with 403.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use super::{render, Chrome};
use crate::daemon::access::{constant_time_eq, Scope};
use crate::daemon::api::Shared;
use crate::daemon::Core;

const COOKIE: &str = "synchost_session";
const LOGIN_COOKIE: &str = "synchost_login";
const HEADER: &str = "x-csrf-token";
/// A session unused this long is over.
const IDLE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the oldest go first).
const MAX_SESSIONS: usize = 10_000;
/// Largest form a page posts (uploads have the API's upload limit).
const MAX_FORM: usize = 1 << 20;

struct Session {
    /// kept to check it again on each request (never sent to the browser)
    token: String,
    scope: Scope,
    csrf: String,
    last_seen: Instant,
    notice: Option<String>,
}

/// The console's sessions, by id.
#[derive(Default)]
pub struct Sessions {
    map: parking_lot::Mutex<HashMap<String, Session>>,
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    /// A new session for `token`, whose scope is `scope`; its id.
    fn open(&self, token: &str, scope: Scope) -> String {
        let mut map = self.map.lock();
        map.retain(|_, s| s.last_seen.elapsed() < IDLE);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(id, _)| id.clone())
            {
                map.remove(&oldest);
            }
        }
        let id = random_hex();
        map.insert(
            id.clone(),
            Session {
                token: token.to_string(),
                scope,
                csrf: random_hex(),
                last_seen: Instant::now(),
                notice: None,
            },
        );
        id
    }

    fn close(&self, id: &str) -> Option<Scope> {
        self.map.lock().remove(id).map(|s| s.scope)
    }

    /// The live session `id` whose token still gives the same scope (its
    /// notice taken, shown once); a session whose token was revoked ends.
    fn find(&self, core: &Core, id: &str) -> Option<Ui> {
        let token = {
            let map = self.map.lock();
            let s = map.get(id)?;
            (s.last_seen.elapsed() < IDLE).then(|| (s.token.clone(), s.scope.clone()))
        };
        let Some((token, scope)) = token else {
            self.close(id);
            return None;
        };
        if core.tokens.check(&token).as_ref() != Some(&scope) {
            self.close(id);
            return None;
        }
        let mut map = self.map.lock();
        let s = map.get_mut(id)?;
        s.last_seen = Instant::now();
        Some(Ui {
            id: id.to_string(),
            scope,
            csrf: s.csrf.clone(),
            notice: s.notice.take(),
        })
    }

    fn csrf_of(&self, id: &str) -> Option<String> {
        self.map.lock().get(id).map(|s| s.csrf.clone())
    }

    /// A notice the next page of session `id` shows once.
    pub fn notice(&self, id: &str, text: String) {
        if let Some(s) = self.map.lock().get_mut(id) {
            s.notice = Some(text);
        }
    }
}

/// The logged-in person of a request: a handler taking it answers only
/// within a session, and sends anyone else to the login page.
#[derive(Clone)]
pub struct Ui {
    pub id: String,
    pub scope: Scope,
    pub csrf: String,
    pub notice: Option<String>,
}

impl FromRequestParts<Shared> for Ui {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, core: &Shared) -> Result<Ui, Response> {
        cookie(&parts.headers, COOKIE)
            .and_then(|id| core.console.find(core, &id))
            .ok_or_else(|| to_login(&parts.headers))
    }
}

/// To the login page; for htmx, as its `HX-Redirect`.
fn to_login(headers: &HeaderMap) -> Response {
    if headers.contains_key("hx-request") {
        ([("hx-redirect", "/ui/login")], StatusCode::OK).into_response()
    } else {
        Redirect::to("/ui/login").into_response()
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/ui; HttpOnly; SameSite=Strict{age}"
    ))
    .expect("a cookie of hex digits")
}

/// Every console answer: no framing, no caching of pages, scripts and
/// styles from the daemon only; and every POST's CSRF token checked.
pub async fn guard(State(core): State<Shared>, req: Request, next: Next) -> Response {
    let mut resp = if req.method() == Method::POST {
        checked(&core, req, next).await
    } else {
        next.run(req).await
    };
    let headers = resp.headers_mut();
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        (
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Runs a POST only with the right CSRF token.
async fn checked(core: &Shared, req: Request, next: Next) -> Response {
    let login = req.uri().path() == "/ui/login";
    let expected = if login {
        cookie(req.headers(), LOGIN_COOKIE)
    } else {
        cookie(req.headers(), COOKIE).and_then(|id| core.console.csrf_of(&id))
    };
    let Some(expected) = expected else {
        return if login {
            refused("the login form has expired: open the login page again")
        } else {
            to_login(req.headers())
        };
    };
    let matches = |given: &str| constant_time_eq(given.as_bytes(), expected.as_bytes());
    if let Some(given) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        return if matches(given) {
            next.run(req).await
        } else {
            refused("the CSRF token of this request is not this session's")
        };
    }
    let (parts, body) = req.into_parts();
    let limit = if parts.uri.path() == "/ui/connectors" {
        crate::daemon::api::MAX_UPLOAD
    } else {
        MAX_FORM
    };
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large").into_response();
    };
    match form_token(&parts.headers, &bytes).await {
        Some(given) if matches(&given) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => refused("this form did not carry this session's CSRF token"),
    }
}

fn refused(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Refused: {why}. Reload the page and try again."),
    )
        .into_response()
}

/// The `csrf` field of a posted form (URL-encoded or multipart, where the
/// console's forms put it first).
async fn form_token(headers: &HeaderMap, body: &Bytes) -> Option<String> {
    let kind = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    if kind.starts_with("application/x-www-form-urlencoded") {
        return url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
    }
    if kind.starts_with("multipart/form-data") {
        let req = Request::builder()
            .header(header::CONTENT_TYPE, kind)
            .body(Body::from(body.clone()))
            .ok()?;
        let mut form = Multipart::from_request(req, &()).await.ok()?;
        while let Ok(Some(field)) = form.next_field().await {
            if field.name() == Some("csrf") {
                return field.text().await.ok();
            }
        }
    }
    None
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    csrf: String,
    error: Option<String>,
}

/// The login page, with a fresh login cookie whose value the form carries.
fn login_form(status: StatusCode, error: Option<String>) -> Response {
    let csrf = random_hex();
    let mut resp = render(
        status,
        &LoginPage {
            csrf: csrf.clone(),
            error,
        },
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &csrf, Some(1800)),
    );
    resp
}

pub async fn login_page(State(core): State<Shared>, headers: HeaderMap) -> Response {
    if cookie(&headers, COOKIE).is_some_and(|id| core.console.find(&core, &id).is_some()) {
        return Redirect::to("/ui/").into_response();
    }
    login_form(StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn login(State(core): State<Shared>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    let Some(scope) = core.tokens.check(token) else {
        core.metrics.refused("unauthenticated");
        core.audit_throttled("auth_refused", "");
        return login_form(
            StatusCode::UNAUTHORIZED,
            Some("That token is not one of this daemon's. The admin token is in DATA/api-token; project tokens come from `synchost token create`.".into()),
        );
    };
    core.audit("console_login", "", json!({"by": scope.label()}));
    let id = core.console.open(token, scope);
    let mut resp = Redirect::to("/ui/").into_response();
    let headers = resp.headers_mut();
    headers.append(header::SET_COOKIE, set_cookie(COOKIE, &id, None));
    headers.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", Some(0)));
    resp
}

pub async fn logout(State(core): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(scope) = cookie(&headers, COOKIE).and_then(|id| core.console.close(&id)) {
        core.audit("console_logout", "", json!({"by": scope.label()}));
    }
    let mut resp = Redirect::to("/ui/login").into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie(COOKIE, "", Some(0)));
    resp
}

impl Ui {
    /// The frame of a page of this session.
    pub fn chrome(&self, title: impl Into<String>, nav: &'static str) -> Chrome {
        Chrome::new(self, title, nav)
    }
}
