//! The audit log, newest first, filtered by job and kind, paged; a project
//! session reads only its jobs' entries, as the API's `/audit`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::session::Ui;
use super::{error_page, escape_segment, render, Chrome};
use crate::daemon::api::{visible_jobs, Shared};

const PAGE: usize = 50;

#[derive(Deserialize)]
pub struct AuditQuery {
    job: Option<String>,
    kind: Option<String>,
    /// the cursor of the page before (an entry's key, hex)
    before: Option<String>,
}

pub struct EntryView {
    pub at: String,
    pub job: String,
    pub kind: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    page: Chrome,
    job: String,
    kind: String,
    kinds: Vec<&'static str>,
    entries: Vec<EntryView>,
    next: Option<String>,
}

/// The kinds of entry the daemon writes, for the filter's list.
const KINDS: &[&str] = &[
    "run",
    "run_error",
    "write",
    "conflict",
    "conflict_resolved",
    "job_saved",
    "job_deleted",
    "job_invalid",
    "plan_waiting",
    "plan_accepted",
    "connector_loaded",
    "connector_rejected",
    "access_refused",
    "auth_refused",
    "webhook_refused",
    "webhook_replayed",
    "console_login",
    "console_logout",
];

pub async fn page(State(core): State<Shared>, ui: Ui, Query(q): Query<AuditQuery>) -> Response {
    let job = q.job.unwrap_or_default().trim().to_string();
    let kind = q.kind.unwrap_or_default().trim().to_string();
    let before = match q.before.as_deref().map(hex::decode) {
        Some(Ok(k)) => Some(k),
        Some(Err(_)) => {
            return error_page(
                &ui,
                StatusCode::BAD_REQUEST,
                "`before` is not a cursor this page gave",
            )
        }
        None => None,
    };
    let visible = visible_jobs(&core, &ui.scope);
    let keep = |e: &crate::state::AuditEntry| {
        visible.as_ref().is_none_or(|v| v.contains(&e.job))
            && (job.is_empty() || e.job == job)
            && (kind.is_empty() || e.kind == kind)
    };
    let found = match core.state.audit_newest(before.as_deref(), PAGE, keep) {
        Ok(found) => found,
        Err(e) => return error_page(&ui, StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let next = (found.len() == PAGE).then(|| {
        format!(
            "/ui/audit?job={}&kind={}&before={}",
            escape_segment(&job),
            escape_segment(&kind),
            hex::encode(&found[PAGE - 1].0)
        )
    });
    let entries = found
        .into_iter()
        .map(|(_, e)| EntryView {
            at: e.at,
            job: e.job,
            kind: e.kind,
            detail: e.detail.to_string(),
        })
        .collect();
    render(
        StatusCode::OK,
        &AuditPage {
            page: ui.chrome("Audit log", "audit"),
            job,
            kind,
            kinds: KINDS.to_vec(),
            entries,
            next,
        },
    )
}
