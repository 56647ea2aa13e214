//! The daemon's HTTP API (axum, JSON). Every route but `/healthz`,
//! `/openapi.json` and the webhooks needs the bearer token; webhooks carry
//! the platform's signature instead, checked by the connector.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::registry::{valid_name, Swap};
use super::scheduler::Reason;
use super::Core;
use crate::core::merge::Side;
use crate::job::Job;
use crate::state::{Resolution, StoredJob};

type Shared = Arc<Core>;

pub fn router(core: Shared) -> Router {
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/openapi.json",
            get(|| async { Json(super::openapi::document()) }),
        )
        .route("/hooks/{sync_id}", post(hook));
    let guarded = Router::new()
        .route("/jobs", post(create_job).get(list_jobs))
        .route("/jobs/{sync_id}", get(get_job).delete(delete_job))
        .route("/jobs/{sync_id}/trigger", post(trigger))
        .route("/runs", get(list_runs))
        .route("/runs/{id}", get(get_run))
        .route("/conflicts", get(list_conflicts))
        .route("/conflicts/{id}/resolve", post(resolve_conflict))
        .route("/connectors", get(list_connectors))
        .route("/connectors/{name}", put(upload_connector))
        .route("/audit", get(audit))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(core.clone(), auth));
    open.merge(guarded)
        .with_state(core)
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
}

pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn auth(
    State(core): State<Shared>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), core.token.as_bytes()) => next.run(req).await,
        Some(_) => error(StatusCode::UNAUTHORIZED, "the bearer token is not this daemon's"),
        None => error(StatusCode::UNAUTHORIZED, "send `Authorization: Bearer TOKEN`; the token was printed at first start and is kept in DATA/api-token"),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn healthz(State(core): State<Shared>) -> Json<Value> {
    Json(
        json!({"status": if core.stopping() { "stopping" } else { "ok" }, "running": core.scheduler.running(), "queued": core.scheduler.queued()}),
    )
}

async fn create_job(State(core): State<Shared>, Json(spec): Json<Value>) -> Response {
    let job = match Job::from_value(spec.clone()).and_then(|j| j.ensure_runnable().map(|_| j)) {
        Ok(job) => job,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let existed = matches!(core.state.job(&job.sync_id), Ok(Some(_)));
    let stored = StoredJob {
        sync_id: job.sync_id.clone(),
        spec,
        created_at: crate::sync::now(),
        next_run_at: super::scheduler::next_fire(&job, chrono::Utc::now()),
        retry_at: None,
        retries: 0,
        last_status: None,
    };
    if let Err(e) = core.state.put_job(&stored) {
        return internal(e);
    }
    core.audit("job_saved", &job.sync_id, json!({"replaced": existed}));
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, Json(job_view(&stored))).into_response()
}

fn job_view(stored: &StoredJob) -> Value {
    json!({
        "sync_id": stored.sync_id, "job": stored.spec, "created_at": stored.created_at,
        "next_run_at": stored.next_run_at, "retry_at": stored.retry_at, "retries": stored.retries,
        "last_status": stored.last_status,
    })
}

async fn list_jobs(State(core): State<Shared>) -> Response {
    match core.state.jobs() {
        Ok(jobs) => Json(jobs.iter().map(job_view).collect::<Vec<_>>()).into_response(),
        Err(e) => internal(e),
    }
}

async fn get_job(State(core): State<Shared>, Path(sync_id): Path<String>) -> Response {
    match core.state.job(&sync_id) {
        Ok(Some(stored)) => Json(job_view(&stored)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no job {sync_id}")),
        Err(e) => internal(e),
    }
}

async fn delete_job(State(core): State<Shared>, Path(sync_id): Path<String>) -> Response {
    match core.state.remove_job(&sync_id) {
        Ok(true) => {
            core.audit("job_deleted", &sync_id, json!({}));
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no job {sync_id}")),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct TriggerQuery {
    #[serde(default)]
    full: bool,
}

async fn trigger(
    State(core): State<Shared>,
    Path(sync_id): Path<String>,
    Query(q): Query<TriggerQuery>,
) -> Response {
    match core.load_job(&sync_id) {
        Ok(Some(job)) => {
            if core.stopping() {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the daemon is shutting down",
                );
            }
            let queued = core.scheduler.enqueue(&job, Reason::Manual, q.full);
            core.wake();
            (
                StatusCode::ACCEPTED,
                Json(json!({"sync_id": sync_id, "queued": queued})),
            )
                .into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no job {sync_id}")),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

#[derive(Deserialize)]
struct RunsQuery {
    job: Option<String>,
    limit: Option<usize>,
}

fn run_view(run: &crate::state::RunRecord) -> Value {
    json!({"id": run.id, "job": run.job, "started_at": run.started_at, "report": run.report})
}

async fn list_runs(State(core): State<Shared>, Query(q): Query<RunsQuery>) -> Response {
    match core.state.runs(usize::MAX) {
        Ok(runs) => Json(
            runs.iter()
                .filter(|r| q.job.as_ref().is_none_or(|j| &r.job == j))
                .take(q.limit.unwrap_or(50))
                .map(run_view)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}

async fn get_run(State(core): State<Shared>, Path(id): Path<u64>) -> Response {
    match core.state.run(id) {
        Ok(Some(run)) => Json(run_view(&run)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no run {id}")),
        Err(e) => internal(e),
    }
}

async fn list_conflicts(State(core): State<Shared>) -> Response {
    match core.state.conflicts() {
        Ok(c) => Json(c).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    take: Option<Side>,
    merge: Option<crate::core::value::Fields>,
}

async fn resolve_conflict(
    State(core): State<Shared>,
    Path(id): Path<String>,
    Json(body): Json<ResolveBody>,
) -> Response {
    let resolution = match (body.take, body.merge) {
        (Some(side), None) => Resolution::Take(side),
        (None, Some(fields)) => Resolution::Merge(fields),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                r#"send {"take": "source"|"target"} or {"merge": {FIELD: VALUE, ...}}"#,
            )
        }
    };
    match core.state.conflict(&id) {
        Ok(Some(mut conflict)) => {
            conflict.resolution = Some(resolution);
            if let Err(e) = core.state.put_conflict(&conflict) {
                return internal(e);
            }
            core.audit(
                "conflict_resolved",
                &conflict.job,
                json!({"conflict": id, "resolution": conflict.resolution}),
            );
            Json(json!({"id": id, "applied": "on the job's next run"})).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no conflict {id}")),
        Err(e) => internal(e),
    }
}

async fn list_connectors(State(core): State<Shared>) -> Json<Value> {
    Json(json!(core.registry.list()))
}

async fn upload_connector(
    State(core): State<Shared>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if !valid_name(&name) {
        return error(
            StatusCode::BAD_REQUEST,
            "a connector name is 1-64 letters, digits, `-` or `_`",
        );
    }
    let swap = core
        .registry
        .install(&name, body.to_vec(), None, true)
        .await;
    core.on_swap(swap.clone());
    match swap {
        Swap::Loaded { name, version } => (
            StatusCode::OK,
            Json(json!({"name": name, "version": version, "status": "loaded"})),
        )
            .into_response(),
        Swap::Rejected { reason, .. } => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("rejected; the previous version keeps serving: {reason}"),
        ),
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    since: Option<String>,
}

async fn audit(State(core): State<Shared>, Query(q): Query<AuditQuery>) -> Response {
    match core.state.audit_since(q.since.as_deref().unwrap_or("")) {
        Ok(entries) => Json(entries).into_response(),
        Err(e) => internal(e),
    }
}

async fn metrics(State(core): State<Shared>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        core.metrics.render(&core.runtime),
    )
        .into_response()
}

/// A platform's webhook delivery: each side's connector that takes webhooks
/// verifies the signature; a verified delivery queues an incremental run.
async fn hook(
    State(core): State<Shared>,
    Path(sync_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let job = match core.load_job(&sync_id) {
        Ok(Some(job)) => job,
        _ => return error(StatusCode::NOT_FOUND, format!("no job {sync_id}")),
    };
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    match core
        .webhook(&job, format!("/hooks/{sync_id}"), headers, body.to_vec())
        .await
    {
        Ok(events) => {
            let queued = core.scheduler.enqueue(&job, Reason::Webhook, false);
            core.wake();
            (
                StatusCode::ACCEPTED,
                Json(json!({"events": events, "queued": queued})),
            )
                .into_response()
        }
        Err(message) => {
            core.audit("webhook_refused", &sync_id, json!({"reason": message}));
            error(StatusCode::UNAUTHORIZED, message)
        }
    }
}
