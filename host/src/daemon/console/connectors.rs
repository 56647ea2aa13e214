//! Connectors: what is loaded (name, version, contract, SHA-256, loaded at,
//! declared hosts and capabilities), and an upload of a new version, checked
//! and swapped in by the API's own function (admin only, as in the API);
//! a rejected file's reason is shown as it is.

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::session::Ui;
use super::{render, see_other, Chrome};
use crate::daemon::api::{self, Shared};
use crate::daemon::registry::ConnectorInfo;

#[derive(Template)]
#[template(path = "console/connectors.html")]
struct ConnectorsPage {
    page: Chrome,
    connectors: Vec<ConnectorInfo>,
    rejected: Option<String>,
}

fn connectors_page(
    core: &Shared,
    ui: &Ui,
    status: StatusCode,
    rejected: Option<String>,
) -> Response {
    render(
        status,
        &ConnectorsPage {
            page: ui.chrome("Connectors", "connectors"),
            connectors: core.registry.list(),
            rejected,
        },
    )
}

pub async fn page(State(core): State<Shared>, ui: Ui) -> Response {
    connectors_page(&core, &ui, StatusCode::OK, None)
}

/// The upload form's fields: the connector's name (else the file's stem)
/// and the file.
async fn fields(mut form: Multipart) -> Result<(String, Vec<u8>), String> {
    let (mut name, mut file, mut stem) = (String::new(), None, String::new());
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| format!("the upload did not arrive whole: {e}"))?
    {
        match field.name() {
            Some("name") => name = field.text().await.unwrap_or_default().trim().to_string(),
            Some("file") => {
                stem = field
                    .file_name()
                    .and_then(|f| std::path::Path::new(f).file_stem())
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| format!("the file did not arrive whole: {e}"))?;
                file = Some(bytes.to_vec());
            }
            _ => {}
        }
    }
    let file = file
        .filter(|f| !f.is_empty())
        .ok_or("choose a .wasm file to upload")?;
    Ok((if name.is_empty() { stem } else { name }, file))
}

pub async fn upload(State(core): State<Shared>, ui: Ui, form: Multipart) -> Response {
    let (name, wasm) = match fields(form).await {
        Ok(got) => got,
        Err(why) => return connectors_page(&core, &ui, StatusCode::BAD_REQUEST, Some(why)),
    };
    match api::install_connector(&core, &ui.scope, &name, wasm).await {
        Ok((name, version)) => see_other(
            &ui,
            &core,
            "/ui/connectors",
            format!("Connector {name} {version} is loaded: new runs use it."),
        ),
        Err((status, why)) => connectors_page(
            &core,
            &ui,
            status,
            Some(format!("Connector {name} was not loaded: {why}")),
        ),
    }
}
