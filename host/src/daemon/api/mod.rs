//! The daemon's HTTP API (axum, JSON). Every route but `/healthz`,
//! `/openapi.json` and the webhooks needs a bearer token: the admin's, or one
//! scoped to a project, which sees and touches only that project's jobs,
//! runs, conflicts and audit entries ([`super::access`]). Webhooks carry the
//! platform's signature instead, checked by the connector ([`super::hooks`]).
//!
//! A handler that panics answers 500; the daemon goes on.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::access::Scope;
use super::registry::valid_name;
use super::Core;

mod conflicts;
mod connectors;
mod jobs;

pub(super) use conflicts::resolve;
use conflicts::{list_conflicts, resolve_conflict};
pub(super) use connectors::install_connector;
use connectors::{list_connectors, upload_connector};
use jobs::{create_job, delete_job, get_job, list_jobs};
pub(super) use jobs::{trigger, visible_job, TriggerQuery};

pub type Shared = Arc<Core>;

/// Bodies of the API's own routes (jobs, decisions); uploads and webhooks
/// have limits of their own.
const MAX_BODY: usize = 1 << 20;
/// Largest connector upload (a Python or JavaScript component is ~20 MB).
pub(super) const MAX_UPLOAD: usize = 64 << 20;

pub fn router(core: Shared) -> Router {
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/openapi.json",
            get(|| async { Json(super::openapi::document()) }),
        )
        .route(
            "/hooks/{sync_id}",
            post(super::hooks::hook).layer(DefaultBodyLimit::max(core.config.webhook_max_bytes)),
        )
        // The web console: its own session cookie, not the bearer token.
        .merge(super::console::router(core.clone()));
    let guarded = Router::new()
        .route("/jobs", post(create_job).get(list_jobs))
        .route("/jobs/{sync_id}", get(get_job).delete(delete_job))
        .route("/jobs/{sync_id}/trigger", post(trigger))
        .route(
            "/jobs/{sync_id}/plan",
            post(super::plans::plan).get(super::plans::waiting),
        )
        .route("/jobs/{sync_id}/plan/accept", post(super::plans::accept))
        .route("/runs", get(list_runs))
        .route("/runs/{id}", get(get_run))
        .route("/conflicts", get(list_conflicts))
        .route("/conflicts/{id}/resolve", post(resolve_conflict))
        .route("/connectors", get(list_connectors))
        .route(
            "/connectors/{name}",
            put(upload_connector).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/audit", get(audit))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(core.clone(), auth));
    open.merge(guarded)
        .with_state(core)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("an API handler panicked");
                error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            },
        ))
}

pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Finds the caller's scope, or refuses: an unknown token is counted and
/// audited (throttled: anyone can send one).
async fn auth(
    State(core): State<Shared>,
    headers: HeaderMap,
    mut req: Request,
    next: Next,
) -> Response {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let scope = match given.map(|t| core.tokens.check(t)) {
        Some(Some(scope)) => scope,
        refused => {
            core.metrics.refused("unauthenticated");
            core.audit_throttled("auth_refused", "");
            return error(
                StatusCode::UNAUTHORIZED,
                if refused.is_some() {
                    "the bearer token is not one of this daemon's"
                } else {
                    "send `Authorization: Bearer TOKEN`; the admin token was printed at first start and is kept in DATA/api-token"
                },
            );
        }
    };
    req.extensions_mut().insert(scope);
    next.run(req).await
}

/// A project token asked for what is not its project's: audited, and
/// answered as if it did not exist.
pub(super) fn hidden(core: &Core, scope: &Scope, what: &str) -> Response {
    core.metrics.refused("out_of_scope");
    core.audit(
        "access_refused",
        "",
        json!({"scope": scope.label(), "asked": what}),
    );
    error(StatusCode::NOT_FOUND, format!("no {what}"))
}

/// A project token tried what only the admin may do.
fn forbidden(core: &Core, scope: &Scope, what: &str, why: String) -> Response {
    core.metrics.refused("forbidden");
    core.audit(
        "access_refused",
        "",
        json!({"scope": scope.label(), "asked": what, "why": why}),
    );
    error(StatusCode::FORBIDDEN, why)
}

/// The `project_id` of job `sync_id`, if the job exists.
fn project_of(core: &Core, sync_id: &str) -> Option<Option<String>> {
    let stored = core.state.job(sync_id).ok().flatten()?;
    Some(stored.spec["project_id"].as_str().map(String::from))
}

/// Whether `scope` may see job `sync_id` (which may no longer exist: then
/// only the admin sees what remains of it).
pub(super) fn sees_job(core: &Core, scope: &Scope, sync_id: &str) -> bool {
    scope.is_admin() || project_of(core, sync_id).is_some_and(|p| scope.sees(p.as_deref()))
}

/// The refusal for a job that exists but is not the caller's to see.
pub fn out_of_scope(core: &Core, scope: &Scope, sync_id: &str) -> Option<Response> {
    (project_of(core, sync_id).is_some() && !sees_job(core, scope, sync_id))
        .then(|| hidden(core, scope, &format!("job {sync_id}")))
}

/// Liveness, and whether every job is healthy: a job whose runs keep
/// failing makes the status `degraded`, naming it and why.
async fn healthz(State(core): State<Shared>) -> Json<Value> {
    let failing: Vec<Value> = core
        .failing()
        .into_iter()
        .map(|(job, n, error)| json!({"job": job, "failed_runs_in_a_row": n, "last_error": error}))
        .collect();
    let status = if core.stopping() {
        "stopping"
    } else if failing.is_empty() {
        "ok"
    } else {
        "degraded"
    };
    Json(json!({
        "status": status,
        "daemon": core.daemon_id,
        "shared_state": core.state.is_shared(),
        "leases": core.held_leases(),
        "running": core.scheduler.running(),
        "queued": core.scheduler.queued(),
        "failing": failing,
    }))
}

/// `?limit=&after=` of the routes that list by id.
#[derive(Deserialize)]
struct PageQuery {
    limit: Option<usize>,
    /// the last id of the page before
    after: Option<String>,
}

/// One page of `items` (sorted by `id`) after `q.after`, with its next link.
fn page_by_id<T: serde::Serialize>(
    route: &str,
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    q: &PageQuery,
) -> Response {
    let n = limit(q.limit, 500, 1000);
    let mut items: Vec<T> = items
        .into_iter()
        .filter(|i| q.after.as_deref().is_none_or(|a| id(i) > a))
        .collect();
    let more = items.len() > n;
    items.truncate(n);
    let next = more.then(|| {
        format!(
            "{route}?limit={n}&after={}",
            query_escape(id(&items[n - 1]))
        )
    });
    page(items, next)
}

#[derive(Deserialize)]
struct RunsQuery {
    job: Option<String>,
    limit: Option<usize>,
    /// the cursor of the page before: runs with smaller ids
    before: Option<u64>,
}

/// A list page, with RFC 8288's `Link: <…>; rel="next"` when there is more.
fn page<T: serde::Serialize>(items: Vec<T>, next: Option<String>) -> Response {
    let mut resp = Json(items).into_response();
    if let Some(next) =
        next.and_then(|n| axum::http::HeaderValue::from_str(&format!("<{n}>; rel=\"next\"")).ok())
    {
        resp.headers_mut().insert(axum::http::header::LINK, next);
    }
    resp
}

/// How many items a list route answers with, at most `max`.
fn limit(asked: Option<usize>, default: usize, max: usize) -> usize {
    asked.unwrap_or(default).clamp(1, max)
}

fn query_escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn run_view(run: &crate::state::RunRecord) -> Value {
    json!({"id": run.id, "job": run.job, "started_at": run.started_at, "report": run.report})
}

/// The jobs a project token sees, by id; `None` for the admin (all).
pub(super) fn visible_jobs(
    core: &Core,
    scope: &Scope,
) -> Option<std::collections::HashSet<String>> {
    match scope {
        Scope::Admin => None,
        Scope::Project(_) => Some(
            core.state
                .jobs()
                .unwrap_or_default()
                .into_iter()
                .filter(|j| scope.sees(j.spec["project_id"].as_str()))
                .map(|j| j.sync_id)
                .collect(),
        ),
    }
}

async fn list_runs(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Query(q): Query<RunsQuery>,
) -> Response {
    let n = limit(q.limit, 50, 500);
    if let Some(job) = &q.job {
        if !sees_job(&core, &scope, job) && !scope.is_admin() {
            return page(Vec::<Value>::new(), None);
        }
    }
    let visible = visible_jobs(&core, &scope);
    // A project token's page is filled from as many pages of all runs as it takes.
    let mut runs = Vec::new();
    let mut before = q.before;
    loop {
        let batch = match core.state.runs_page(q.job.as_deref(), before, n) {
            Ok(batch) => batch,
            Err(e) => return internal(e),
        };
        let exhausted = batch.len() < n;
        before = batch.last().map(|r| r.id);
        runs.extend(
            batch
                .into_iter()
                .filter(|r| visible.as_ref().is_none_or(|v| v.contains(&r.job))),
        );
        if runs.len() >= n || exhausted {
            break;
        }
    }
    runs.truncate(n);
    let next = (runs.len() == n).then(|| {
        let job = q
            .job
            .as_deref()
            .map(|j| format!("&job={}", query_escape(j)))
            .unwrap_or_default();
        format!("/runs?limit={n}{job}&before={}", runs[n - 1].id)
    });
    page(runs.iter().map(run_view).collect(), next)
}

async fn get_run(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Path(id): Path<u64>,
) -> Response {
    match core.state.run(id) {
        Ok(Some(run)) if sees_job(&core, &scope, &run.job) => Json(run_view(&run)).into_response(),
        Ok(Some(_)) => hidden(&core, &scope, &format!("run {id}")),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no run {id}")),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    since: Option<String>,
    limit: Option<usize>,
    /// the cursor of the page before
    after: Option<String>,
}

async fn audit(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Query(q): Query<AuditQuery>,
) -> Response {
    let n = limit(q.limit, 1000, 10_000);
    let visible = visible_jobs(&core, &scope);
    let since = q.since.as_deref().unwrap_or("");
    let mut after = match q.after.as_deref().map(hex::decode) {
        Some(Ok(k)) => Some(k),
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "`after` is not a cursor this daemon gave",
            )
        }
        None => None,
    };
    let mut entries = Vec::new();
    let mut last = None;
    loop {
        let batch = match core.state.audit_page(since, after.as_deref(), n) {
            Ok(batch) => batch,
            Err(e) => return internal(e),
        };
        let exhausted = batch.len() < n;
        after = batch.last().map(|(k, _)| k.clone());
        for (k, e) in batch {
            if entries.len() < n && visible.as_ref().is_none_or(|v| v.contains(&e.job)) {
                entries.push(e);
                last = Some(k);
            }
        }
        if entries.len() >= n || exhausted {
            break;
        }
    }
    let next = (entries.len() == n).then(|| {
        format!(
            "/audit?limit={n}&since={}&after={}",
            query_escape(since),
            hex::encode(last.unwrap_or_default())
        )
    });
    page(entries, next)
}

async fn metrics(State(core): State<Shared>, Extension(scope): Extension<Scope>) -> Response {
    if !scope.is_admin() {
        return forbidden(
            &core,
            &scope,
            "GET /metrics",
            "metrics cover every project: admin token only".into(),
        );
    }
    let mut text = core.metrics.render(&core.runtime);
    text.push_str(&format!(
        "# HELP synchost_jobs_failing Jobs whose last {} runs or more all failed.\n# TYPE synchost_jobs_failing gauge\nsynchost_jobs_failing {}\n",
        super::FAILING_AFTER,
        core.failing().len()
    ));
    let daemon = super::metrics::escape(&core.daemon_id);
    text.push_str(&format!(
        "# HELP synchost_daemon_info This daemon's name among those sharing its state.
# TYPE synchost_daemon_info gauge
synchost_daemon_info{{daemon=\"{daemon}\",shared=\"{}\"}} 1
# HELP synchost_leases_held Jobs this daemon holds a live claim on.
# TYPE synchost_leases_held gauge
synchost_leases_held{{daemon=\"{daemon}\"}} {}
",
        core.state.is_shared(),
        core.held_leases().len()
    ));
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}
