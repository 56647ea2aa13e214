//! Runs: a chart of each visible job's last runs, and a table of runs,
//! newest first, paged, each with its report and details per side.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::chart::{self, Point};
use super::session::Ui;
use super::{error_page, escape_segment, render, Chrome};
use crate::daemon::api::{sees_job, visible_jobs, Shared};
use crate::state::RunRecord;

/// Runs a chart shows, and a page of the table holds.
const CHARTED: usize = 30;
const PAGE: usize = 25;

pub struct SideRun {
    pub name: &'static str,
    pub what: String,
    pub read: String,
    pub changes: String,
    pub writes: String,
    pub errors: Vec<String>,
}

pub struct RunView {
    pub id: u64,
    pub job: String,
    pub job_link: String,
    pub started_at: String,
    /// the daemon that ran it (several may share a state)
    pub daemon: String,
    pub status: String,
    pub synced: u64,
    pub conflicts: u64,
    pub resolution: String,
    pub seconds: String,
    pub error: Option<String>,
    pub sides: Vec<SideRun>,
    pub conflict_lines: Vec<String>,
    pub parked: Vec<String>,
    pub skipped: Vec<String>,
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn side_run(name: &'static str, s: &Value) -> SideRun {
    let w = &s["written"];
    SideRun {
        name,
        what: format!(
            "{} {} with {}",
            s["platform"].as_str().unwrap_or("?"),
            s["entity"].as_str().unwrap_or("?"),
            s["connector"].as_str().unwrap_or("?")
        ),
        read: format!(
            "{} read: {} page(s), {} record(s)",
            s["read"].as_str().unwrap_or("?"),
            n(&s["pages"]),
            n(&s["records_read"])
        ),
        changes: format!(
            "{} added, {} updated, {} removed",
            n(&s["changes"]["added"]),
            n(&s["changes"]["updated"]),
            n(&s["changes"]["removed"])
        ),
        writes: format!(
            "{} created, {} updated, {} deleted, {} failed, {} pending, {} stale",
            n(&w["created"]),
            n(&w["updated"]),
            n(&w["deleted"]),
            n(&w["failed"]),
            n(&w["pending"]),
            n(&w["stale"])
        ),
        errors: w["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// A stored value (`{"type": …, "value": …}`) as a person reads it.
fn plain_json(v: &Value) -> String {
    serde_json::from_value::<crate::core::value::Value>(v.clone())
        .map_or_else(|_| "(none)".into(), |v| crate::sync::preview::plain(&v))
}

pub fn view(run: &RunRecord) -> RunView {
    let r = &run.report;
    let d = &r["details"];
    let sides = if d.is_object() && d["source"].is_object() {
        vec![
            side_run("source", &d["source"]),
            side_run("target", &d["target"]),
        ]
    } else {
        Vec::new()
    };
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    RunView {
        id: run.id,
        job: run.job.clone(),
        job_link: format!("/ui/jobs/{}", escape_segment(&run.job)),
        started_at: run.started_at.clone(),
        daemon: r["daemon"].as_str().unwrap_or("").to_string(),
        status: r["status"].as_str().unwrap_or("?").to_string(),
        synced: n(&r["synced_items"]),
        conflicts: n(&r["conflicts_detected"]),
        resolution: r["conflict_resolution"].as_str().unwrap_or("").to_string(),
        seconds: d["seconds"]
            .as_f64()
            .map_or("?".into(), |s| format!("{s:.2} s")),
        error: d["error"]
            .as_str()
            .or(r["error"].as_str())
            .map(String::from),
        sides,
        conflict_lines: list(&d["conflicts"])
            .iter()
            .map(|c| {
                format!(
                    "{}: base {}, source {}, target {} ({}{})",
                    c["field"].as_str().unwrap_or("?"),
                    plain_json(&c["base"]),
                    plain_json(&c["source"]),
                    plain_json(&c["target"]),
                    c["policy"].as_str().unwrap_or("?"),
                    c["winner"]
                        .as_str()
                        .map(|w| format!(", {w} won"))
                        .unwrap_or_else(|| ", parked".into())
                )
            })
            .collect(),
        parked: list(&d["parked"])
            .iter()
            .map(|p| p.as_str().unwrap_or_default().to_string())
            .collect(),
        skipped: list(&d["skipped"])
            .iter()
            .map(|s| {
                format!(
                    "{} {}: {}",
                    s["side"].as_str().unwrap_or("?"),
                    s["id"].as_str().unwrap_or("?"),
                    s["reason"].as_str().unwrap_or("?")
                )
            })
            .collect(),
    }
}

fn point(run: &RunRecord) -> Point {
    let d = &run.report["details"];
    let failed = n(&d["source"]["written"]["failed"]) + n(&d["target"]["written"]["failed"]);
    let skipped = d["skipped"].as_array().map_or(0, |a| a.len() as u64);
    Point {
        id: run.id,
        status: run.report["status"].as_str().unwrap_or("?").to_string(),
        synced: n(&run.report["synced_items"]) as f64,
        conflicts: n(&run.report["conflicts_detected"]) as f64,
        failures: (failed + skipped) as f64,
        seconds: d["seconds"].as_f64().unwrap_or(0.0),
    }
}

#[derive(Deserialize)]
pub struct RunsQuery {
    job: Option<String>,
    before: Option<u64>,
}

pub struct JobChart {
    pub job: String,
    pub svg: String,
}

#[derive(Template)]
#[template(path = "console/runs.html")]
struct RunsPage {
    page: Chrome,
    jobs: Vec<String>,
    job: String,
    charts: Vec<JobChart>,
    runs: Vec<RunView>,
    next: Option<String>,
}

pub async fn page(State(core): State<Shared>, ui: Ui, Query(q): Query<RunsQuery>) -> Response {
    let job = q.job.filter(|j| !j.is_empty());
    if let Some(job) = &job {
        if !sees_job(&core, &ui.scope, job) {
            return error_page(&ui, StatusCode::NOT_FOUND, format!("no job {job}"));
        }
    }
    let visible = visible_jobs(&core, &ui.scope);
    let mut jobs: Vec<String> = core
        .state
        .jobs()
        .unwrap_or_default()
        .into_iter()
        .map(|j| j.sync_id)
        .filter(|id| visible.as_ref().is_none_or(|v| v.contains(id)))
        .collect();
    jobs.sort();
    let charted: Vec<&String> = match &job {
        Some(j) => vec![j],
        None => jobs.iter().collect(),
    };
    let mut charts = Vec::new();
    for j in charted {
        let mut last = match core.state.runs_page(Some(j), None, CHARTED) {
            Ok(runs) => runs,
            Err(e) => return error_page(&ui, StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
        if last.is_empty() {
            continue;
        }
        last.reverse();
        let points: Vec<Point> = last.iter().map(point).collect();
        charts.push(JobChart {
            job: j.clone(),
            svg: chart::svg(j, &points),
        });
    }
    // The table: a project's page filled from as many pages of all runs as it takes.
    let mut runs = Vec::new();
    let mut before = q.before;
    loop {
        let batch = match core.state.runs_page(job.as_deref(), before, PAGE) {
            Ok(batch) => batch,
            Err(e) => return error_page(&ui, StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
        let exhausted = batch.len() < PAGE;
        before = batch.last().map(|r| r.id);
        runs.extend(
            batch
                .into_iter()
                .filter(|r| visible.as_ref().is_none_or(|v| v.contains(&r.job))),
        );
        if runs.len() >= PAGE || exhausted {
            break;
        }
    }
    runs.truncate(PAGE);
    let next = (runs.len() == PAGE).then(|| {
        let job = job
            .as_deref()
            .map(|j| format!("job={}&", escape_segment(j)))
            .unwrap_or_default();
        format!("/ui/runs?{job}before={}", runs[PAGE - 1].id)
    });
    render(
        StatusCode::OK,
        &RunsPage {
            page: ui.chrome("Runs", "runs"),
            jobs,
            job: job.unwrap_or_default(),
            charts,
            runs: runs.iter().map(view).collect(),
            next,
        },
    )
}
