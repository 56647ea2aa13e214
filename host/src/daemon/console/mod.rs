//! The web console: pages served by the daemon itself under `/ui`, rendered
//! on the server (askama templates compiled into the binary, `templates/console/`)
//! with htmx for the buttons (vendored in `assets/console/`, embedded too).
//!
//! A person logs in with an API token ([`session`]): the daemon keeps a
//! session in memory and gives the browser only a random session id, in an
//! `HttpOnly`, `SameSite=Strict` cookie. Every POST carries the session's
//! CSRF token (a hidden input, and a header for htmx), checked before any
//! handler runs. A project token's session sees what the API shows that
//! token, through the same checks ([`super::api::sees_job`],
//! [`super::api::visible_jobs`]), and every action goes through the same
//! functions as the API's, audited the same way.
//!
//! - [`session`]: login, logout, sessions, the CSRF check;
//! - [`jobs`]: jobs, "Run now", previews and waiting plans;
//! - [`runs`] (with [`chart`]): the runs, as a chart and a table;
//! - [`conflicts`]: parked pairs side by side, and decisions;
//! - [`connectors`]: loaded connectors, and uploads;
//! - [`audit`]: the audit log, newest first.

mod audit;
mod chart;
mod conflicts;
mod connectors;
mod jobs;
mod plan;
mod runs;
mod session;

use askama::Template;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use super::api::Shared;
pub use session::Sessions;
use session::Ui;

pub fn router(core: Shared) -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(jobs::list))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/jobs/{sync_id}", get(jobs::show))
        .route("/ui/jobs/{sync_id}/run", post(jobs::run_now))
        .route("/ui/jobs/{sync_id}/preview", post(jobs::preview))
        .route("/ui/jobs/{sync_id}/plan/accept", post(jobs::accept))
        .route("/ui/runs", get(runs::page))
        .route("/ui/conflicts", get(conflicts::list))
        .route("/ui/conflicts/{id}", get(conflicts::show))
        .route("/ui/conflicts/{id}/resolve", post(conflicts::resolve))
        .route(
            "/ui/connectors",
            get(connectors::page)
                .post(connectors::upload)
                .layer(DefaultBodyLimit::max(super::api::MAX_UPLOAD)),
        )
        .route("/ui/audit", get(audit::page))
        .route("/ui/assets/{file}", get(asset))
        .layer(axum::middleware::from_fn_with_state(core, session::guard))
}

/// What every page's frame shows: the title, where the page is in the
/// menu, who is logged in, the CSRF token of its forms, a one-time notice.
pub struct Chrome {
    pub title: String,
    pub nav: &'static str,
    pub who: String,
    pub admin: bool,
    pub csrf: String,
    pub notice: Option<String>,
}

impl Chrome {
    pub fn new(ui: &Ui, title: impl Into<String>, nav: &'static str) -> Chrome {
        Chrome {
            title: title.into(),
            nav,
            who: ui.scope.label(),
            admin: ui.scope.is_admin(),
            csrf: ui.csrf.clone(),
            notice: ui.notice.clone(),
        }
    }
}

/// A page answered with `status`; a template error is a readable 500.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("this page could not be rendered: {e}"),
        )
            .into_response(),
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    page: Chrome,
    message: String,
}

/// A page saying what went wrong, in the console's frame.
pub fn error_page(ui: &Ui, status: StatusCode, message: impl Into<String>) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_string();
    render(
        status,
        &ErrorPage {
            page: Chrome::new(ui, title, ""),
            message: message.into(),
        },
    )
}

/// After a POST: back to a page (303), where the session's notice says
/// what was done.
pub fn see_other(ui: &Ui, core: &Shared, to: &str, notice: impl Into<String>) -> Response {
    core.console.notice(&ui.id, notice.into());
    Redirect::to(to).into_response()
}

/// The status and JSON body of an API handler's answer, for the pages that
/// call the API's own functions.
pub async fn answer(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The reason in an API error's body (`{"error": …}`).
pub fn reason(body: &Value) -> String {
    body["error"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| body.to_string())
}

/// A path segment, escaped for a link.
pub fn escape_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

const CSS: &str = include_str!("../../../assets/console/console.css");
const HTMX: &str = include_str!("../../../assets/console/htmx.min.js");
const HTMX_LICENSE: &str = include_str!("../../../assets/console/htmx.LICENSE");

/// The console's own files, embedded in the binary.
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "htmx.LICENSE" => (HTMX_LICENSE, "text/plain; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    (headers, body).into_response()
}
