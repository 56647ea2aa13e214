//! `/conflicts`: the parked pairs, and a person's decision on one.

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::super::access::Scope;
use super::super::Core;
use super::{error, hidden, internal, page_by_id, sees_job, visible_jobs, PageQuery, Shared};
use crate::core::merge::Side;
use crate::state::Resolution;

pub(super) async fn list_conflicts(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Query(q): Query<PageQuery>,
) -> Response {
    let visible = visible_jobs(&core, &scope);
    match core.state.conflicts() {
        Ok(c) => {
            let mut c: Vec<_> = c
                .into_iter()
                .filter(|c| visible.as_ref().is_none_or(|v| v.contains(&c.job)))
                .collect();
            c.sort_by(|a, b| a.id.cmp(&b.id));
            page_by_id("/conflicts", c, |c| c.id.as_str(), &q)
        }
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResolveBody {
    take: Option<Side>,
    merge: Option<crate::core::value::Fields>,
}

pub(super) async fn resolve_conflict(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
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
    resolve(&core, &scope, &id, resolution)
}

/// Records a person's decision on parked conflict `id` (applied on the
/// job's next run), audited with who decided; the API and the console.
pub(in crate::daemon) fn resolve(
    core: &Core,
    scope: &Scope,
    id: &str,
    resolution: Resolution,
) -> Response {
    match core.state.conflict(id) {
        Ok(Some(conflict)) if !sees_job(core, scope, &conflict.job) => {
            hidden(core, scope, &format!("conflict {id}"))
        }
        Ok(Some(mut conflict)) => {
            conflict.resolution = Some(resolution);
            if let Err(e) = core.state.put_conflict(&conflict) {
                return internal(e);
            }
            core.audit(
                "conflict_resolved",
                &conflict.job,
                json!({"conflict": id, "resolution": conflict.resolution, "by": scope.label()}),
            );
            Json(json!({"id": id, "applied": "on the job's next run"})).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no conflict {id}")),
        Err(e) => internal(e),
    }
}
