//! `/connectors`: what is loaded, and a new version uploaded.

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::super::access::Scope;
use super::super::registry::{valid_name, Swap};
use super::super::Core;
use super::{error, forbidden, Shared};

pub(super) async fn list_connectors(State(core): State<Shared>) -> Json<Value> {
    Json(json!(core.registry.list()))
}

pub(super) async fn upload_connector(
    State(core): State<Shared>,
    Extension(scope): Extension<Scope>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    match install_connector(&core, &scope, &name, body.to_vec()).await {
        Ok((name, version)) => (
            StatusCode::OK,
            Json(json!({"name": name, "version": version, "status": "loaded"})),
        )
            .into_response(),
        Err((status, reason)) => error(status, reason),
    }
}

/// Checks an uploaded connector and swaps it in (the API's `PUT
/// /connectors/NAME` and the console's upload): its name and version, or
/// the status and reason of the refusal (the previous version keeps serving).
pub(in crate::daemon) async fn install_connector(
    core: &Core,
    scope: &Scope,
    name: &str,
    wasm: Vec<u8>,
) -> Result<(String, String), (StatusCode, String)> {
    if !scope.is_admin() {
        let why = "only the admin token uploads connectors".to_string();
        let refused = forbidden(core, scope, "PUT /connectors", why.clone());
        return Err((refused.status(), why));
    }
    if !valid_name(name) {
        return Err((
            StatusCode::BAD_REQUEST,
            "a connector name is 1-64 letters, digits, `-` or `_`".into(),
        ));
    }
    if crate::runtime::table::Kind::named(name).is_some() {
        return Err((
            StatusCode::CONFLICT,
            format!("`{name}` is a built-in table side of this host: upload under another name"),
        ));
    }
    let swap = core.registry.install(name, wasm.clone(), None, true).await;
    core.on_swap(swap.clone());
    match swap {
        Swap::Loaded { name, version } => {
            core.publish_connector(&name, &wasm);
            Ok((name, version))
        }
        Swap::Rejected { reason, .. } => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("rejected; the previous version keeps serving: {reason}"),
        )),
    }
}
