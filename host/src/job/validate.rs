//! From [`RawJob`] to [`Job`]: aliases merged, defaults applied, every value
//! checked, every problem collected.

use std::collections::BTreeMap;

use serde_json::Value;

use super::raw::{join, read_object, MatchKeyPair, RawConflict, RawJob, RawSide};
use super::schedule::{self, Schedule};
use super::{
    ConflictSpec, FirstSync, Job, JobError, MappingSpec, MatchKey, Mode, Named, Policy, Priority,
    SideSpec, DEFAULT_FULL_SCAN_EVERY, DEFAULT_PAGE_SIZE, DEFAULT_WRITE_CONCURRENCY,
    MAX_FULL_SCAN_EVERY, MAX_PAGE_SIZE, MAX_WRITE_CONCURRENCY,
};
use crate::runtime::{Connection, Limits, Rate};

type Errors = Vec<JobError>;

pub(super) fn validate(raw: RawJob, errors: &mut Errors) -> Option<Job> {
    let before = errors.len();

    let sync_id = raw.sync_id.as_ref().and_then(|v| sync_id(v, errors));
    let project_id = raw
        .project_id
        .as_ref()
        .and_then(|v| text("project_id", v, "a project id", errors));

    let mode = one_of::<Mode>("mode", raw.mode.as_ref(), errors);
    let sync_type = one_of::<Mode>("sync_type", raw.sync_type.as_ref(), errors);
    let mode = match (mode, sync_type) {
        (Some(m), Some(s)) if m != s => {
            errors.push(JobError::invalid(
                "sync_type",
                raw.sync_type.as_ref().unwrap(),
                format!("the same as `mode` (\"{m}\"), or only one of the two"),
            ));
            None
        }
        (Some(m), _) | (None, Some(m)) => Some(m),
        (None, None) => {
            if raw.mode.is_none() && raw.sync_type.is_none() {
                errors.push(JobError::missing(
                    "mode",
                    format!(
                        "which way records flow: {} (also accepted as `sync_type`)",
                        Mode::expected()
                    ),
                ));
            }
            None
        }
    };

    let mut source = side("source", raw.source.as_ref(), false, errors);
    if let Some(v) = &raw.source_platform {
        merge(
            "source_platform",
            "source.platform",
            v,
            &mut source.platform,
            errors,
        );
    }
    let mut target = side("target", raw.target.as_ref(), true, errors);
    if let Some(v) = &raw.target_platform {
        merge(
            "target_platform",
            "target.platform",
            v,
            &mut target.platform,
            errors,
        );
    }
    if let Some(v) = &raw.target_entity {
        merge(
            "target_entity",
            "target.entity",
            v,
            &mut target.entity,
            errors,
        );
    }
    let source = source.finish();
    let target = target.finish();
    if source.platform.is_empty() {
        if raw.source.as_ref().is_some_and(Value::is_object) {
            errors.push(JobError::missing(
                "source.platform",
                "the platform records come from, e.g. \"platform\": \"Notion\"",
            ));
        } else if raw.source.is_none() && raw.source_platform.is_none() {
            errors.push(JobError::missing(
                "source",
                "the platform records come from, e.g. \"source\": \"Notion\" or \
                 \"source\": {\"platform\": \"Notion\", \"connector\": \"notion\", \"entity\": \"tasks\"}",
            ));
        }
    }
    if raw.target.is_none() && raw.target_entity.is_none() && raw.target_platform.is_none() {
        errors.push(JobError::missing(
            "target",
            "the other side, e.g. \"target\": \"TasksTable\" (an entity) or \
             \"target\": {\"platform\": \"Airtable\", \"connector\": \"airtable\", \"entity\": \"tasks\"}",
        ));
    }

    let schedule = match &raw.schedule {
        None => Some(Schedule::Manual),
        Some(v) => match v.as_str().map(Schedule::parse) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                errors.push(JobError::invalid(
                    "schedule",
                    v,
                    format!("{} ({e})", schedule::ACCEPTED),
                ));
                None
            }
            None => {
                errors.push(JobError::invalid("schedule", v, schedule::ACCEPTED));
                None
            }
        },
    };
    let priority = match raw.priority {
        None => Some(Priority::default()),
        Some(ref v) => one_of::<Priority>("priority", Some(v), errors),
    };
    let first_sync = match raw.first_sync {
        None => Some(FirstSync::default()),
        Some(ref v) => one_of::<FirstSync>("first_sync", Some(v), errors),
    };
    let mapping = match raw.mapping {
        None => Some(MappingSpec::default()),
        Some(v) => read_object::<MappingSpec>(
            "mapping",
            &v,
            "an object such as {\"fields\": [{\"source\": \"Status\", \"target\": \"State\"}]}",
            errors,
        ),
    };
    let match_key = raw.match_key.as_ref().and_then(|v| match_key(v, errors));
    let conflict = match &raw.conflict {
        None => Some(ConflictSpec::default()),
        Some(v) => conflict(v, errors),
    };
    let page_size = count(
        &raw.page_size,
        "page_size",
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
        "",
        errors,
    );
    let full_scan_every = count(
        &raw.full_scan_every,
        "full_scan_every",
        DEFAULT_FULL_SCAN_EVERY,
        MAX_FULL_SCAN_EVERY,
        " of runs",
        errors,
    );
    let write_concurrency = count(
        &raw.write_concurrency,
        "write_concurrency",
        DEFAULT_WRITE_CONCURRENCY,
        MAX_WRITE_CONCURRENCY,
        " of calls",
        errors,
    );

    if errors.len() > before {
        return None;
    }
    let sync_id = sync_id.unwrap_or_else(|| {
        let parts = [
            project_id.as_deref(),
            Some(source.platform.as_str()),
            target.entity.as_deref().or(Some(target.platform.as_str())),
        ];
        slug(
            &parts
                .iter()
                .flatten()
                .copied()
                .collect::<Vec<_>>()
                .join("-"),
        )
    });
    // Each side's `file:KEY` secrets are looked up in the job's project first.
    let (mut source, mut target) = (source, target);
    for side in [&mut source, &mut target] {
        side.connection.secret_scope.project = project_id.clone();
    }
    Some(Job {
        sync_id,
        project_id,
        mode: mode?,
        schedule: schedule?,
        priority: priority?,
        source,
        target,
        mapping: mapping?,
        match_key,
        conflict: conflict?,
        page_size: page_size?,
        full_scan_every: full_scan_every?,
        write_concurrency: write_concurrency?,
        first_sync: first_sync?,
    })
}

/// A whole number from 1 to `max`, `default` when absent.
fn count(
    v: &Option<Value>,
    field: &str,
    default: u32,
    max: u32,
    unit: &str,
    errors: &mut Vec<JobError>,
) -> Option<u32> {
    let Some(v) = v else { return Some(default) };
    match v.as_u64() {
        Some(n) if (1..=u64::from(max)).contains(&n) => Some(n as u32),
        _ => {
            errors.push(JobError::invalid(
                field,
                v,
                format!("a whole number{unit} from 1 to {max}"),
            ));
            None
        }
    }
}

/// A side while it is being put together.
#[derive(Default)]
struct Partial {
    platform: Option<String>,
    connector: Option<String>,
    entity: Option<String>,
    connection: Connection,
}

impl Partial {
    fn finish(self) -> SideSpec {
        let connector = self.connector;
        // a connector named (not a path) stands for its platform
        let platform = self.platform.or_else(|| {
            connector
                .clone()
                .filter(|c| !c.contains('/') && !c.ends_with(".wasm"))
        });
        SideSpec {
            platform: platform.unwrap_or_default(),
            connector,
            entity: self.entity,
            connection: self.connection,
        }
    }
}

/// `source` or `target`: a string (the source's platform, the target's
/// entity) or a full side.
fn side(name: &str, value: Option<&Value>, string_is_entity: bool, errors: &mut Errors) -> Partial {
    let mut out = Partial::default();
    let Some(value) = value else { return out };
    if let Value::String(_) = value {
        let (what, slot) = if string_is_entity {
            ("an entity name", &mut out.entity)
        } else {
            ("a platform name", &mut out.platform)
        };
        *slot = text(name, value, what, errors);
        return out;
    }
    let what = if string_is_entity {
        "an entity name such as \"TasksTable\", or an object with platform, connector, entity, connection"
    } else {
        "a platform name such as \"Notion\", or an object with platform, connector, entity, connection"
    };
    let Some(raw) = read_object::<RawSide>(name, value, what, errors) else {
        return out;
    };
    let field = |key: &str| join(name, key);
    out.platform = raw
        .platform
        .and_then(|v| text(&field("platform"), &v, "a platform name", errors));
    out.connector = raw.connector.and_then(|v| {
        text(
            &field("connector"),
            &v,
            "a connector name or a path to a .wasm component",
            errors,
        )
    });
    out.entity = raw
        .entity
        .and_then(|v| text(&field("entity"), &v, "an entity name", errors));
    if let Some(v) = raw.connection {
        out.connection = connection(&field("connection"), v, errors).unwrap_or_default();
    }
    out
}

/// A top-level alias (`source_platform`) of a side's field (`source.platform`):
/// fills it, or must agree with it.
fn merge(alias: &str, field: &str, value: &Value, slot: &mut Option<String>, errors: &mut Errors) {
    let Some(new) = text(alias, value, "a name", errors) else {
        return;
    };
    match slot {
        Some(old) if *old != new => errors.push(JobError::invalid(
            alias,
            value,
            format!("the same as `{field}` (\"{old}\"), or only one of the two"),
        )),
        _ => *slot = Some(new),
    }
}

fn connection(path: &str, mut value: Value, errors: &mut Errors) -> Option<Connection> {
    let before = errors.len();
    if let Value::Object(map) = &mut value {
        for key in ["settings", "secrets", "endpoint_overrides"] {
            let Some(Value::Object(entries)) = map.get(key) else {
                continue;
            };
            for (name, v) in entries {
                let field = format!("{path}.{key}.{name}");
                match v.as_str() {
                    None => errors.push(JobError::invalid(&field, v, "a string")),
                    Some(s) if key == "secrets" && !is_secret_ref(s) => {
                        errors.push(JobError::Invalid {
                            field,
                            value: "(not shown)".into(),
                            expected: "where the host finds the secret: env:VARIABLE or \
                                       file:KEY, never the secret itself"
                                .into(),
                        })
                    }
                    _ => {}
                }
            }
        }
        if let Some(v) = map.get("limits").filter(|v| !v.is_null()) {
            read_object::<Limits>(&join(path, "limits"), v, "an object", errors);
        }
        if let Some(v) = map.get("rate_limit").filter(|v| !v.is_null()) {
            let field = join(path, "rate_limit");
            if let Some(rate) = read_object::<Rate>(&field, v, "an object", errors) {
                if !(rate.per_second.is_finite() && rate.per_second > 0.0) {
                    errors.push(JobError::invalid(
                        &join(&field, "per_second"),
                        &v["per_second"],
                        "a number of requests per second above 0",
                    ));
                }
            }
        }
        if errors.len() > before {
            return None;
        }
    }
    read_object::<Connection>(path, &value, "an object", errors)
}

fn is_secret_ref(s: &str) -> bool {
    ["env:", "file:"].iter().any(|p| {
        s.strip_prefix(p)
            .is_some_and(|rest| !rest.trim().is_empty())
    })
}

fn match_key(value: &Value, errors: &mut Errors) -> Option<MatchKey> {
    const WHAT: &str = "a field name, or {\"source\": \"Email\", \"target\": \"email\"}";
    if value.is_string() {
        return text("match_key", value, WHAT, errors).map(|n| MatchKey::same(&n));
    }
    let pair = read_object::<MatchKeyPair>("match_key", value, WHAT, errors)?;
    let side = |key: &str, v: Option<Value>, errors: &mut Errors| match v {
        None => {
            errors.push(JobError::missing(
                &join("match_key", key),
                format!("the key field's name on the {key} side"),
            ));
            None
        }
        Some(v) => text(&join("match_key", key), &v, "a field name", errors),
    };
    let source = side("source", pair.source, errors);
    let target = side("target", pair.target, errors);
    Some(MatchKey {
        source: source?,
        target: target?,
    })
}

fn conflict(value: &Value, errors: &mut Errors) -> Option<ConflictSpec> {
    if value.is_string() {
        let policy = one_of::<Policy>("conflict", Some(value), errors)?;
        return Some(ConflictSpec {
            policy,
            fields: BTreeMap::new(),
        });
    }
    let what = format!(
        "{}, or {{\"policy\": ..., \"fields\": {{\"Status\": \"source_wins\"}}}}",
        Policy::expected()
    );
    let raw = read_object::<RawConflict>("conflict", value, &what, errors)?;
    let policy = match &raw.policy {
        None => Some(Policy::default()),
        Some(v) => one_of::<Policy>("conflict.policy", Some(v), errors),
    };
    let mut fields = BTreeMap::new();
    match &raw.fields {
        None => {}
        Some(Value::Object(map)) => {
            for (name, v) in map {
                let path = format!("conflict.fields.{name}");
                if name.trim().is_empty() {
                    errors.push(JobError::invalid(
                        &path,
                        v,
                        "a field name, not an empty one",
                    ));
                } else if let Some(p) = one_of::<Policy>(&path, Some(v), errors) {
                    fields.insert(name.clone(), p);
                }
            }
        }
        Some(v) => errors.push(JobError::invalid(
            "conflict.fields",
            v,
            "an object of source field name to policy, e.g. {\"Status\": \"source_wins\"}",
        )),
    }
    Some(ConflictSpec {
        policy: policy?,
        fields,
    })
}

/// A variant of `T` by name; `None` (and an error) when given but not one.
fn one_of<T: Named>(field: &str, value: Option<&Value>, errors: &mut Errors) -> Option<T> {
    let value = value?;
    let found = value.as_str().and_then(T::from_name);
    if found.is_none() {
        errors.push(JobError::invalid(field, value, T::expected()));
    }
    found
}

/// A non-empty string, trimmed.
fn text(field: &str, value: &Value, what: &str, errors: &mut Errors) -> Option<String> {
    match value.as_str().map(str::trim) {
        Some(s) if !s.is_empty() => Some(s.to_string()),
        _ => {
            errors.push(JobError::invalid(field, value, what));
            None
        }
    }
}

fn sync_id(value: &Value, errors: &mut Errors) -> Option<String> {
    let ok = |s: &str| {
        (1..=128).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c))
    };
    match value.as_str() {
        Some(s) if ok(s) => Some(s.to_string()),
        _ => {
            errors.push(JobError::invalid(
                "sync_id",
                value,
                "1 to 128 letters, digits, `_`, `-`, `.` or `:`, e.g. \"sync_7744\"",
            ));
            None
        }
    }
}

/// Lower case ASCII letters and digits, runs of anything else as one `-`.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    let out: String = out.chars().take(128).collect();
    if out.is_empty() {
        "job".into()
    } else {
        out.trim_end_matches('-').to_string()
    }
}

/// What `side` lacks to run, with an example of what to add.
pub(super) fn runnable(name: &str, side: &SideSpec, errors: &mut Errors) {
    let platform = (!side.platform.is_empty()).then_some(side.platform.as_str());
    let connector = side
        .connector
        .clone()
        .or_else(|| platform.map(|p| slug(p).replace('-', "_")));
    let example = format!(
        "add \"{name}\": {{\"platform\": \"{}\", \"connector\": \"{}\", \"entity\": \"{}\", \"connection\": {{...}}}}",
        platform.unwrap_or(if name == "source" { "Notion" } else { "Airtable" }),
        connector.as_deref().unwrap_or(if name == "source" { "notion" } else { "airtable" }),
        side.entity.as_deref().unwrap_or("tasks"),
    );
    if platform.is_none() {
        let what = match &side.entity {
            Some(e) => format!("which platform holds {e}?"),
            None => format!("which platform is the {name}?"),
        };
        errors.push(JobError::missing(
            &join(name, "platform"),
            format!("{what} e.g. {example}"),
        ));
    }
    if side.connector.is_none() {
        let on = platform
            .map(|p| format!(" talks to {p}"))
            .unwrap_or_default();
        errors.push(JobError::missing(
            &join(name, "connector"),
            format!(
                "which connector{on}? (a connector name, or a path to its .wasm component) {example}"
            ),
        ));
    }
    if side.entity.is_none() {
        let noun = match platform.map(str::to_ascii_lowercase).as_deref() {
            Some("notion") => "database",
            Some("airtable") => "table",
            Some("hubspot" | "salesforce") => "object",
            _ => "entity",
        };
        let which = match platform {
            Some(p) => format!("which {p} {noun}?"),
            None => format!("which {noun}?"),
        };
        errors.push(JobError::missing(
            &join(name, "entity"),
            format!("{which} {example}"),
        ));
    }
}
