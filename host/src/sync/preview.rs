//! `synchost run --plan`: every write a run would make, and how each
//! conflict would be decided, from the same reads and the same planning as a
//! run, with nothing written to a platform, the outbox, the checkpoints or
//! any other part of the state.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Serialize;

use crate::core::merge::{FieldConflict, Flow, Side};
use crate::core::value::{Fields, Record, Value};
use crate::job::Job;
use crate::runtime::Runtime;
use crate::state::State;

use super::plan::{self, OpKind, Plan, Planner, Skipped};
use super::side::{self, OpenSide, ReadOutcome};
use super::{dirty, staged, JobPolicies, RunOptions, BATCH};

/// What a run of a job would do now.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Preview {
    pub job: String,
    pub mode: String,
    pub source: SidePlan,
    pub target: SidePlan,
    /// every conflict the run would meet, and how its policy decides it
    pub conflicts: Vec<ConflictPlan>,
    /// how many conflicts (`conflicts` may list fewer, see [`Preview::limit`])
    pub conflict_count: usize,
    /// the most items each list holds; the counts are always whole
    pub limit: Option<usize>,
    /// conflicts parked earlier, still waiting for a person (left as they are)
    pub waiting: usize,
    /// records the run could not sync, and why
    pub skipped: Vec<Skipped>,
}

/// What would be read from and written to one side.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SidePlan {
    pub platform: String,
    pub entity: String,
    /// `full` or `incremental`
    pub read: String,
    pub records_read: usize,
    /// how many of each write (the lists may hold fewer, see [`Preview::limit`])
    pub counts: Counts,
    pub creates: Vec<Create>,
    pub updates: Vec<Update>,
    pub deletes: Vec<Delete>,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Counts {
    pub creates: usize,
    pub updates: usize,
    pub deletes: usize,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Create {
    /// the other side's record it would copy
    pub from: Option<String>,
    /// in this side's own field names
    pub fields: Fields,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Update {
    pub id: String,
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FieldChange {
    /// this side's own field name
    pub field: String,
    /// what the side holds now (as read, or as last synced when it was not
    /// read again); `None` where it holds nothing
    pub old: Option<Value>,
    pub new: Value,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Delete {
    pub id: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ConflictPlan {
    pub source_id: String,
    pub target_id: String,
    #[serde(flatten)]
    pub conflict: FieldConflict,
    /// `source wins`, `target wins`, or `parked for a person`
    pub decision: String,
}

/// Whether `job`'s next run must wait for a person to accept its plan: its
/// first run, under `first_sync: "plan"`, not accepted yet.
pub fn waits_for_plan(job: &Job, state: &State) -> Result<bool, crate::state::StateError> {
    Ok(job.first_sync == crate::job::FirstSync::Plan
        && state.plan_accepted(&job.sync_id)?.is_none()
        && state.never_synced(&job.sync_id)?)
}

/// Reads both sides of `job` and plans its run without writing anything.
/// `limit` bounds each list of the preview (the counts stay whole): a first
/// sync of a million records is a million creates.
pub async fn preview(
    job: &Job,
    runtime: &Runtime,
    state: &State,
    options: &RunOptions,
    limit: Option<usize>,
) -> anyhow::Result<Preview> {
    job.ensure_runnable()?;
    let leftover = state.outbox(&job.sync_id)?;
    anyhow::ensure!(
        leftover.is_empty(),
        "job `{}` has {} write(s) left by a run that did not finish: what they did is only \
         known by settling them against both platforms, which a preview does not do; run the \
         job once (`synchost run`) to recover, then preview",
        job.sync_id,
        leftover.len()
    );
    let (mut source, mut target, mapper) = super::open_sides(job, runtime, options).await?;
    let planner = Planner {
        job: &job.sync_id,
        mapper: &mapper,
        flow: Flow {
            to_target: job.mode.writes_target(),
            to_source: job.mode.writes_source(),
        },
        policies: &JobPolicies(&job.conflict),
        match_key: job.match_key.as_ref().map(|k| k.source.clone()),
        state,
        recovering: false,
        now: super::now(),
        observed: Default::default(),
        preview: true,
    };
    let hidden = indicatif::ProgressBar::hidden();
    let planning = &planner;
    let unchanged_source = |r: &Record| planning.unchanged(Side::Source, r);
    let unchanged_target = |r: &Record| planning.unchanged(Side::Target, r);
    let mut reads = Vec::new();
    for open in [&source, &target] {
        let checkpoint = state.checkpoint(&job.sync_id, open.side)?;
        let since = super::read_since(job, open, checkpoint.as_ref(), options.full);
        reads.push((since, staged::Records::new(state.scratch_dir())?));
    }
    let (target_since, target_records) = reads.pop().expect("two sides");
    let (source_since, source_records) = reads.pop().expect("two sides");
    let (source_read, target_read) = tokio::join!(
        side::read(
            &mut source,
            source_since,
            job.page_size,
            &hidden,
            source_records,
            &unchanged_source,
            &|_| {},
        ),
        side::read(
            &mut target,
            target_since,
            job.page_size,
            &hidden,
            target_records,
            &unchanged_target,
            &|_| {},
        )
    );
    let mut source_read = source_read.context("reading the source")?;
    let mut target_read = target_read.context("reading the target")?;
    let observed = dirty::restore(state, &job.sync_id, &mut source_read, &mut target_read)?;
    planner.observed.set(observed).expect("set once");

    let parked = planner.parked_conflicts()?;
    let waiting = parked.values().filter(|p| p.resolution.is_none()).count();
    let mut preview = Preview {
        job: job.sync_id.clone(),
        mode: job.mode.as_str().to_string(),
        source: side_plan(&source, &source_read),
        target: side_plan(&target, &target_read),
        conflicts: Vec::new(),
        conflict_count: 0,
        limit,
        waiting,
        skipped: Vec::new(),
    };
    let mut sweep = plan::sweep::Sweep::new(&planner, &source_read, &target_read, parked)?;
    let reads = Reads {
        planner: &planner,
        source: &source_read,
        target: &target_read,
    };
    while let Some(plan) = sweep.next(options.batch.unwrap_or(BATCH).max(1))? {
        reads.add(&mut preview, plan)?;
    }
    Ok(preview)
}

fn side_plan(open: &OpenSide, read: &ReadOutcome) -> SidePlan {
    SidePlan {
        platform: open.platform.clone(),
        entity: open.entity.clone(),
        read: if read.complete { "full" } else { "incremental" }.into(),
        records_read: read.records.len() as usize,
        counts: Counts::default(),
        creates: Vec::new(),
        updates: Vec::new(),
        deletes: Vec::new(),
    }
}

/// What the reads hold, to show an update's old values.
struct Reads<'r, 'a> {
    planner: &'r Planner<'a>,
    source: &'r ReadOutcome,
    target: &'r ReadOutcome,
}

impl Reads<'_, '_> {
    fn add(&self, preview: &mut Preview, plan: Plan) -> anyhow::Result<()> {
        for op in &plan.ops {
            let pair = &plan.pairs[op.pair];
            let other = match op.side {
                Side::Source => pair.target_id.clone(),
                Side::Target => pair.source_id.clone(),
            };
            let to = match op.side {
                Side::Source => &mut preview.source,
                Side::Target => &mut preview.target,
            };
            let id = op.id.clone().unwrap_or_default();
            let room = |n: usize| preview.limit.is_none_or(|limit| n < limit);
            match op.kind {
                OpKind::Create => {
                    to.counts.creates += 1;
                    if room(to.creates.len()) {
                        to.creates.push(Create {
                            from: other,
                            fields: op.fields.clone(),
                        });
                    }
                }
                OpKind::Delete => {
                    to.counts.deletes += 1;
                    if room(to.deletes.len()) {
                        to.deletes.push(Delete { id });
                    }
                }
                OpKind::Update if !room(to.updates.len()) => to.counts.updates += 1,
                OpKind::Update => {
                    to.counts.updates += 1;
                    let now = self.held(op.side, &id, pair.source_id.as_deref())?;
                    let changes =
                        op.fields
                            .iter()
                            .filter_map(|(field, new)| {
                                let old = now.get(field).cloned();
                                (old.as_ref().map(Value::normalized) != Some(new.normalized()))
                                    .then(|| FieldChange {
                                        field: field.clone(),
                                        old,
                                        new: new.clone(),
                                    })
                            })
                            .collect();
                    to.updates.push(Update { id, changes });
                }
            }
        }
        let parked: BTreeMap<&str, ()> = plan
            .parked
            .iter()
            .map(|p| (p.source_id.as_str(), ()))
            .collect();
        for (conflict, (sid, tid)) in plan.conflicts.into_iter().zip(plan.conflict_pairs) {
            let decision = match conflict.winner {
                Some(side) => format!("{} wins", side.as_str()),
                None if parked.contains_key(sid.as_str()) => "parked for a person".into(),
                None => "left as it is".into(),
            };
            preview.conflict_count += 1;
            if preview
                .limit
                .is_some_and(|limit| preview.conflicts.len() >= limit)
            {
                continue;
            }
            preview.conflicts.push(ConflictPlan {
                source_id: sid,
                target_id: tid,
                conflict,
                decision,
            });
        }
        preview.skipped.extend(plan.skipped);
        Ok(())
    }

    /// What `side`'s record `id` holds now in its own field names: as read,
    /// or, where the read kept nothing new of it, as its pair's shadow says.
    fn held(&self, side: Side, id: &str, source_id: Option<&str>) -> anyhow::Result<Fields> {
        let read = match side {
            Side::Source => self.source,
            Side::Target => self.target,
        };
        if let Some(record) = read.records.get(id)? {
            return Ok(record.fields);
        }
        let shadow = match source_id {
            Some(sid) => self.planner.state.shadow(self.planner.job, sid)?,
            None => None,
        };
        Ok(match shadow {
            Some(shadow) => self.planner.wire_fields(
                side,
                match side {
                    Side::Source => &shadow.source,
                    Side::Target => &shadow.target,
                },
            ),
            None => Fields::new(),
        })
    }
}

/// A value as a person reads it.
pub fn plain(v: &Value) -> String {
    match v {
        Value::Null => "(empty)".into(),
        Value::Text(s) | Value::Select(s) | Value::Date(s) | Value::Datetime(s) => {
            serde_json::to_string(s).unwrap_or_default()
        }
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::MultiSelect(v) | Value::Reference(v) => format!("[{}]", v.join(", ")),
        Value::Json(j) => j.to_string(),
    }
}

impl Preview {
    /// How many writes the run would make.
    pub fn writes(&self) -> usize {
        [&self.source, &self.target]
            .iter()
            .map(|s| s.counts.creates + s.counts.updates + s.counts.deletes)
            .sum()
    }

    /// The plan as a person reads it.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Plan of job `{}` ({}): {} write(s), {} conflict(s); nothing was written.",
            self.job,
            self.mode,
            self.writes(),
            self.conflict_count
        );
        for (name, side) in [("source", &self.source), ("target", &self.target)] {
            let _ = writeln!(
                out,
                "\n{name}: {} {} ({} read, {} record(s) kept): {} create(s), {} update(s), {} delete(s)",
                side.platform,
                side.entity,
                side.read,
                side.records_read,
                side.counts.creates,
                side.counts.updates,
                side.counts.deletes
            );
            for c in &side.creates {
                let fields: Vec<String> = c
                    .fields
                    .iter()
                    .map(|(k, v)| format!("{k} = {}", plain(v)))
                    .collect();
                let from = c.from.as_deref().unwrap_or("?");
                let _ = writeln!(out, "  create (from {from}): {}", fields.join(", "));
            }
            for u in &side.updates {
                let _ = writeln!(out, "  update {}:", u.id);
                for c in &u.changes {
                    let old = c.old.as_ref().map_or("(none)".into(), plain);
                    let _ = writeln!(out, "    {}: {old} -> {}", c.field, plain(&c.new));
                }
            }
            for d in &side.deletes {
                let _ = writeln!(out, "  delete {}", d.id);
            }
            let listed = side.creates.len() + side.updates.len() + side.deletes.len();
            let all = side.counts.creates + side.counts.updates + side.counts.deletes;
            if listed < all {
                let _ = writeln!(
                    out,
                    "  … and {} more (the first {} of each kind listed)",
                    all - listed,
                    self.limit.unwrap_or(0)
                );
            }
        }
        if !self.conflicts.is_empty() {
            let _ = writeln!(out, "\nconflicts:");
        }
        for c in &self.conflicts {
            let show = |v: &Option<Value>| v.as_ref().map_or("(none)".into(), plain);
            let _ = writeln!(
                out,
                "  {} / {} field {}: base {}, source {}, target {}: {} ({}){}",
                c.source_id,
                c.target_id,
                c.conflict.field,
                show(&c.conflict.base),
                show(&c.conflict.source),
                show(&c.conflict.target),
                c.decision,
                c.conflict.policy.as_str(),
                c.conflict
                    .note
                    .as_deref()
                    .map(|n| format!("; {n}"))
                    .unwrap_or_default()
            );
        }
        if self.conflicts.len() < self.conflict_count {
            let _ = writeln!(
                out,
                "  … and {} more",
                self.conflict_count - self.conflicts.len()
            );
        }
        if self.waiting > 0 {
            let _ = writeln!(
                out,
                "\n{} conflict(s) parked earlier still wait for a person (`synchost conflicts list`)",
                self.waiting
            );
        }
        for s in &self.skipped {
            let _ = writeln!(out, "skipped {} {}: {}", s.side.as_str(), s.id, s.reason);
        }
        out
    }
}
