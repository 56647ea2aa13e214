//! The job as written: every field the format accepts, nothing defaulted.
//! Its JSON Schema is the published one; `validate` turns it into a `Job`.
//!
//! Fields whose values the validator checks itself are kept as JSON values
//! here (with their schema given by `#[schemars(with)]`), so that a wrong
//! value is reported with its field's path and in our words, not serde's.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::schedule::ScheduleText;
use super::{FirstSync, JobError, MappingSpec, Mode, Policy, Priority};
use crate::runtime::Connection;

/// The product spec's two job shapes, accepted verbatim.
pub(crate) const SPEC_EXAMPLES: [&str; 2] = [
    r#"{"project_id":"pf-456","sync_type":"bidirectional","source_platform":"Notion","target_entity":"TasksTable","schedule":"every_15_minutes"}"#,
    r#"{"sync_id":"sync_7744","project_id":"pf-701","source":"Notion","target":"TasksTable","mode":"bidirectional","schedule":"every_hour"}"#,
];

/// A synchost sync job. Both shapes of the product spec are accepted as they
/// are; a job that runs also names the connector and entity of each side.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    /// Names the job, its state and its runs: letters, digits, `_`, `-`, `.`, `:`
    /// (at most 128). Default: a slug of project_id, the source platform and
    /// the target entity, e.g. "pf-456-notion-taskstable".
    #[schemars(with = "Option<String>")]
    pub sync_id: Option<Value>,
    /// The product's project this job belongs to.
    #[schemars(with = "Option<String>")]
    pub project_id: Option<Value>,
    /// Which way records flow: pull (source to target), push (target to
    /// source) or bidirectional. Required, as `mode` or `sync_type`.
    #[schemars(with = "Option<Mode>")]
    pub mode: Option<Value>,
    /// Same as `mode` (the spec's first shape).
    #[schemars(with = "Option<Mode>")]
    pub sync_type: Option<Value>,
    /// The side records are read from first: a platform name ("Notion") or
    /// the full side.
    #[schemars(with = "Option<SourceInput>")]
    pub source: Option<Value>,
    /// The source's platform (the spec's first shape); same as `source.platform`.
    #[schemars(with = "Option<String>")]
    pub source_platform: Option<Value>,
    /// The other side: an entity name ("TasksTable") or the full side.
    #[schemars(with = "Option<TargetInput>")]
    pub target: Option<Value>,
    /// The target's entity (the spec's first shape); same as `target.entity`.
    #[schemars(with = "Option<String>")]
    pub target_entity: Option<Value>,
    /// The target's platform; same as `target.platform`.
    #[schemars(with = "Option<String>")]
    pub target_platform: Option<Value>,
    #[schemars(with = "Option<ScheduleText>")]
    pub schedule: Option<Value>,
    /// The job's place in the queue when several are due (default normal).
    #[schemars(with = "Option<Priority>")]
    pub priority: Option<Value>,
    /// How fields translate between the sides. Default: fields of the same
    /// name are mapped to each other.
    #[schemars(with = "Option<MappingSpec>")]
    pub mapping: Option<Value>,
    /// The field that identifies the same record on both sides, so that a
    /// first two-way sync pairs existing records instead of duplicating them:
    /// one name for both sides ("email") or {"source": "Email", "target": "email"}.
    #[schemars(with = "Option<MatchKeyInput>")]
    pub match_key: Option<Value>,
    /// Who wins when both sides changed the same field: a policy for every
    /// field ("source_wins"), or {"policy": ..., "fields": {field: policy}}.
    /// Default newest_wins.
    #[schemars(with = "Option<ConflictInput>")]
    pub conflict: Option<Value>,
    /// Records asked of a connector per read, 1 to 1000 (default 100; a
    /// connector may return fewer).
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000))]
    pub page_size: Option<Value>,
    /// Every this many runs a side's read is a full scan instead of an
    /// incremental one, 1 to 10000 (default 24; 1 scans in full every run). A
    /// full scan finds deletes incremental reads do not report, and values
    /// that change without a record's modification time moving (Airtable's
    /// formulas, rollups and lookups).
    #[schemars(with = "Option<u32>", range(min = 1, max = 10000))]
    pub full_scan_every: Option<Value>,
    /// Write calls kept in flight at once on one side, 1 to 16 (default 4;
    /// 1 sends them one after the other). Each goes through its own instance
    /// of the connector; the platform's rate limit is shared by all of them.
    #[schemars(with = "Option<u32>", range(min = 1, max = 16))]
    pub write_concurrency: Option<Value>,
    /// "run" (default), or "plan": the daemon does not make a job's first
    /// run until a person has seen its plan and accepted it (`synchost plan
    /// accept SYNC_ID`, or the console).
    #[schemars(with = "Option<FirstSync>")]
    pub first_sync: Option<Value>,
}

/// One side in full.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSide {
    /// The platform's name, e.g. "Notion", "Airtable".
    #[schemars(with = "Option<String>")]
    pub platform: Option<Value>,
    /// The connector: a name ("notion") or a path to its .wasm component.
    /// Required to run.
    #[schemars(with = "Option<String>")]
    pub connector: Option<Value>,
    /// What is synced on this side: a Notion database, an Airtable table, a
    /// CRM object, by the name the connection's settings give it. Required to run.
    #[schemars(with = "Option<String>")]
    pub entity: Option<Value>,
    /// Settings handed to the connector, secrets by name, network and
    /// resource limits.
    #[schemars(with = "Option<Connection>")]
    pub connection: Option<Value>,
}

/// The conflict policy in full.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConflict {
    /// For every field without its own policy (default newest_wins).
    #[schemars(with = "Option<Policy>")]
    pub policy: Option<Value>,
    /// Per source field name: its own policy.
    #[schemars(with = "Option<BTreeMap<String, Policy>>")]
    pub fields: Option<Value>,
}

/// A match key naming the field on each side.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchKeyPair {
    #[schemars(with = "String")]
    pub source: Option<Value>,
    #[schemars(with = "String")]
    pub target: Option<Value>,
}

// The shapes below exist only for the schema.

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum SourceInput {
    /// The source platform's name, e.g. "Notion".
    Platform(String),
    Side(RawSide),
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum TargetInput {
    /// The target entity's name, e.g. "TasksTable".
    Entity(String),
    Side(RawSide),
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum MatchKeyInput {
    /// The same field name on both sides.
    Same(String),
    Pair(MatchKeyPair),
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum ConflictInput {
    Policy(Policy),
    Spec(RawConflict),
}

/// `path.key`, or `key` at the top.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The property names of `T`'s schema, when it refuses other properties.
pub(crate) fn closed_fields<T: JsonSchema>() -> Option<Vec<String>> {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    if schema.get("additionalProperties") != Some(&Value::Bool(false)) {
        return None;
    }
    let props = schema.get("properties").and_then(Value::as_object);
    Some(
        props
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default(),
    )
}

/// Reads `value` as a `T`: it must be an object (else `what` is expected);
/// fields `T` does not have are reported and dropped; a field serde refuses
/// is reported under its own path where that can be told.
pub(crate) fn read_object<T: DeserializeOwned + JsonSchema>(
    path: &str,
    value: &Value,
    what: &str,
    errors: &mut Vec<JobError>,
) -> Option<T> {
    let Value::Object(map) = value else {
        errors.push(JobError::invalid(
            if path.is_empty() { "(job)" } else { path },
            value,
            what,
        ));
        return None;
    };
    let mut kept = map.clone();
    if let Some(known) = closed_fields::<T>() {
        for key in map.keys() {
            if !known.contains(key) {
                errors.push(JobError::unknown(&join(path, key), key, &known));
                kept.remove(key);
            }
        }
    }
    read_typed(path, Value::Object(kept), errors)
}

/// Deserializes `value` as a `T`, locating serde's complaint: when `T` has a
/// default for every field, each field is tried alone to find the culprit.
fn read_typed<T: DeserializeOwned>(
    path: &str,
    value: Value,
    errors: &mut Vec<JobError>,
) -> Option<T> {
    let err = match serde_json::from_value::<T>(value.clone()) {
        Ok(t) => return Some(t),
        Err(e) => e,
    };
    let mut found = false;
    if let Value::Object(map) = &value {
        if serde_json::from_value::<T>(Value::Object(Map::new())).is_ok() {
            for (key, sub) in map {
                let alone = |v: Value| Value::Object(Map::from_iter([(key.clone(), v)]));
                let Err(e) = serde_json::from_value::<T>(alone(sub.clone())) else {
                    continue;
                };
                found = true;
                // an array: find the items at fault
                let mut items = 0;
                for (i, item) in sub.as_array().into_iter().flatten().enumerate() {
                    if let Err(e) = serde_json::from_value::<T>(alone(vec![item.clone()].into())) {
                        let field = format!("{}[{i}]", join(path, key));
                        errors.push(JobError::invalid(&field, item, expected_of(&e)));
                        items += 1;
                    }
                }
                if items == 0 {
                    errors.push(JobError::invalid(&join(path, key), sub, expected_of(&e)));
                }
            }
        }
    }
    if !found {
        let field = if path.is_empty() { "(job)" } else { path };
        errors.push(JobError::invalid(field, &value, expected_of(&err)));
    }
    None
}

/// What serde wanted, from its message.
fn expected_of(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    if let Some(rest) = text.strip_prefix("missing field ") {
        return format!("an object with {rest}");
    }
    // "unknown field `dir`, expected one of `a`, `b`" -> "one of `a`, `b` (not `dir`)"
    for prefix in ["unknown field ", "unknown variant "] {
        let Some(rest) = text.strip_prefix(prefix) else {
            continue;
        };
        if let Some((name, known)) = rest.split_once(", expected ") {
            return format!("{known} (not {name})");
        }
    }
    match text.rfind(", expected ") {
        Some(i) => text[i + ", expected ".len()..].to_string(),
        None => text.to_string(),
    }
}
