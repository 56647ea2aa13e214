//! `POST /jobs/{id}/plan`: the preview of a job's next run (see
//! [`crate::sync::preview`]), made on the connector runtime like a run and
//! writing nothing, not even an audit entry.

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::access::Scope;
use super::api::{error, out_of_scope, visible_job, Shared};

/// Items listed per kind of write in a plan the daemon answers or keeps
/// (the counts are always whole): a first sync of a million records is a
/// million creates.
const LISTED: usize = 1000;

#[derive(serde::Deserialize)]
pub struct PlanQuery {
    #[serde(default)]
    pub full: bool,
    #[serde(default = "listed")]
    pub limit: usize,
}

impl Default for PlanQuery {
    fn default() -> Self {
        PlanQuery {
            full: false,
            limit: LISTED,
        }
    }
}

fn listed() -> usize {
    LISTED
}

pub async fn plan(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Path(sync_id): Path<String>,
    Query(q): Query<PlanQuery>,
) -> Response {
    let job = match visible_job(&core, &scope, &sync_id) {
        Ok(job) => job,
        Err(refused) => return *refused,
    };
    // A run's writes in flight sit in the outbox: a preview beside them
    // would read them as left by a crash.
    if core.scheduler.running().contains(&sync_id) {
        return error(
            StatusCode::CONFLICT,
            format!("job {sync_id} is running now: preview it when the run is over"),
        );
    }
    let on = core.clone();
    let previewed = core
        .work
        .spawn(async move {
            let options = on.options(q.full);
            crate::sync::preview::preview(&job, &on.runtime, &on.state, &options, Some(q.limit))
                .await
        })
        .await;
    match previewed {
        Ok(Ok(preview)) => Json(preview).into_response(),
        Ok(Err(e)) => error(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the preview stopped: {e}"),
        ),
    }
}

impl super::Core {
    /// A first run that waits for a person: its plan is kept for them to see
    /// (`GET /jobs/{id}/plan`, the console), and nothing is written.
    pub(super) async fn park_first_run(&self, job: &crate::job::Job) -> anyhow::Result<()> {
        let preview = crate::sync::preview::preview(
            job,
            &self.runtime,
            &self.state,
            &self.options(false),
            Some(LISTED),
        )
        .await?;
        let plan = serde_json::to_value(&preview)?;
        self.state.put_waiting_plan(&job.sync_id, &plan)?;
        self.audit(
            "plan_waiting",
            &job.sync_id,
            json!({"writes": preview.writes(), "conflicts": preview.conflicts.len()}),
        );
        tracing::warn!(job = %job.sync_id, writes = preview.writes(), "the first run waits until its plan is accepted (`synchost plan accept`)");
        self.notify(
            "plan_waiting",
            &job.sync_id,
            "/ui/",
            json!({"plan": {"writes": preview.writes(), "conflicts": preview.conflicts.len()}}),
        );
        Ok(())
    }
}

/// `GET /jobs/{id}/plan`: the plan a first run waits on.
pub async fn waiting(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Path(sync_id): Path<String>,
) -> Response {
    if let Some(refused) = out_of_scope(&core, &scope, &sync_id) {
        return refused;
    }
    match core.state.waiting_plan(&sync_id) {
        Ok(Some(plan)) => Json(plan).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("job {sync_id} has no plan waiting: POST /jobs/{sync_id}/plan previews a run"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /jobs/{id}/plan/accept`: the first run may go ahead; it is queued.
pub async fn accept(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Path(sync_id): Path<String>,
) -> Response {
    let job = match visible_job(&core, &scope, &sync_id) {
        Ok(job) => job,
        Err(refused) => return *refused,
    };
    if job.first_sync != crate::job::FirstSync::Plan {
        return error(
            StatusCode::CONFLICT,
            format!("job {sync_id} does not wait for a plan (its first_sync is \"run\")"),
        );
    }
    let shown = core.state.waiting_plan(&sync_id).ok().flatten();
    if let Err(e) = core.state.accept_plan(&sync_id, &crate::sync::now()) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    core.audit(
        "plan_accepted",
        &sync_id,
        json!({"by": scope.label(), "plan": shown}),
    );
    let queued = core.ask(&job, super::scheduler::Reason::Manual, false);
    core.wake();
    (
        StatusCode::ACCEPTED,
        Json(json!({"sync_id": sync_id, "accepted": true, "queued": queued})),
    )
        .into_response()
}
