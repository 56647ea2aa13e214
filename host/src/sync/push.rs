//! Pushing a plan: every op is stored in the outbox (with the pair as it is
//! planned) before anything is sent; a pair's link, shadow and outbox entries
//! change in one transaction once all of its ops are confirmed.
//!
//! Each op's answer is one of four things:
//! - **confirmed**: the platform says what it holds now (id, version);
//! - **stale**: `conflict`, or an update of a record that is gone: the record
//!   changed since it was read; the caller re-reads and re-plans the pair;
//! - **unknown**: a timeout, a 5xx, a rate limit, a trap, an answer that
//!   proves nothing (a create without an id): the op stays in the outbox, is
//!   never re-sent blindly, and the next run reconciles by reading first;
//! - **refused**: invalid input, unauthorized, fatal: it will not land.

use std::collections::{BTreeMap, VecDeque};

use futures_util::stream::{FuturesUnordered, StreamExt};
use indicatif::ProgressBar;

use crate::core::merge::Side;
use crate::core::value::content_hash;
use crate::runtime::{
    describe_error, ConnectorError, DeleteOp, RuntimeError, Session, UpdateOp, WriteOp,
    WriteOutcome,
};
use crate::state::{
    OutboxEntryRef, OutboxOp, PairCommit, PairStore, PlannedPairRef, ShadowRef, State, StateError,
};

use super::convert::fields_to_wire;
use super::plan::{OpKind, PairPlan, Plan};
use super::side::OpenSide;
use super::writers::{Lane, Writer};

/// Ops sent in one `write` call when the connector does not declare its
/// `max-batch` (contract 0.1.0, or none declared); the connector batches
/// further as its platform allows.
const OPS_PER_CALL: usize = 50;

/// The most ops one call carries whatever a connector declares: a call's
/// outcomes are committed together, and its ops are held until then.
const MOST_OPS_PER_CALL: usize = 1000;

/// Ops per `write` call for a connector: its declared `max-batch`, bounded.
pub fn ops_per_call(declared: Option<u32>) -> usize {
    declared.map_or(OPS_PER_CALL, |n| (n as usize).clamp(1, MOST_OPS_PER_CALL))
}

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
    /// ops the platform refused for good (invalid input, unauthorized, fatal)
    pub failed: u64,
    /// ops whose outcome is unknown or that wait for a later run (transient
    /// errors, rate limits, answers that prove nothing): kept in the outbox
    pub pending: u64,
    /// ops refused as stale (`conflict`): their pairs were re-read and re-planned
    pub stale: u64,
    pub errors: Vec<String>,
}

impl Pushed {
    pub fn written(&self) -> u64 {
        self.created + self.updated + self.deleted
    }

    pub fn add(&mut self, other: Pushed) {
        self.created += other.created;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.failed += other.failed;
        self.pending += other.pending;
        self.stale += other.stale;
        // Counted above; the list a report carries is capped.
        let room = super::totals::LISTED.saturating_sub(self.errors.len());
        self.errors.extend(other.errors.into_iter().take(room));
    }
}

/// A pair one of whose writes was refused as stale: the pair as far as its
/// other writes got, and its outbox entries (kept until it is re-planned).
#[derive(Debug, Clone)]
pub struct Stale {
    pub pair: PairPlan,
    /// the sides whose write was refused as stale
    pub sides: Vec<Side>,
    /// the sides whose write was confirmed
    pub landed: Vec<Side>,
    pub keys: Vec<Vec<u8>>,
}

/// What became of a plan's writes.
#[derive(Debug, Default)]
pub struct PushResult {
    pub sides: BTreeMap<Side, Pushed>,
    pub stale: Vec<Stale>,
    /// pairs a write of which was refused for good, with the reason: their
    /// change has not reached the other side, and is kept as dirty
    pub refused: Vec<(PairPlan, String)>,
}

/// How the platform's answer to one op is taken.
enum Answer {
    Confirmed(crate::runtime::Written),
    Stale(String),
    Unknown(String),
    Refused(String),
}

/// One op's outcome: confirmed, failed (the error and its text), or unknown
/// (the connector says it cannot know whether the op landed).
type Outcome = Result<crate::runtime::Written, (Option<ConnectorError>, String)>;

fn classify(op: &super::plan::PlannedOp, outcome: Outcome) -> Answer {
    let outcome = match outcome {
        Err((None, text)) => return Answer::Unknown(format!("outcome unknown: {text}")),
        Err((Some(e), text)) => Err((e, text)),
        Ok(w) => Ok(w),
    };
    match outcome {
        // A create confirmed without an id proves nothing about what landed.
        Ok(w) if op.kind == OpKind::Create && w.id.trim().is_empty() => {
            Answer::Unknown("the platform confirmed a create without an id".into())
        }
        Ok(w) => Answer::Confirmed(w),
        // A delete of what is already gone has done its job.
        Err((ConnectorError::NotFound(_), _)) if op.kind == OpKind::Delete => {
            Answer::Confirmed(crate::runtime::Written {
                id: op.id.clone().unwrap_or_default(),
                version: None,
                updated_at: None,
            })
        }
        Err((ConnectorError::Conflict(_), text)) => Answer::Stale(text),
        Err((ConnectorError::NotFound(_), text)) if op.kind == OpKind::Update => {
            Answer::Stale(text)
        }
        Err((ConnectorError::Transient(_) | ConnectorError::RateLimited(_), text)) => {
            Answer::Unknown(text)
        }
        Err((_, text)) => Answer::Refused(text),
    }
}

/// A plan's writes as their answers come in: per pair, the ops still out,
/// whether one failed, and the outbox keys of those confirmed.
struct Ledger {
    /// the outbox key of each op, by the op's index in the plan
    keys: Vec<Vec<u8>>,
    open: Vec<usize>,
    failed: Vec<bool>,
    done_keys: Vec<Vec<Vec<u8>>>,
    stale: BTreeMap<usize, Stale>,
    refused: Vec<(usize, String)>,
    /// the confirmed writes of the batch, source's then target's, audited
    /// in one entry per side when the batch ends
    audited: [Vec<serde_json::Value>; 2],
}

pub struct Pusher<'a> {
    pub job: &'a str,
    /// write calls in flight at once on one side (the job's `write_concurrency`)
    pub in_flight: usize,
    /// the last call's commit, on a blocking thread
    pub committing: Option<tokio::task::JoinHandle<Result<(), StateError>>>,
    pub state: &'a State,
    pub now: String,
    pub fault_after: Option<usize>,
    pub confirmed: usize,
}

impl Pusher<'_> {
    /// Pushes `plan` to both sides; `replaces` are outbox entries of an
    /// earlier plan of the same pairs, removed once this one is stored.
    /// Without the source (it is still being read), the plan must write the
    /// target only.
    pub async fn push(
        &mut self,
        plan: &mut Plan,
        mut source: Option<&mut OpenSide>,
        target: &mut OpenSide,
        progress: &ProgressBar,
        replaces: &[Vec<u8>],
    ) -> Result<PushResult, StateError> {
        // Which sides each pair writes, found once: asking the ops for every
        // op would be quadratic in the batch.
        let mut sides_written = vec![(false, false); plan.pairs.len()];
        for op in &plan.ops {
            let w = &mut sides_written[op.pair];
            match op.side {
                Side::Source => w.0 = true,
                Side::Target => w.1 = true,
            }
        }
        let entries: Vec<OutboxEntryRef> = plan
            .ops
            .iter()
            .map(|op| {
                let pair = &plan.pairs[op.pair];
                let writes = |side| match side {
                    Side::Source => sides_written[op.pair].0,
                    Side::Target => sides_written[op.pair].1,
                };
                OutboxEntryRef {
                    side: op.side,
                    op: match op.kind {
                        OpKind::Create => OutboxOp::Create,
                        OpKind::Update => OutboxOp::Update,
                        OpKind::Delete => OutboxOp::Delete,
                    },
                    pair: pair
                        .source_id
                        .as_deref()
                        .or(pair.target_id.as_deref())
                        .unwrap_or_default(),
                    planned_at: &self.now,
                    planned: Some(PlannedPairRef {
                        source_id: pair.source_id.as_deref(),
                        target_id: pair.target_id.as_deref(),
                        source: &pair.shadow_source,
                        target: &pair.shadow_target,
                        writes_source: writes(Side::Source),
                        writes_target: writes(Side::Target),
                    }),
                }
            })
            .collect();
        let keys = self.state.outbox_put(self.job, &entries)?;
        if !replaces.is_empty() {
            self.state.outbox_remove(replaces)?;
        }
        let mut ledger = Ledger {
            open: vec![0; plan.pairs.len()],
            failed: vec![false; plan.pairs.len()],
            done_keys: vec![Vec::new(); plan.pairs.len()],
            stale: BTreeMap::new(),
            refused: Vec::new(),
            audited: [Vec::new(), Vec::new()],
            keys,
        };
        for op in &plan.ops {
            ledger.open[op.pair] += 1;
        }
        let mut result = PushResult::default();
        // Pairs with nothing to write (a new link, a moved shadow) commit now.
        let idle: Vec<usize> = (0..plan.pairs.len())
            .filter(|&i| ledger.open[i] == 0)
            .collect();
        self.commit(plan, &idle, Vec::new()).await?;
        progress.set_length(plan.ops.len() as u64);
        // Both sides are written at once. On a side, each call of a kind
        // writes other pairs, so several may be in flight: one through the
        // side's session, in this task, the others through spare instances,
        // each in a task of its own (on another core). Creates are all
        // answered before an update is sent, and updates before deletes, so
        // that deletes of one run never race creates of another.
        let mut lanes = Vec::new();
        for (side, open_side) in [
            (Side::Source, source.as_deref_mut()),
            (Side::Target, Some(&mut *target)),
        ] {
            let Some(open_side) = open_side else {
                debug_assert!(
                    plan.ops.iter().all(|op| op.side != side),
                    "a plan writes a side that is not open for writes"
                );
                continue;
            };
            let per_call = ops_per_call(open_side.session.connector.descriptor.max_batch);
            let mut queue = VecDeque::new();
            for kind in [OpKind::Create, OpKind::Update, OpKind::Delete] {
                let indices: Vec<usize> = (0..plan.ops.len())
                    .filter(|&i| plan.ops[i].side == side && plan.ops[i].kind == kind)
                    .collect();
                queue.extend(indices.chunks(per_call).map(|c| (kind, c.to_vec())));
            }
            let spares = match queue.len() {
                0 => Vec::new(),
                calls => open_side.spares(self.in_flight.min(calls)).await,
            };
            let mut idle: Vec<Writer> = spares
                .into_iter()
                .map(|s| Writer::Spare(Box::new(s)))
                .collect();
            idle.push(Writer::Own(&mut open_side.session));
            lanes.push(Lane {
                side,
                connector: open_side.connector.name.clone(),
                entity: open_side.entity.clone(),
                queue,
                idle,
                out: 0,
                kind: OpKind::Create,
            });
        }
        let mut calls = FuturesUnordered::new();
        loop {
            for (lane_index, lane) in lanes.iter_mut().enumerate() {
                while let Some(&(kind, _)) = lane.queue.front() {
                    if lane.out > 0 && lane.kind != kind {
                        break;
                    }
                    let Some(writer) = lane.idle.pop() else { break };
                    let (kind, chunk) = lane.queue.pop_front().expect("a front");
                    let ops: Vec<WriteOp> = chunk.iter().map(|&i| wire_op(&plan.ops[i])).collect();
                    lane.kind = kind;
                    lane.out += 1;
                    let call = writer.write(&lane.connector, &lane.entity, ops);
                    calls.push(async move {
                        let (writer, answer) = call.await;
                        (lane_index, chunk, writer, answer)
                    });
                }
            }
            let Some((lane_index, chunk, writer, answer)) = calls.next().await else {
                break;
            };
            let lane = &mut lanes[lane_index];
            lane.out -= 1;
            lane.idle.extend(writer);
            let side = lane.side;
            let outcomes = match answer {
                Ok(outcomes) => outcomes
                    .into_iter()
                    .map(|o| match o {
                        WriteOutcome::Written(w) => Ok(w),
                        WriteOutcome::Failed(e) => {
                            let text = describe_error(&e);
                            Err((Some(e), text))
                        }
                        WriteOutcome::Unknown(why) => Err((None, why)),
                    })
                    .collect::<Vec<Outcome>>(),
                Err(e) => chunk.iter().map(|_| Err(call_error(&e))).collect(),
            };
            let pushed = result.sides.entry(side).or_default();
            let (ready, done) =
                self.settle(plan, &mut ledger, side, &chunk, outcomes, pushed, progress)?;
            self.commit(plan, &ready, done).await?;
        }
        drop(calls);
        let spares: Vec<(Side, Vec<Session>)> = lanes
            .into_iter()
            .map(|lane| {
                let spares = lane.idle.into_iter().filter_map(|w| match w {
                    Writer::Spare(session) => Some(*session),
                    Writer::Own(_) => None,
                });
                (lane.side, spares.collect())
            })
            .collect();
        for (side, spares) in spares {
            match side {
                Side::Source => {
                    if let Some(source) = source.as_deref_mut() {
                        source.give_back(spares);
                    }
                }
                Side::Target => target.give_back(spares),
            }
        }
        for side in [Side::Source, Side::Target] {
            result.sides.entry(side).or_default();
        }
        // The last call's pairs are on disk before the run goes on.
        self.committed().await?;
        let Ledger {
            keys,
            done_keys,
            stale,
            refused,
            audited,
            ..
        } = ledger;
        // One entry per side and batch, not per call: a call writes 10 to
        // 100 records, and an entry per call made a run of 1,000,000 records
        // write 100,000 entries, half the audit log's bound.
        for (side, ops) in [Side::Source, Side::Target].into_iter().zip(audited) {
            if !ops.is_empty() {
                self.state.audit(&crate::state::AuditEntry {
                    at: super::now(),
                    job: self.job.to_string(),
                    kind: "write".into(),
                    detail: serde_json::json!({"side": side, "ops": ops}),
                })?;
            }
        }
        // A stale pair keeps all its outbox entries until it is re-planned;
        // its ids and versions are as far as its other writes got.
        for (index, mut s) in stale {
            let pair = &plan.pairs[index];
            s.pair = pair.clone();
            s.keys = plan
                .ops
                .iter()
                .enumerate()
                .filter(|(_, o)| o.pair == index)
                .map(|(i, _)| keys[i].clone())
                .collect();
            s.landed = plan
                .ops
                .iter()
                .enumerate()
                .filter(|(i, o)| o.pair == index && done_keys[index].contains(&keys[*i]))
                .map(|(_, o)| o.side)
                .collect();
            result.stale.push(s);
        }
        for (index, why) in refused {
            result.refused.push((plan.pairs[index].clone(), why));
        }
        Ok(result)
    }

    /// Takes one call's answers, noting the confirmed ones for the batch's
    /// audit entry; gives the pairs whose every write is now confirmed, and
    /// the outbox keys of their ops.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        plan: &mut Plan,
        ledger: &mut Ledger,
        side: Side,
        chunk: &[usize],
        outcomes: Vec<Outcome>,
        pushed: &mut Pushed,
        progress: &ProgressBar,
    ) -> Result<(Vec<usize>, Vec<Vec<u8>>), StateError> {
        let mut ready = Vec::new();
        let mut done = Vec::new();
        let audited = &mut ledger.audited[usize::from(side == Side::Target)];
        for (&i, outcome) in chunk.iter().zip(outcomes) {
            let op = &plan.ops[i];
            progress.inc(1);
            let id = op.id.clone().unwrap_or_else(|| "(new)".into());
            let note = |text: &str| format!("{} {:?} {id}: {text}", side.as_str(), op.kind);
            match classify(op, outcome) {
                Answer::Confirmed(written) => {
                    self.confirmed += 1;
                    if self.fault_after == Some(self.confirmed) {
                        tracing::error!(
                            "fault injection: exiting after {} confirmed writes",
                            self.confirmed
                        );
                        std::process::exit(99);
                    }
                    audited.push(serde_json::json!({"op": format!("{:?}", op.kind).to_lowercase(), "id": op.id.as_deref().unwrap_or(&written.id)}));
                    let pair = &mut plan.pairs[op.pair];
                    *pair.version_mut(side) = written.version.clone();
                    match op.kind {
                        OpKind::Create => {
                            pushed.created += 1;
                            match side {
                                Side::Source => pair.source_id = Some(written.id),
                                Side::Target => pair.target_id = Some(written.id),
                            }
                        }
                        OpKind::Update => pushed.updated += 1,
                        OpKind::Delete => pushed.deleted += 1,
                    }
                    ledger.done_keys[op.pair].push(ledger.keys[i].clone());
                }
                Answer::Stale(text) => {
                    ledger.failed[op.pair] = true;
                    pushed.stale += 1;
                    tracing::info!(job = %self.job, "{}; the pair is re-read and re-planned", note(&text));
                    let entry = ledger.stale.entry(op.pair).or_insert_with(|| Stale {
                        pair: plan.pairs[op.pair].clone(),
                        sides: Vec::new(),
                        landed: Vec::new(),
                        keys: Vec::new(),
                    });
                    entry.sides.push(side);
                }
                Answer::Unknown(text) => {
                    ledger.failed[op.pair] = true;
                    pushed.pending += 1;
                    pushed.errors.push(note(&text));
                }
                Answer::Refused(text) => {
                    ledger.failed[op.pair] = true;
                    pushed.failed += 1;
                    self.state
                        .outbox_remove(std::slice::from_ref(&ledger.keys[i]))?;
                    pushed.errors.push(note(&text));
                    ledger.refused.push((op.pair, note(&text)));
                }
            }
            ledger.open[op.pair] -= 1;
            if ledger.open[op.pair] == 0 && !ledger.failed[op.pair] {
                ready.push(op.pair);
                done.append(&mut ledger.done_keys[op.pair]);
            }
        }
        Ok((ready, done))
    }

    /// Commits the pairs `ready` (indices into the plan's pairs, whose
    /// writes are all confirmed: they are taken out of the plan) and removes
    /// the outbox entries `done`, in one transaction, on a thread of its own
    /// while the run's next calls are in flight. Commits land in the order
    /// they are made: each waits for the one before.
    async fn commit(
        &mut self,
        plan: &mut Plan,
        ready: &[usize],
        done: Vec<Vec<u8>>,
    ) -> Result<(), StateError> {
        if ready.is_empty() && done.is_empty() {
            return Ok(());
        }
        let pairs: Vec<PairPlan> = ready
            .iter()
            .map(|&i| std::mem::take(&mut plan.pairs[i]))
            .collect();
        self.committed().await?;
        let (store, job, now) = (
            self.state.pair_store(),
            self.job.to_string(),
            self.now.clone(),
        );
        self.committing = Some(tokio::task::spawn_blocking(move || {
            commit_pairs(&store, &job, &now, &pairs, &done)
        }));
        Ok(())
    }

    /// Waits for the commit in progress, if any.
    async fn committed(&mut self) -> Result<(), StateError> {
        match self.committing.take() {
            Some(task) => task.await.map_err(|e| StateError::Commit(e.to_string()))?,
            None => Ok(()),
        }
    }
}

/// One call's confirmed pairs, their links and shadows (or their removal),
/// and the outbox entries `done`, in one transaction.
fn commit_pairs(
    store: &PairStore,
    job: &str,
    now: &str,
    pairs: &[PairPlan],
    done: &[Vec<u8>],
) -> Result<(), StateError> {
    // Each linked pair's hashes; the rest of its shadow is borrowed.
    let hashes: Vec<Option<(String, String)>> = pairs
        .iter()
        .map(|pair| {
            (!pair.forget).then(|| {
                (
                    content_hash(&pair.shadow_source),
                    content_hash(&pair.shadow_target),
                )
            })
        })
        .collect();
    let mut commits = Vec::new();
    for (pair, hashes) in pairs.iter().zip(&hashes) {
        // A delete with nothing left to link commits only its outbox entries.
        let (Some(source_id), Some(target_id)) = (&pair.source_id, &pair.target_id) else {
            continue;
        };
        commits.push(match hashes {
            Some((source_hash, target_hash)) => PairCommit::Link {
                source_id,
                target_id,
                shadow: ShadowRef {
                    target_id,
                    source: &pair.shadow_source,
                    target: &pair.shadow_target,
                    source_hash,
                    target_hash,
                    synced_at: now,
                    source_version: pair.source_version.as_deref(),
                    target_version: pair.target_version.as_deref(),
                },
            },
            None => PairCommit::Forget {
                source_id,
                target_id,
            },
        });
    }
    let settled: Vec<String> = pairs.iter().filter_map(|p| p.settles.clone()).collect();
    if commits.is_empty() && done.is_empty() && settled.is_empty() {
        return Ok(());
    }
    store.commit_pairs(job, &commits, done, &settled)
}

fn wire_op(op: &super::plan::PlannedOp) -> WriteOp {
    match op.kind {
        OpKind::Create => WriteOp::Create(fields_to_wire(&op.fields)),
        OpKind::Update => WriteOp::Update(UpdateOp {
            id: op.id.clone().unwrap_or_default(),
            expected_version: op.expected_version.clone(),
            fields: fields_to_wire(&op.fields),
        }),
        OpKind::Delete => WriteOp::Delete(DeleteOp {
            id: op.id.clone().unwrap_or_default(),
            expected_version: op.expected_version.clone(),
        }),
    }
}

/// A whole write call failed. A typed error of the connector is every op's;
/// anything else (a trap, a limit, a broken answer) leaves each op's outcome
/// unknown: some may have landed.
fn call_error(e: &RuntimeError) -> (Option<ConnectorError>, String) {
    let error = match e.connector_error() {
        Some(err) => err.clone(),
        None => ConnectorError::Transient(format!("outcome unknown: {e}")),
    };
    (Some(error), e.to_string())
}
