//! # The job: what to sync, how, and when
//!
//! A job is the JSON our users already write, in either of the product spec's
//! two shapes —
//!
//! ```json
//! {"project_id":"pf-456","sync_type":"bidirectional","source_platform":"Notion","target_entity":"TasksTable","schedule":"every_15_minutes"}
//! {"sync_id":"sync_7744","project_id":"pf-701","source":"Notion","target":"TasksTable","mode":"bidirectional","schedule":"every_hour"}
//! ```
//!
//! — plus what a real run needs: the connector, entity and connection of each
//! side, the field mapping, a match key, the conflict policy, a priority.
//!
//! Parsing happens in two steps. The text becomes a [`RawJob`]: every accepted
//! field, spelled as written, nothing defaulted; its JSON Schema is the
//! published one ([`json_schema`], `docs/job.schema.json`). [`RawJob`] is then
//! validated into a [`Job`]: aliases merged (`mode`/`sync_type`,
//! `source_platform`, `target_entity`, `target_platform`), defaults applied,
//! every value checked. All the problems found are reported at once, each
//! naming its field as a JSON path, the value and what was expected
//! ([`JobError`]).
//!
//! A job from the bare spec shapes parses, but names neither connector nor
//! entity: [`Job::ensure_runnable`] says what to add before it can run.
//!
//! Field by field: `docs/jobs.md`; examples: `docs/jobs/*.json`.

mod error;
mod raw;
pub mod schedule;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::runtime::Connection;

pub use error::JobError;
pub use raw::{RawConflict, RawJob, RawSide};
pub use schedule::{Schedule, ScheduleError};

pub use crate::core::mapping::MappingSpec;

/// One sync job, validated, with every default applied.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// Names the job's state (links, shadows, checkpoints) and its runs.
    pub sync_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    pub mode: Mode,
    pub schedule: Schedule,
    pub priority: Priority,
    pub source: SideSpec,
    pub target: SideSpec,
    pub mapping: MappingSpec,
    /// How a first two-way sync pairs records that already exist on both sides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_key: Option<MatchKey>,
    pub conflict: ConflictSpec,
    /// Records asked of a connector per read.
    pub page_size: u32,
    /// Every this many runs a side is read in full, not incrementally.
    pub full_scan_every: u32,
    /// Write calls in flight at once on one side, each through its own
    /// instance of the connector.
    pub write_concurrency: u32,
    pub first_sync: FirstSync,
}

/// One side of a job.
#[derive(Debug, Clone, Serialize)]
pub struct SideSpec {
    /// The platform's name as users say it ("Notion"); empty when a bare spec
    /// job does not name the target's platform.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// A connector name (`notion`) or a path to its `.wasm` component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// The database, table or object synced on this side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    pub connection: Connection,
}

/// Which way records flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// source to target
    Pull,
    /// target to source
    Push,
    /// both ways
    Bidirectional,
}

/// What the daemon does with a job's first run.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FirstSync {
    /// runs it as any other
    #[default]
    Run,
    /// previews it and waits until a person accepts the plan (`synchost
    /// plan accept`, or the console)
    Plan,
}

/// Where a job waits in the scheduler's queue when several are due.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Critical,
}

/// Who wins when both sides changed the same field since the last sync.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// the source's value is written to the target
    SourceWins,
    /// the target's value is written to the source
    TargetWins,
    /// the value changed last, by the platforms' own modification times
    #[default]
    NewestWins,
    /// the record is parked, neither side changes, a person decides
    Manual,
}

/// The field that identifies the same record on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchKey {
    /// field name on the source side
    pub source: String,
    /// field name on the target side
    pub target: String,
}

/// The job's conflict policy and its exceptions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConflictSpec {
    pub policy: Policy,
    /// per source field name, overriding `policy`
    pub fields: BTreeMap<String, Policy>,
}

/// Names an enum's variants accept, for messages.
trait Named: Sized + Copy + 'static {
    const ALL: &'static [(Self, &'static str)];

    fn name(self) -> &'static str
    where
        Self: PartialEq,
    {
        Self::ALL.iter().find(|(v, _)| *v == self).unwrap().1
    }

    fn expected() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
        format!("one of {}", names.join(", "))
    }

    /// Case-insensitive, surrounding blanks ignored.
    fn from_name(text: &str) -> Option<Self> {
        let text = text.trim();
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(text))
            .map(|(v, _)| *v)
    }
}

macro_rules! named {
    ($t:ty, $($v:expr => $n:literal),+) => {
        impl Named for $t {
            const ALL: &'static [(Self, &'static str)] = &[$(($v, $n)),+];
        }
        impl $t {
            /// The name used in jobs and reports.
            pub fn as_str(self) -> &'static str { Named::name(self) }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl FromStr for $t {
            type Err = String;
            /// Case-insensitive; the error says what is accepted.
            fn from_str(s: &str) -> Result<Self, String> {
                <$t as Named>::from_name(s).ok_or_else(<$t as Named>::expected)
            }
        }
    };
}

named!(Mode, Mode::Pull => "pull", Mode::Push => "push", Mode::Bidirectional => "bidirectional");
named!(Priority, Priority::Low => "low", Priority::Normal => "normal", Priority::High => "high", Priority::Critical => "critical");
named!(Policy, Policy::SourceWins => "source_wins", Policy::TargetWins => "target_wins",
       Policy::NewestWins => "newest_wins", Policy::Manual => "manual");
named!(FirstSync, FirstSync::Run => "run", FirstSync::Plan => "plan");

impl Mode {
    /// Records flow from source to target.
    pub fn writes_target(self) -> bool {
        matches!(self, Mode::Pull | Mode::Bidirectional)
    }

    /// Records flow from target to source.
    pub fn writes_source(self) -> bool {
        matches!(self, Mode::Push | Mode::Bidirectional)
    }
}

impl ConflictSpec {
    /// The policy for a field, by its source-side name.
    pub fn policy_for(&self, source_field: &str) -> Policy {
        self.fields
            .get(source_field)
            .copied()
            .unwrap_or(self.policy)
    }
}

impl MatchKey {
    /// The same field name on both sides.
    pub fn same(name: &str) -> MatchKey {
        MatchKey {
            source: name.to_string(),
            target: name.to_string(),
        }
    }
}

/// Written as a plain string when both sides use the same name.
impl Serialize for MatchKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.source == self.target {
            return s.serialize_str(&self.source);
        }
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("MatchKey", 2)?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("target", &self.target)?;
        st.end()
    }
}

/// Page size when the job sets none.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest page size a job may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Runs between full scans when the job sets none: once a day at hourly runs.
pub const DEFAULT_FULL_SCAN_EVERY: u32 = 24;
/// Most runs a job may leave between full scans.
pub const MAX_FULL_SCAN_EVERY: u32 = 10_000;
/// Write calls in flight on one side when the job sets none.
pub const DEFAULT_WRITE_CONCURRENCY: u32 = 4;
/// Most write calls a job may keep in flight on one side.
pub const MAX_WRITE_CONCURRENCY: u32 = 16;

impl Job {
    /// Parses and validates a job from JSON text.
    pub fn parse(json: &str) -> Result<Job, JobError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            let text = e.to_string();
            let reason = match text.rfind(" at line ") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            JobError::Syntax {
                line: e.line(),
                column: e.column(),
                reason,
            }
        })?;
        Job::from_value(value)
    }

    /// Validates a job already parsed as JSON (the HTTP API's body).
    pub fn from_value(value: serde_json::Value) -> Result<Job, JobError> {
        let mut errors = Vec::new();
        let job = raw::read_object::<RawJob>("", &value, "a JSON object", &mut errors)
            .and_then(|raw| validate::validate(raw, &mut errors));
        match (JobError::from_list(errors), job) {
            (None, Some(job)) => Ok(job),
            (Some(e), _) => Err(e),
            (None, None) => unreachable!("a job refused without a reason"),
        }
    }

    /// Reads, parses and validates a job file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Job, JobError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| JobError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Job::parse(&text)
    }

    /// Checks that the job can run: each side names its platform, connector
    /// and entity. The error says what to add, with an example.
    pub fn ensure_runnable(&self) -> Result<(), JobError> {
        let mut errors = Vec::new();
        validate::runnable("source", &self.source, &mut errors);
        validate::runnable("target", &self.target, &mut errors);
        match JobError::from_list(errors) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

/// The JSON Schema of the job format (of [`RawJob`]: every accepted field),
/// with the spec's two shapes as examples. `docs/job.schema.json` is this.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(RawJob).to_value();
    let examples = raw::SPEC_EXAMPLES
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(e).expect("spec examples are JSON"))
        .collect::<Vec<_>>();
    let map = schema.as_object_mut().expect("a schema object");
    map.insert("title".into(), "synchost job".into());
    map.insert("examples".into(), examples.into());
    schema
}
