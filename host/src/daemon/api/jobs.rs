//! `/jobs`: creating (checked against the caller's scope), listing,
//! reading, deleting and triggering jobs.

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::access::Scope;
use super::super::scheduler::Reason;
use super::super::Core;
use super::*;
use crate::job::Job;
use crate::state::StoredJob;

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

pub(super) async fn create_job(
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
        next_run_at: super::super::scheduler::next_fire(&job, chrono::Utc::now()),
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
    if let Err(e) = super::super::job_of(stored) {
        view["error"] = json!(e.to_string());
    }
    view
}

pub(super) async fn list_jobs(
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

pub(super) async fn get_job(
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

pub(super) async fn delete_job(
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
pub(in crate::daemon) fn visible_job(
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
pub(in crate::daemon) struct TriggerQuery {
    #[serde(default)]
    pub(in crate::daemon) full: bool,
}

pub(in crate::daemon) async fn trigger(
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
