//! The report of a run: our spec's JSON, plus details on request.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::core::merge::{FieldConflict, Policy, Side};

use super::plan::{Changes, Skipped};
use super::push::Pushed;

/// `status`: `success` (everything in step), `partial` (some records
/// skipped or some writes refused for good), `queued` (some writes wait in
/// the outbox for a platform to come back), `failed` (the run stopped).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub status: Status,
    pub synced_items: u64,
    pub conflicts_detected: u64,
    pub conflict_resolution: String,
    pub last_sync: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Success,
    Partial,
    Failed,
    Queued,
}

#[derive(Debug, Clone, Serialize)]
pub struct SideDetails {
    pub platform: String,
    /// the connector that ran: name and version
    pub connector: String,
    /// and the SHA-256 of its wasm
    pub connector_sha256: String,
    pub entity: String,
    /// `full` or `incremental`
    pub read: String,
    pub pages: u64,
    pub records_read: u64,
    /// changes found on this side since the last run
    pub changes: Changes,
    /// writes made to this side
    pub written: Pushed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Details {
    pub job: String,
    pub started_at: String,
    pub seconds: f64,
    pub source: SideDetails,
    pub target: SideDetails,
    pub conflicts: Vec<FieldConflict>,
    pub parked: Vec<String>,
    pub skipped: Vec<Skipped>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What was done about conflicts, by name:
/// `none`; `auto_override_from_remote` (the source, the remote platform, won:
/// `source_wins`); `auto_override_from_local` (the target won: `target_wins`);
/// `auto_newest_wins` (the later modification won); `manual_review` (parked
/// for a person); `mixed` (several of these in one run).
pub fn resolution_name(conflicts: &[FieldConflict]) -> String {
    let mut names: Vec<&str> = conflicts
        .iter()
        .map(|c| match c.policy {
            Policy::SourceWins => "auto_override_from_remote",
            Policy::TargetWins => "auto_override_from_local",
            Policy::NewestWins => "auto_newest_wins",
            Policy::Manual => "manual_review",
        })
        .collect();
    names.sort();
    names.dedup();
    match names.as_slice() {
        [] => "none".into(),
        [one] => one.to_string(),
        _ => "mixed".into(),
    }
}

/// `success` only when both sides are in step: a record skipped, a write
/// refused, or a conflict waiting for a person (parked by this run or an
/// earlier one) leaves the run `partial`.
pub fn status(pushed: &BTreeMap<Side, Pushed>, skipped: usize, waiting: usize) -> Status {
    if pushed.values().any(|p| p.pending > 0) {
        Status::Queued
    } else if skipped > 0 || waiting > 0 || pushed.values().any(|p| p.failed > 0) {
        Status::Partial
    } else {
        Status::Success
    }
}
