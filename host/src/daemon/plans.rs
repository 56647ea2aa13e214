//! `POST /jobs/{id}/plan`: the preview of a job's next run (see
//! [`crate::sync::preview`]), made on the connector runtime like a run and
//! writing nothing, not even an audit entry.

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::access::Scope;
use super::api::{error, out_of_scope, Shared, TriggerQuery};

pub async fn plan(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Path(sync_id): Path<String>,
    Query(q): Query<TriggerQuery>,
) -> Response {
    if let Some(refused) = out_of_scope(&core, &scope, &sync_id) {
        return refused;
    }
    let job = match core.load_job(&sync_id) {
        Ok(Some(job)) => job,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no job {sync_id}")),
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
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
            crate::sync::preview::preview(&job, &on.runtime, &on.state, &on.options(q.full)).await
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
