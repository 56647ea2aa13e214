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
use super::scheduler::Reason;
use super::Core;
use crate::job::Job;
use crate::state::StoredJob;

mod conflicts;
mod connectors;

pub(super) use conflicts::resolve;
use conflicts::{list_conflicts, resolve_conflict};
pub(super) use connectors::install_connector;
use connectors::{list_connectors, upload_connector};

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

/// What a project token may not put in a job: another project, the
/// daemon's environment, its private networks, files as connectors.
fn project_job_problems(project: &str, job: &Job) -> Vec<String> {
    let mut problems = Vec::new();
    if job.project_id.as_deref() != Some(project) {
        problems.push(format!(
            "project_id: a project token of {project} creates jobs of project {project} only"
        ));
    }
    for (name, side) in [("source", &job.source), ("target", &job.target)] {
        for (secret, source) in &side.connection.secrets {
            if !source.starts_with("file:") {
                problems.push(format!(
                    "{name}.connection.secrets.{secret}: a project token binds only `file:KEY` secrets of its project"
                ));
            }
        }
        if side.connection.allow_private_networks {
            problems.push(format!(
                "{name}.connection.allow_private_networks: only the admin may let a job reach private networks"
            ));
        }
        // A table side reaches the daemon's own databases and files.
        if side
            .connector
            .as_deref()
            .and_then(crate::runtime::table::Kind::named)
            .is_some()
        {
            problems.push(format!(
                "{name}.connector: only the admin may make a job of a built-in table side \
                 (it reaches the daemon's databases and files)"
            ));
        }
        if side.connector.as_deref().is_some_and(|c| !valid_name(c)) {
            problems.push(format!(
                "{name}.connector: a project token names a loaded connector, not a file"
            ));
        }
    }
    problems
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

async fn create_job(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Json(spec): Json<Value>,
) -> Response {
    let job = match Job::from_value(spec.clone()).and_then(|j| j.ensure_runnable().map(|_| j)) {
        Ok(job) => job,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let existing = core.state.job(&job.sync_id).ok().flatten();
    let owner = match &scope {
        Scope::Admin => None,
        Scope::Project(project) => {
            let problems = project_job_problems(project, &job);
            if !problems.is_empty() {
                return forbidden(&core, &scope, "POST /jobs", problems.join("; "));
            }
            if existing.is_some() && !sees_job(&core, &scope, &job.sync_id) {
                return forbidden(
                    &core,
                    &scope,
                    "POST /jobs",
                    format!("sync_id {} is taken", job.sync_id),
                );
            }
            Some(project.clone())
        }
    };
    let stored = StoredJob {
        sync_id: job.sync_id.clone(),
        spec,
        created_at: crate::sync::now(),
        next_run_at: super::scheduler::next_fire(&job, chrono::Utc::now()),
        retry_at: None,
        retries: 0,
        last_status: None,
        owner,
        queued: existing.as_ref().map_or(0, |s| s.queued),
        done: existing.as_ref().map_or(0, |s| s.done),
    };
    if let Err(e) = core.state.put_job(&stored) {
        return internal(e);
    }
    core.audit(
        "job_saved",
        &job.sync_id,
        json!({"replaced": existing.is_some(), "by": scope.label()}),
    );
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, Json(job_view(&stored))).into_response()
}

/// A job as the API shows it; `error` says why a stored job cannot run.
fn job_view(stored: &StoredJob) -> Value {
    let mut view = json!({
        "sync_id": stored.sync_id, "job": stored.spec, "created_at": stored.created_at,
        "next_run_at": stored.next_run_at, "retry_at": stored.retry_at, "retries": stored.retries,
        "last_status": stored.last_status,
        // a run was asked for and has not finished (queued or running,
        // here or on another daemon sharing the state)
        "pending": stored.owes_a_run(),
    });
    if let Some(project) = &stored.owner {
        view["owner"] = json!(format!("project:{project}"));
    }
    if let Err(e) = super::job_of(stored) {
        view["error"] = json!(e.to_string());
    }
    view
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

async fn list_jobs(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Query(q): Query<PageQuery>,
) -> Response {
    match core.state.jobs() {
        Ok(jobs) => {
            let mut jobs: Vec<StoredJob> = jobs
                .into_iter()
                .filter(|j| scope.sees(j.spec["project_id"].as_str()))
                .collect();
            jobs.sort_by(|a, b| a.sync_id.cmp(&b.sync_id));
            let views: Vec<Value> = jobs.iter().map(job_view).collect();
            page_by_id("/jobs", views, |v| v["sync_id"].as_str().unwrap_or(""), &q)
        }
        Err(e) => internal(e),
    }
}

async fn get_job(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Path(sync_id): Path<String>,
) -> Response {
    match core.state.job(&sync_id) {
        Ok(Some(stored)) if scope.sees(stored.spec["project_id"].as_str()) => {
            Json(job_view(&stored)).into_response()
        }
        Ok(Some(_)) => hidden(&core, &scope, &format!("job {sync_id}")),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no job {sync_id}")),
        Err(e) => internal(e),
    }
}

async fn delete_job(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Path(sync_id): Path<String>,
) -> Response {
    if let Some(refused) = out_of_scope(&core, &scope, &sync_id) {
        return refused;
    }
    match core.state.remove_job(&sync_id) {
        Ok(true) => {
            core.audit("job_deleted", &sync_id, json!({}));
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no job {sync_id}")),
        Err(e) => internal(e),
    }
}

/// The job `sync_id`, if the caller may see it; else the answer to give.
pub(super) fn visible_job(
    core: &Core,
    scope: &Scope,
    sync_id: &str,
) -> Result<crate::job::Job, Box<Response>> {
    if let Some(refused) = out_of_scope(core, scope, sync_id) {
        return Err(Box::new(refused));
    }
    match core.load_job(sync_id) {
        Ok(Some(job)) => Ok(job),
        Ok(None) => Err(Box::new(error(
            StatusCode::NOT_FOUND,
            format!("no job {sync_id}"),
        ))),
        Err(e) => Err(Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        ))),
    }
}

#[derive(Deserialize)]
pub(super) struct TriggerQuery {
    #[serde(default)]
    pub(super) full: bool,
}

pub(super) async fn trigger(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Path(sync_id): Path<String>,
    Query(q): Query<TriggerQuery>,
) -> Response {
    let job = match visible_job(&core, &scope, &sync_id) {
        Ok(job) => job,
        Err(refused) => return *refused,
    };
    if core.stopping() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is shutting down",
        );
    }
    let queued = core.ask(&job, Reason::Manual, q.full);
    core.wake();
    core.audit(
        "run_asked",
        &sync_id,
        json!({"by": scope.label(), "full": q.full, "queued": queued}),
    );
    (
        StatusCode::ACCEPTED,
        Json(json!({"sync_id": sync_id, "queued": queued})),
    )
        .into_response()
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
