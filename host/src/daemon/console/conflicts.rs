//! Conflicts: the parked pairs a person must decide, and one pair side by
//! side (base, source, target, field by field, differences marked), with
//! "Take source", "Take target" and a per-field merge; the decision goes
//! through the API's own function and is applied on the job's next run.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;

use super::plan::shown;
use super::session::Ui;
use super::{answer, error_page, escape_segment, reason, render, see_other, Chrome};
use crate::core::merge::Side;
use crate::core::value::Fields;
use crate::daemon::api::{self, sees_job, visible_jobs, Shared};
use crate::state::{ParkedConflict, Resolution};

pub struct ConflictLine {
    pub id: String,
    pub link: String,
    pub job: String,
    pub pair: String,
    pub fields: String,
    pub parked_at: String,
    pub decision: String,
}

fn decision(c: &ParkedConflict) -> String {
    match &c.resolution {
        None => "waiting for a person".into(),
        Some(Resolution::Take(side)) => format!("take {} (applied on the next run)", side.as_str()),
        Some(Resolution::Merge(_)) => "merge (applied on the next run)".into(),
    }
}

fn line(c: &ParkedConflict) -> ConflictLine {
    ConflictLine {
        id: c.id.clone(),
        link: format!("/ui/conflicts/{}", escape_segment(&c.id)),
        job: c.job.clone(),
        pair: format!("{} / {}", c.source_id, c.target_id),
        fields: c
            .fields
            .iter()
            .map(|f| f.field.clone())
            .collect::<Vec<_>>()
            .join(", "),
        parked_at: c.parked_at.clone(),
        decision: decision(c),
    }
}

#[derive(Template)]
#[template(path = "console/conflicts.html")]
struct ListPage {
    page: Chrome,
    conflicts: Vec<ConflictLine>,
}

pub async fn list(State(core): State<Shared>, ui: Ui) -> Response {
    let visible = visible_jobs(&core, &ui.scope);
    let mut conflicts: Vec<ConflictLine> = match core.state.conflicts() {
        Ok(c) => c
            .iter()
            .filter(|c| visible.as_ref().is_none_or(|v| v.contains(&c.job)))
            .map(line)
            .collect(),
        Err(e) => return error_page(&ui, StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    conflicts.sort_by(|a, b| b.parked_at.cmp(&a.parked_at));
    render(
        StatusCode::OK,
        &ListPage {
            page: ui.chrome("Conflicts", "conflicts"),
            conflicts,
        },
    )
}

/// One field of a parked pair, side by side.
pub struct FieldRow {
    pub index: usize,
    pub field: String,
    pub base: String,
    pub source: String,
    pub target: String,
    /// each side differs from what both agreed on last
    pub source_changed: bool,
    pub target_changed: bool,
    /// the two sides differ: a merge picks one
    pub differs: bool,
    /// the engine found this field in conflict
    pub clash: bool,
}

/// The fields of `c`, in a stable order (the merge form's indexes).
fn field_names(c: &ParkedConflict) -> Vec<String> {
    let mut names = BTreeSet::new();
    for fields in [Some(&c.base_source), c.source.as_ref(), c.target.as_ref()]
        .into_iter()
        .flatten()
    {
        names.extend(fields.keys().cloned());
    }
    names.into_iter().collect()
}

fn rows(c: &ParkedConflict) -> Vec<FieldRow> {
    let empty = Fields::new();
    let (source, target) = (
        c.source.as_ref().unwrap_or(&empty),
        c.target.as_ref().unwrap_or(&empty),
    );
    field_names(c)
        .into_iter()
        .enumerate()
        .map(|(index, f)| FieldRow {
            index,
            base: shown(c.base_source.get(&f)),
            source: shown(source.get(&f)),
            target: shown(target.get(&f)),
            source_changed: c.source.is_some() && source.get(&f) != c.base_source.get(&f),
            target_changed: c.target.is_some() && target.get(&f) != c.base_target.get(&f),
            differs: source.get(&f) != target.get(&f),
            clash: c.fields.iter().any(|x| x.field == f || x.field == "*"),
            field: f,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/conflict.html")]
struct DetailPage {
    page: Chrome,
    c: ConflictLine,
    job_link: String,
    rows: Vec<FieldRow>,
    source_deleted: bool,
    target_deleted: bool,
    notes: Vec<String>,
}

/// Conflict `id` if this session may see it; otherwise a 404 page (the
/// refusal audited, as the API's).
fn visible(core: &Shared, ui: &Ui, id: &str) -> Result<ParkedConflict, Box<Response>> {
    match core.state.conflict(id) {
        Ok(Some(c)) if sees_job(core, &ui.scope, &c.job) => Ok(c),
        Ok(Some(_)) => {
            let _ = api::hidden(core, &ui.scope, &format!("conflict {id}"));
            Err(Box::new(error_page(
                ui,
                StatusCode::NOT_FOUND,
                format!("no conflict {id}"),
            )))
        }
        Ok(None) => Err(Box::new(error_page(
            ui,
            StatusCode::NOT_FOUND,
            format!("no conflict {id} (a decided conflict is gone once a run applied it)"),
        ))),
        Err(e) => Err(Box::new(error_page(
            ui,
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ))),
    }
}

pub async fn show(State(core): State<Shared>, ui: Ui, Path(id): Path<String>) -> Response {
    let c = match visible(&core, &ui, &id) {
        Ok(c) => c,
        Err(page) => return *page,
    };
    render(
        StatusCode::OK,
        &DetailPage {
            page: ui.chrome(format!("Conflict {id}"), "conflicts"),
            job_link: format!("/ui/jobs/{}", escape_segment(&c.job)),
            rows: rows(&c),
            source_deleted: c.source.is_none(),
            target_deleted: c.target.is_none(),
            notes: c
                .fields
                .iter()
                .filter_map(|f| f.note.as_ref().map(|n| format!("{}: {n}", f.field)))
                .collect(),
            c: line(&c),
        },
    )
}

/// The merge a form asks for: each field both sides agree on, and for each
/// other field the side its `pick_N` names (the source's by default).
fn merged(c: &ParkedConflict, form: &HashMap<String, String>) -> Result<Fields, String> {
    let (Some(source), Some(target)) = (&c.source, &c.target) else {
        return Err("one side deleted the record: take a side instead of merging".into());
    };
    let mut out = Fields::new();
    for (i, f) in field_names(c).into_iter().enumerate() {
        let pick = form.get(&format!("pick_{i}")).map(String::as_str);
        let side = match pick {
            None | Some("source") => source,
            Some("target") => target,
            Some(other) => return Err(format!("pick_{i}: `{other}` is not a side")),
        };
        if let Some(v) = side.get(&f) {
            out.insert(f, v.clone());
        }
    }
    Ok(out)
}

pub async fn resolve(
    State(core): State<Shared>,
    ui: Ui,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let c = match visible(&core, &ui, &id) {
        Ok(c) => c,
        Err(page) => return *page,
    };
    let resolution = match form.get("take").map(String::as_str) {
        Some("source") => Resolution::Take(Side::Source),
        Some("target") => Resolution::Take(Side::Target),
        Some("merge") => match merged(&c, &form) {
            Ok(fields) => Resolution::Merge(fields),
            Err(why) => return error_page(&ui, StatusCode::BAD_REQUEST, why),
        },
        _ => {
            return error_page(
                &ui,
                StatusCode::BAD_REQUEST,
                "say which side to take, or merge field by field",
            )
        }
    };
    let said = match &resolution {
        Resolution::Take(side) => format!("take {}", side.as_str()),
        Resolution::Merge(_) => "the merge".into(),
    };
    let (status, body) = answer(api::resolve(&core, &ui.scope, &id, resolution)).await;
    if status != StatusCode::OK {
        return error_page(&ui, status, format!("Not decided: {}", reason(&body)));
    }
    see_other(
        &ui,
        &core,
        &format!("/ui/conflicts/{}", escape_segment(&id)),
        format!(
            "Decided: {said}. It is applied on the next run of {}; start it now with \"Run now\".",
            c.job
        ),
    )
}
