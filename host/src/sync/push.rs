//! Pushing a plan: every op is stored in the outbox before anything is sent;
//! a pair's link, shadow and outbox entries change in one transaction once
//! all of its ops are confirmed.

use std::collections::BTreeMap;

use indicatif::ProgressBar;

use crate::core::merge::Side;
use crate::core::value::content_hash;
use crate::runtime::{describe_error, ConnectorError, DeleteOp, RuntimeError, UpdateOp, WriteOp};
use crate::state::{OutboxEntry, OutboxOp, Shadow, State, StateError};

use super::convert::fields_to_wire;
use super::plan::{OpKind, Plan};
use super::side::OpenSide;

/// Ops sent in one `write` call; the connector batches further as its platform allows.
const OPS_PER_CALL: usize = 50;

/// Exits the process after this many confirmed writes, before their state
/// is saved: the crash a test needs (`SYNCHOST_FAULT_EXIT_AFTER_WRITES`).
pub fn fault_limit() -> Option<usize> {
    std::env::var("SYNCHOST_FAULT_EXIT_AFTER_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Pushed {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    /// ops the platform refused for good (invalid input, not found…)
    pub failed: u64,
    /// ops left in the outbox for a later run (transient errors, rate limits)
    pub pending: u64,
    pub errors: Vec<String>,
}

impl Pushed {
    pub fn written(&self) -> u64 {
        self.created + self.updated + self.deleted
    }
}

pub struct Pusher<'a> {
    pub job: &'a str,
    pub state: &'a State,
    pub now: String,
    pub fault_after: Option<usize>,
    pub confirmed: usize,
}

impl Pusher<'_> {
    /// Pushes `plan` to both sides. Returns what landed, per side.
    pub async fn push(
        &mut self,
        plan: &mut Plan,
        source: &mut OpenSide,
        target: &mut OpenSide,
        progress: &ProgressBar,
    ) -> Result<BTreeMap<Side, Pushed>, StateError> {
        let entries: Vec<OutboxEntry> = plan
            .ops
            .iter()
            .map(|op| OutboxEntry {
                side: op.side,
                op: match op.kind {
                    OpKind::Create => OutboxOp::Create,
                    OpKind::Update => OutboxOp::Update,
                    OpKind::Delete => OutboxOp::Delete,
                },
                pair: plan.pairs[op.pair]
                    .source_id
                    .clone()
                    .or_else(|| plan.pairs[op.pair].target_id.clone())
                    .unwrap_or_default(),
                planned_at: self.now.clone(),
            })
            .collect();
        let keys = self.state.outbox_put(self.job, &entries)?;
        let mut open: Vec<usize> = vec![0; plan.pairs.len()];
        let mut failed = vec![false; plan.pairs.len()];
        let mut done_keys: Vec<Vec<Vec<u8>>> = vec![Vec::new(); plan.pairs.len()];
        for op in &plan.ops {
            open[op.pair] += 1;
        }
        let mut pushed: BTreeMap<Side, Pushed> = BTreeMap::new();
        // Pairs with nothing to write (a new link, a moved shadow) commit now.
        for (i, pair) in plan.pairs.iter().enumerate() {
            if open[i] == 0 {
                self.commit(pair, &[])?;
            }
        }
        progress.set_length(plan.ops.len() as u64);
        for (side, open_side) in [(Side::Source, &mut *source), (Side::Target, &mut *target)] {
            let result = pushed.entry(side).or_default();
            // Creates first, so that deletes of one run never race creates of another.
            for kind in [OpKind::Create, OpKind::Update, OpKind::Delete] {
                let indices: Vec<usize> = (0..plan.ops.len())
                    .filter(|&i| plan.ops[i].side == side && plan.ops[i].kind == kind)
                    .collect();
                for chunk in indices.chunks(OPS_PER_CALL) {
                    let ops: Vec<WriteOp> = chunk.iter().map(|&i| wire_op(&plan.ops[i])).collect();
                    let outcomes = match open_side.session.write(&open_side.entity, &ops).await {
                        Ok(outcomes) => outcomes
                            .into_iter()
                            .map(|o| o.map_err(|e| (e.clone(), describe_error(&e))))
                            .collect::<Vec<_>>(),
                        Err(e) => chunk.iter().map(|_| Err(call_error(&e))).collect(),
                    };
                    for (&i, outcome) in chunk.iter().zip(outcomes) {
                        let op = &plan.ops[i];
                        // A delete of what is already gone has done its job.
                        let outcome = match outcome {
                            Err((ConnectorError::NotFound(_), _)) if op.kind == OpKind::Delete => {
                                Ok(crate::runtime::Written {
                                    id: op.id.clone().unwrap_or_default(),
                                    version: None,
                                    updated_at: None,
                                })
                            }
                            other => other,
                        };
                        progress.inc(1);
                        match outcome {
                            Ok(written) => {
                                self.confirmed += 1;
                                if self.fault_after == Some(self.confirmed) {
                                    tracing::error!(
                                        "fault injection: exiting after {} confirmed writes",
                                        self.confirmed
                                    );
                                    std::process::exit(99);
                                }
                                self.state.audit(&crate::state::AuditEntry {
                                    at: super::now(),
                                    job: self.job.to_string(),
                                    kind: "write".into(),
                                    detail: serde_json::json!({"side": side, "op": format!("{:?}", op.kind).to_lowercase(), "id": op.id.as_deref().unwrap_or(&written.id)}),
                                })?;
                                self.state.audit(&crate::state::AuditEntry {
                                    at: super::now(),
                                    job: self.job.to_string(),
                                    kind: "write".into(),
                                    detail: serde_json::json!({"side": side, "op": format!("{:?}", op.kind).to_lowercase(), "id": op.id.as_deref().unwrap_or(&written.id)}),
                                })?;
                                let pair = &mut plan.pairs[op.pair];
                                match op.kind {
                                    OpKind::Create => {
                                        result.created += 1;
                                        match side {
                                            Side::Source => pair.source_id = Some(written.id),
                                            Side::Target => pair.target_id = Some(written.id),
                                        }
                                    }
                                    OpKind::Update => result.updated += 1,
                                    OpKind::Delete => result.deleted += 1,
                                }
                                done_keys[op.pair].push(keys[i].clone());
                            }
                            Err((error, text)) => {
                                failed[op.pair] = true;
                                let retry = matches!(
                                    error,
                                    ConnectorError::Transient(_) | ConnectorError::RateLimited(_)
                                );
                                if retry {
                                    result.pending += 1;
                                } else {
                                    result.failed += 1;
                                    self.state.outbox_remove(std::slice::from_ref(&keys[i]))?;
                                }
                                let id = op.id.clone().unwrap_or_else(|| "(new)".into());
                                result.errors.push(format!(
                                    "{} {:?} {id}: {text}",
                                    side.as_str(),
                                    op.kind
                                ));
                            }
                        }
                        open[op.pair] -= 1;
                        if open[op.pair] == 0 && !failed[op.pair] {
                            self.commit(&plan.pairs[op.pair], &done_keys[op.pair])?;
                        }
                    }
                }
            }
        }
        Ok(pushed)
    }

    fn commit(&self, pair: &super::plan::PairPlan, done: &[Vec<u8>]) -> Result<(), StateError> {
        if let Some(id) = &pair.settles {
            self.state.remove_conflict(id)?;
        }
        match (&pair.source_id, &pair.target_id) {
            (Some(sid), Some(tid)) if pair.forget => {
                self.state.forget_pair(self.job, sid, tid, done)
            }
            (Some(sid), Some(tid)) => {
                let shadow = Shadow {
                    target_id: tid.clone(),
                    source_hash: content_hash(&pair.shadow_source),
                    target_hash: content_hash(&pair.shadow_target),
                    source: pair.shadow_source.clone(),
                    target: pair.shadow_target.clone(),
                    synced_at: self.now.clone(),
                };
                self.state.commit_pair(self.job, sid, tid, &shadow, done)
            }
            // A delete with nothing left to link.
            _ => self.state.outbox_remove(done),
        }
    }
}

fn wire_op(op: &super::plan::PlannedOp) -> WriteOp {
    match op.kind {
        OpKind::Create => WriteOp::Create(fields_to_wire(&op.fields)),
        OpKind::Update => WriteOp::Update(UpdateOp {
            id: op.id.clone().unwrap_or_default(),
            expected_version: None,
            fields: fields_to_wire(&op.fields),
        }),
        OpKind::Delete => WriteOp::Delete(DeleteOp {
            id: op.id.clone().unwrap_or_default(),
            expected_version: None,
        }),
    }
}

/// A whole write call failed: every op in it shares the error.
fn call_error(e: &RuntimeError) -> (ConnectorError, String) {
    let error = match e.connector_error() {
        Some(err) => err.clone(),
        None => ConnectorError::Fatal(e.to_string()),
    };
    (error, e.to_string())
}
