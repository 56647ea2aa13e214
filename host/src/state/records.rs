//! What the state trees hold.

use serde::{Deserialize, Serialize};

use crate::core::merge::{FieldConflict, Side};
use crate::core::value::Fields;

/// A pair as last synced: each side's canonical fields, the base of the next merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shadow {
    pub target_id: String,
    pub source: Fields,
    pub target: Fields,
    pub source_hash: String,
    pub target_hash: String,
    pub synced_at: String,
    /// each side's version when last synced (the platform's, for optimistic
    /// concurrency: a write carries it, and a platform holding a newer one
    /// answers `conflict`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
}

impl Shadow {
    pub fn as_ref(&self) -> ShadowRef<'_> {
        ShadowRef {
            target_id: &self.target_id,
            source: &self.source,
            target: &self.target,
            source_hash: &self.source_hash,
            target_hash: &self.target_hash,
            synced_at: &self.synced_at,
            source_version: self.source_version.as_deref(),
            target_version: self.target_version.as_deref(),
        }
    }
}

/// A [`Shadow`] to be stored, borrowing its parts: a sync commits one per
/// pair, from fields its plan holds already.
#[derive(Debug, Clone, Copy)]
pub struct ShadowRef<'a> {
    pub target_id: &'a str,
    pub source: &'a Fields,
    pub target: &'a Fields,
    pub source_hash: &'a str,
    pub target_hash: &'a str,
    pub synced_at: &'a str,
    pub source_version: Option<&'a str>,
    pub target_version: Option<&'a str>,
}

/// Where a side's next incremental read starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// the connector's checkpoint, passed back as `since`
    pub since: Option<String>,
    /// when the last complete full scan finished (deletes are inferred from those)
    pub full_scan_at: Option<String>,
    pub runs_since_full_scan: u32,
}

/// A planned write, stored before it is pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub side: Side,
    pub op: OutboxOp,
    /// the pair's source id (for a create on the source: the target id it mirrors)
    pub pair: String,
    pub planned_at: String,
    /// the pair as it will be once every write of it lands: what recovery
    /// compares the platforms with to tell a write that landed from one that
    /// did not (and a record deleted since from one never written)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<PlannedPair>,
}

impl OutboxEntry {
    pub fn as_ref(&self) -> OutboxEntryRef<'_> {
        OutboxEntryRef {
            side: self.side,
            op: self.op.clone(),
            pair: &self.pair,
            planned_at: &self.planned_at,
            planned: self.planned.as_ref().map(|p| PlannedPairRef {
                source_id: p.source_id.as_deref(),
                target_id: p.target_id.as_deref(),
                source: &p.source,
                target: &p.target,
                writes_source: p.writes_source,
                writes_target: p.writes_target,
            }),
        }
    }
}

/// An [`OutboxEntry`] as a sync writes it: the same entry, serialized the
/// same way, borrowing the pair's ids and fields instead of copying them
/// (a sync stores one per planned write).
#[derive(Debug, Serialize)]
pub struct OutboxEntryRef<'a> {
    pub side: Side,
    pub op: OutboxOp,
    pub pair: &'a str,
    pub planned_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned: Option<PlannedPairRef<'a>>,
}

/// A [`PlannedPair`], borrowed (see [`OutboxEntryRef`]).
#[derive(Debug, Serialize)]
pub struct PlannedPairRef<'a> {
    pub source_id: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub source: &'a Fields,
    pub target: &'a Fields,
    pub writes_source: bool,
    pub writes_target: bool,
}

/// A pair as planned: ids (none for a record being created) and each side's
/// canonical content once the writes land.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedPair {
    pub source_id: Option<String>,
    pub target_id: Option<String>,
    pub source: Fields,
    pub target: Fields,
    /// which sides the plan writes
    pub writes_source: bool,
    pub writes_target: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxOp {
    Create,
    Update,
    Delete,
}

/// A pair a person must decide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedConflict {
    pub id: String,
    pub job: String,
    pub source_id: String,
    pub target_id: String,
    /// the shadow's copies: what both sides agreed on last
    pub base_source: Fields,
    pub base_target: Fields,
    /// what each side holds now (`None`: deleted there)
    pub source: Option<Fields>,
    pub target: Option<Fields>,
    pub fields: Vec<FieldConflict>,
    pub parked_at: String,
    pub resolution: Option<Resolution>,
}

/// What a person decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Take(Side),
    /// these canonical fields, on both sides
    Merge(Fields),
}

/// One run, as `synchost runs` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    #[serde(default)]
    pub id: u64,
    pub job: String,
    pub started_at: String,
    pub report: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub job: String,
    pub kind: String,
    pub detail: serde_json::Value,
}

/// A job the daemon keeps: the JSON as given, and its schedule's bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredJob {
    pub sync_id: String,
    pub spec: serde_json::Value,
    pub created_at: String,
    /// when the schedule next fires (RFC 3339); none for manual jobs
    pub next_run_at: Option<String>,
    /// a retry after a queued or failed run, with backoff
    pub retry_at: Option<String>,
    pub retries: u32,
    pub last_status: Option<String>,
    /// the project whose token created the job; `None` for the admin's
    /// (and job files'). Such a job binds only its project's secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// how many times a run was asked for (schedule, retry, trigger,
    /// webhook), and how many of those asks a finished run answered: a job
    /// with `queued > done` owes a run, which a restarted daemon makes once
    #[serde(default)]
    pub queued: u64,
    #[serde(default)]
    pub done: u64,
}

impl StoredJob {
    /// A run was asked for and has not finished yet (queued, or running).
    pub fn owes_a_run(&self) -> bool {
        self.queued > self.done
    }
}

/// A pair whose change has not reached the other side because a write of it
/// was refused: the records as read when it was planned, and when the host
/// first saw each side's change. The next run plans the pair from these
/// (or fresher) values whatever its checkpoints say, until a write of it
/// lands; so a checkpoint never moves past a change that was not delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dirty {
    pub source_id: Option<String>,
    pub target_id: Option<String>,
    pub source: Option<crate::core::value::Record>,
    pub target: Option<crate::core::value::Record>,
    pub source_observed: Option<String>,
    pub target_observed: Option<String>,
    /// why the write was refused
    pub reason: String,
    pub since: String,
}
