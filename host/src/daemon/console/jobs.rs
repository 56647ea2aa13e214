//! Jobs: the list, one job's page (its waiting first-sync plan, its last
//! runs), "Run now", "Preview" and "Accept plan", each through the API's
//! own function.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::plan::PlanView;
use super::session::Ui;
use super::{answer, error_page, escape_segment, reason, render, see_other, Chrome};
use crate::daemon::api::{self, out_of_scope, Shared, TriggerQuery};
use crate::state::StoredJob;
use crate::sync::preview::Preview;

pub struct JobRow {
    pub id: String,
    pub link: String,
    pub project: String,
    pub source: String,
    pub target: String,
    pub mode: String,
    pub schedule: String,
    pub next_run: String,
    pub last_status: String,
    pub running: bool,
    pub waiting_plan: bool,
    pub error: Option<String>,
}

fn side(spec: &Value) -> String {
    format!(
        "{} · {}",
        spec["platform"].as_str().unwrap_or("?"),
        spec["entity"].as_str().unwrap_or("(default entity)")
    )
}

fn text(v: &Value, default: &str) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => default.into(),
        other => other.to_string(),
    }
}

pub fn row(core: &Shared, stored: &StoredJob) -> JobRow {
    let spec = &stored.spec;
    JobRow {
        id: stored.sync_id.clone(),
        link: format!("/ui/jobs/{}", escape_segment(&stored.sync_id)),
        project: text(&spec["project_id"], "(none)"),
        source: side(&spec["source"]),
        target: side(&spec["target"]),
        mode: text(&spec["mode"], "pull"),
        schedule: text(&spec["schedule"], "manual"),
        next_run: stored
            .retry_at
            .as_ref()
            .map(|r| format!("{r} (retry)"))
            .or_else(|| stored.next_run_at.clone())
            .unwrap_or_else(|| "on request".into()),
        last_status: stored
            .last_status
            .clone()
            .unwrap_or_else(|| "never run".into()),
        running: core.scheduler.running().contains(&stored.sync_id),
        waiting_plan: core
            .state
            .waiting_plan(&stored.sync_id)
            .ok()
            .flatten()
            .is_some(),
        error: crate::daemon::job_of(stored).err().map(|e| e.to_string()),
    }
}

#[derive(Template)]
#[template(path = "console/jobs.html")]
struct JobsPage {
    page: Chrome,
    jobs: Vec<JobRow>,
}

pub async fn list(State(core): State<Shared>, ui: Ui) -> Response {
    let jobs = match core.state.jobs() {
        Ok(jobs) => jobs,
        Err(e) => return error_page(&ui, StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let mut jobs: Vec<JobRow> = jobs
        .iter()
        .filter(|j| ui.scope.sees(j.spec["project_id"].as_str()))
        .map(|j| row(&core, j))
        .collect();
    jobs.sort_by(|a, b| a.id.cmp(&b.id));
    render(
        StatusCode::OK,
        &JobsPage {
            page: ui.chrome("Jobs", "jobs"),
            jobs,
        },
    )
}

pub struct RunLine {
    pub id: u64,
    pub started_at: String,
    pub status: String,
    pub synced: u64,
    pub conflicts: u64,
}

#[derive(Template)]
#[template(path = "console/job.html")]
struct JobPage {
    page: Chrome,
    job: JobRow,
    runs_link: String,
    plan: Option<PlanView>,
    plan_error: Option<String>,
    runs: Vec<RunLine>,
    parked: usize,
}

/// The job `sync_id` if this session may see it; otherwise a 404 page (the
/// refusal audited, as the API's).
fn visible(core: &Shared, ui: &Ui, sync_id: &str) -> Result<StoredJob, Box<Response>> {
    let missing = || error_page(ui, StatusCode::NOT_FOUND, format!("no job {sync_id}"));
    if out_of_scope(core, &ui.scope, sync_id).is_some() {
        return Err(Box::new(missing()));
    }
    match core.state.job(sync_id) {
        Ok(Some(stored)) => Ok(stored),
        Ok(None) => Err(Box::new(missing())),
        Err(e) => Err(Box::new(error_page(
            ui,
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ))),
    }
}

pub async fn show(State(core): State<Shared>, ui: Ui, Path(sync_id): Path<String>) -> Response {
    let stored = match visible(&core, &ui, &sync_id) {
        Ok(stored) => stored,
        Err(page) => return *page,
    };
    let (plan, plan_error) = match core.state.waiting_plan(&sync_id) {
        Ok(Some(v)) => match serde_json::from_value::<Preview>(v) {
            Ok(p) => (Some(PlanView::of(&p)), None),
            Err(e) => (None, Some(format!("the waiting plan does not read: {e}"))),
        },
        Ok(None) => (None, None),
        Err(e) => (None, Some(e.to_string())),
    };
    let runs = core
        .state
        .runs_page(Some(&sync_id), None, 10)
        .unwrap_or_default()
        .into_iter()
        .map(|r| RunLine {
            id: r.id,
            started_at: r.started_at,
            status: r.report["status"].as_str().unwrap_or("?").to_string(),
            synced: r.report["synced_items"].as_u64().unwrap_or(0),
            conflicts: r.report["conflicts_detected"].as_u64().unwrap_or(0),
        })
        .collect();
    let parked = core
        .state
        .conflicts()
        .unwrap_or_default()
        .iter()
        .filter(|c| c.job == sync_id)
        .count();
    render(
        StatusCode::OK,
        &JobPage {
            page: ui.chrome(format!("Job {sync_id}"), "jobs"),
            runs_link: format!("/ui/runs?job={}", escape_segment(&sync_id)),
            job: row(&core, &stored),
            plan,
            plan_error,
            runs,
            parked,
        },
    )
}

/// "Run now": the API's trigger.
pub async fn run_now(State(core): State<Shared>, ui: Ui, Path(sync_id): Path<String>) -> Response {
    if let Err(page) = visible(&core, &ui, &sync_id) {
        return *page;
    }
    let resp = api::trigger(
        State(core.clone()),
        Extension(ui.scope.clone()),
        Path(sync_id.clone()),
        Query(TriggerQuery { full: false }),
    )
    .await;
    let (status, body) = answer(resp).await;
    if status != StatusCode::ACCEPTED {
        return error_page(
            &ui,
            status,
            format!("The run was not started: {}", reason(&body)),
        );
    }
    let notice = if body["queued"] == true {
        format!(
            "A run of {sync_id} is queued; it starts as soon as its platforms have a free slot."
        )
    } else {
        format!("A run of {sync_id} was already queued; this ask joins it.")
    };
    see_other(
        &ui,
        &core,
        &format!("/ui/jobs/{}", escape_segment(&sync_id)),
        notice,
    )
}

#[derive(Template)]
#[template(path = "console/preview.html")]
struct PreviewPage {
    page: Chrome,
    job: JobRow,
    plan: PlanView,
}

/// "Preview": the API's preview of a run, which writes nothing.
pub async fn preview(State(core): State<Shared>, ui: Ui, Path(sync_id): Path<String>) -> Response {
    let stored = match visible(&core, &ui, &sync_id) {
        Ok(stored) => stored,
        Err(page) => return *page,
    };
    let resp = crate::daemon::plans::plan(
        State(core.clone()),
        Extension(ui.scope.clone()),
        Path(sync_id.clone()),
        Query(crate::daemon::plans::PlanQuery::default()),
    )
    .await;
    let (status, body) = answer(resp).await;
    if status != StatusCode::OK {
        return error_page(&ui, status, format!("No preview: {}", reason(&body)));
    }
    match serde_json::from_value::<Preview>(body) {
        Ok(p) => render(
            StatusCode::OK,
            &PreviewPage {
                page: ui.chrome(format!("Preview of {sync_id}"), "jobs"),
                job: row(&core, &stored),
                plan: PlanView::of(&p),
            },
        ),
        Err(e) => error_page(
            &ui,
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the preview does not read: {e}"),
        ),
    }
}

/// "Accept plan": the API's accept (audited with who accepted), then a run.
pub async fn accept(State(core): State<Shared>, ui: Ui, Path(sync_id): Path<String>) -> Response {
    if let Err(page) = visible(&core, &ui, &sync_id) {
        return *page;
    }
    let resp = crate::daemon::plans::accept(
        State(core.clone()),
        Extension(ui.scope.clone()),
        Path(sync_id.clone()),
    )
    .await;
    let (status, body) = answer(resp).await;
    if status != StatusCode::ACCEPTED {
        return error_page(
            &ui,
            status,
            format!("The plan was not accepted: {}", reason(&body)),
        );
    }
    see_other(
        &ui,
        &core,
        &format!("/ui/jobs/{}", escape_segment(&sync_id)),
        format!("Plan accepted: the first run of {sync_id} is queued; it reads both sides afresh, so changes since the preview are synced too."),
    )
}
