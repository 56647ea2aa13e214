//! From what both sides hold to the writes that bring them in step.
//!
//! Each record read is put in canonical form and compared with its pair's
//! shadow; pairs that changed go through the three-way merge; records new on
//! one side are matched to the other side's new records by the job's key (or,
//! when recovering from a crash, by content) before anything is created.

use std::collections::BTreeMap;

use crate::core::mapping::Mapper;
use crate::core::merge::{self, Action, FieldConflict, Flow, Now, Policies, Side};
use crate::core::value::{Fields, Record, Value};
use crate::state::{ParkedConflict, Resolution, Shadow, State, StateError};

mod matching;
mod recovery;
pub mod sweep;
mod unchanged;

use unchanged::canonical_target;
pub use unchanged::unchanged;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Create,
    Update,
    Delete,
}

/// One write to one side.
#[derive(Debug, Clone)]
pub struct PlannedOp {
    pub side: Side,
    pub kind: OpKind,
    /// the record's id on that side (none for a create)
    pub id: Option<String>,
    /// the version the plan was made from: the platform refuses the write
    /// (`conflict`) if the record changed since
    pub expected_version: Option<String>,
    /// field values in that side's own names and types
    pub fields: Fields,
    /// index into `Plan::pairs`
    pub pair: usize,
}

/// A pair as it will be once its writes are confirmed.
#[derive(Debug, Clone, Default)]
pub struct PairPlan {
    pub source_id: Option<String>,
    pub target_id: Option<String>,
    pub shadow_source: Fields,
    pub shadow_target: Fields,
    /// deleted on both sides once the writes land: forget the link
    pub forget: bool,
    /// a parked conflict this plan settles
    pub settles: Option<String>,
    /// each side's version now (a write's answer replaces it), kept in the shadow
    pub source_version: Option<String>,
    pub target_version: Option<String>,
}

impl PairPlan {
    pub fn version_mut(&mut self, side: Side) -> &mut Option<String> {
        match side {
            Side::Source => &mut self.source_version,
            Side::Target => &mut self.target_version,
        }
    }
}

/// A record that could not be synced this run, and why.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub side: Side,
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Changes {
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
}

#[derive(Default)]
pub struct Plan {
    pub pairs: Vec<PairPlan>,
    pub ops: Vec<PlannedOp>,
    pub conflicts: Vec<FieldConflict>,
    /// the pair (source id, target id) of each of `conflicts`, in order
    pub conflict_pairs: Vec<(String, String)>,
    pub parked: Vec<ParkedConflict>,
    pub skipped: Vec<Skipped>,
    pub source_changes: Changes,
    pub target_changes: Changes,
}

impl Plan {
    fn add_conflicts(&mut self, sid: &str, tid: &str, conflicts: &[FieldConflict]) {
        self.conflicts.extend(conflicts.iter().cloned());
        self.conflict_pairs
            .extend(conflicts.iter().map(|_| (sid.to_string(), tid.to_string())));
    }
}

pub struct Planner<'a> {
    pub job: &'a str,
    pub mapper: &'a Mapper,
    pub flow: Flow,
    pub policies: &'a dyn Policies,
    /// the canonical name of the match key field
    pub match_key: Option<String>,
    pub state: &'a State,
    /// after a crash: also match new records by content
    pub recovering: bool,
    pub now: String,
    /// when the host first saw a side's pending change, for changes it saw
    /// in an earlier run that did not reach the other side (dirty pairs);
    /// any other change is first seen now; set once the reads are over
    pub observed: std::sync::OnceLock<BTreeMap<(Side, String), String>>,
    /// a preview (`run --plan`): nothing is stored, not even a conflict's id
    pub preview: bool,
}

/// A record new on one side: its id, canonical fields, version and
/// modification time.
pub(crate) type New = (String, Fields, Option<String>, Option<String>);

/// A side's record as read now, in canonical form.
#[derive(Debug, Clone)]
pub enum Seen {
    /// its fields, the platform's modification time and version
    Fields(Fields, Option<String>, Option<String>),
    /// gone: a tombstone (with its time) or absent from a complete scan
    Deleted(Option<String>),
}

impl Seen {
    fn version(&self) -> Option<String> {
        match self {
            Seen::Fields(_, _, version) => version.clone(),
            Seen::Deleted(_) => None,
        }
    }
}

impl Planner<'_> {
    /// When the host first saw the change of `side`'s record `id`.
    pub fn observed_at(&self, side: Side, id: &str) -> String {
        self.observed
            .get()
            .and_then(|observed| observed.get(&(side, id.to_string())))
            .cloned()
            .unwrap_or_else(|| self.now.clone())
    }

    /// This job's parked conflicts, by source id.
    pub fn parked_conflicts(&self) -> Result<BTreeMap<String, ParkedConflict>, StateError> {
        Ok(self
            .state
            .conflicts()?
            .into_iter()
            .filter(|c| c.job == self.job)
            .map(|c| (c.source_id.clone(), c))
            .collect())
    }

    /// Whether `side`'s `record` holds exactly what its pair's shadow holds
    /// (fields and version): such a record needs no planning.
    pub fn unchanged(&self, side: Side, record: &Record) -> Result<bool, StateError> {
        unchanged(self.state, self.job, self.mapper, side, record)
    }

    /// A source record as the plan sees it.
    pub fn seen_source(&self, record: &Record) -> Seen {
        if record.deleted {
            return Seen::Deleted(record.updated_at.clone());
        }
        Seen::Fields(
            self.mapper.canonical_from_source(&record.fields),
            record.updated_at.clone(),
            record.version.clone(),
        )
    }

    /// A target record as the plan sees it, or why its fields do not map.
    pub fn seen_target(&self, record: &Record) -> Result<Seen, String> {
        if record.deleted {
            return Ok(Seen::Deleted(record.updated_at.clone()));
        }
        let fields = self.canonical_target(record)?;
        Ok(Seen::Fields(
            fields,
            record.updated_at.clone(),
            record.version.clone(),
        ))
    }

    fn canonical_target(&self, record: &Record) -> Result<Fields, String> {
        canonical_target(self.state, self.job, self.mapper, record)
    }

    /// Plans one linked pair from what each side holds now (`None`: not
    /// read this run, so unchanged) against its shadow.
    pub fn plan_pair(
        &self,
        plan: &mut Plan,
        parked: &BTreeMap<String, ParkedConflict>,
        sid: String,
        tid: String,
        s: Option<Seen>,
        t: Option<Seen>,
    ) -> Result<(), StateError> {
        let Some(shadow) = self.state.shadow(self.job, &sid)? else {
            return Ok(());
        };
        // The version each side holds now: the one just read, else the shadow's.
        let versions = (
            s.as_ref()
                .map_or(shadow.source_version.clone(), Seen::version),
            t.as_ref()
                .map_or(shadow.target_version.clone(), Seen::version),
        );
        let now_s = now(s, &shadow.source, self.observed_at(Side::Source, &sid));
        let now_t = now(t, &shadow.target, self.observed_at(Side::Target, &tid));
        if let Some(mut parked) = parked.get(&sid).cloned() {
            // Still waiting for a person: keep the newest values for them to see.
            if parked.resolution.is_none() {
                if let Now::Changed { fields, .. } = &now_s {
                    parked.source = Some(fields.clone());
                }
                if let Now::Changed { fields, .. } = &now_t {
                    parked.target = Some(fields.clone());
                }
                plan.parked.push(parked);
            }
            return Ok(());
        }
        count(&mut plan.source_changes, &now_s);
        count(&mut plan.target_changes, &now_t);
        let outcome = merge::merge(
            &shadow.source,
            &shadow.target,
            &now_s,
            &now_t,
            self.flow,
            self.policies,
        );
        plan.add_conflicts(&sid, &tid, &outcome.conflicts);
        if outcome.parked {
            plan.parked.push(ParkedConflict {
                id: if self.preview {
                    "(new)".into()
                } else {
                    format!("c{}", self.state.next_id()?)
                },
                job: self.job.into(),
                source_id: sid,
                target_id: tid,
                base_source: shadow.source.clone(),
                base_target: shadow.target.clone(),
                source: fields_of(&now_s, &shadow.source),
                target: fields_of(&now_t, &shadow.target),
                fields: outcome.conflicts,
                parked_at: self.now.clone(),
                resolution: None,
            });
            return Ok(());
        }
        let cur_s = fields_of(&now_s, &shadow.source).unwrap_or_default();
        let cur_t = fields_of(&now_t, &shadow.target).unwrap_or_default();
        self.apply(
            plan,
            Some(sid),
            Some(tid),
            cur_s,
            cur_t,
            outcome.source,
            outcome.target,
            outcome.forget,
            None,
            &shadow,
            versions,
        );
        Ok(())
    }

    /// Turns the merge's actions into ops and the shadow they lead to.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        plan: &mut Plan,
        sid: Option<String>,
        tid: Option<String>,
        cur_s: Fields,
        cur_t: Fields,
        on_source: Action,
        on_target: Action,
        forget: bool,
        settles: Option<String>,
        _old: &Shadow,
        (source_version, target_version): (Option<String>, Option<String>),
    ) {
        let index = plan.pairs.len();
        let mut pair = PairPlan {
            source_id: sid.clone(),
            target_id: tid.clone(),
            shadow_source: cur_s,
            shadow_target: cur_t,
            forget,
            settles,
            source_version,
            target_version,
        };
        let mut ops = Vec::new();
        for (side, action) in [(Side::Source, on_source), (Side::Target, on_target)] {
            let id = match side {
                Side::Source => sid.clone(),
                Side::Target => tid.clone(),
            };
            let expected_version = pair.version_mut(side).clone();
            match action {
                Action::None => {}
                Action::Delete => ops.push(PlannedOp {
                    side,
                    kind: OpKind::Delete,
                    id,
                    expected_version,
                    fields: Fields::new(),
                    pair: index,
                }),
                Action::Update(canonical) | Action::Recreate(canonical) if canonical.is_empty() => {
                }
                Action::Update(canonical) => match self.write_fields(side, &canonical, true) {
                    Ok((wire, after)) => {
                        if !wire.is_empty() {
                            ops.push(PlannedOp {
                                side,
                                kind: OpKind::Update,
                                id,
                                expected_version,
                                fields: wire,
                                pair: index,
                            });
                        }
                        overlay(shadow_of(&mut pair, side), after);
                    }
                    Err(reason) => {
                        plan.skipped.push(Skipped {
                            side,
                            id: id.unwrap_or_default(),
                            reason,
                        });
                        return;
                    }
                },
                Action::Recreate(canonical) => match self.write_fields(side, &canonical, false) {
                    Ok((wire, after)) => {
                        ops.push(PlannedOp {
                            side,
                            kind: OpKind::Create,
                            id: None,
                            expected_version: None,
                            fields: wire,
                            pair: index,
                        });
                        *shadow_of(&mut pair, side) = after;
                        *pair.version_mut(side) = None;
                        match side {
                            Side::Source => pair.source_id = None,
                            Side::Target => pair.target_id = None,
                        }
                    }
                    Err(reason) => {
                        plan.skipped.push(Skipped {
                            side,
                            id: id.unwrap_or_default(),
                            reason,
                        });
                        return;
                    }
                },
            }
        }
        if ops.is_empty()
            && !pair.forget
            && pair.settles.is_none()
            && pair.source_id.is_some()
            && pair.target_id.is_some()
        {
            // Nothing to write, but the shadow moves on (both sides changed alike).
            if (&pair.shadow_source, &pair.shadow_target) == (&_old.source, &_old.target) {
                return;
            }
        }
        plan.ops.extend(ops);
        plan.pairs.push(pair);
    }

    /// Canonical values in `side`'s own field names (empty where they do
    /// not convert): what a side holds, for a person to read.
    pub fn wire_fields(&self, side: Side, canonical: &Fields) -> Fields {
        self.write_fields(side, canonical, false)
            .map(|(wire, _)| wire)
            .unwrap_or_default()
    }

    /// Canonical values to a side's own fields, and what the side will hold
    /// afterwards in canonical form (a lossy conversion shows there). An
    /// update writes only the fields it names; a create writes every field.
    fn write_fields(
        &self,
        side: Side,
        canonical: &Fields,
        partial: bool,
    ) -> Result<(Fields, Fields), String> {
        let join = |errs: Vec<crate::core::mapping::ConversionError>| {
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        };
        let named = |source_name: &str| !partial || canonical.contains_key(source_name);
        match side {
            Side::Target => {
                let resolve = |sid: &str| {
                    self.state
                        .linked(self.job, Side::Source, sid)
                        .ok()
                        .flatten()
                };
                let back = |tid: &str| {
                    self.state
                        .linked(self.job, Side::Target, tid)
                        .ok()
                        .flatten()
                };
                let mapped = self.mapper.to_target(canonical, &resolve).map_err(join)?;
                for warning in &mapped.warnings {
                    tracing::warn!(job = %self.job, "{warning}");
                }
                let mut wire = mapped.fields;
                wire.retain(|target_name, _| {
                    self.mapper.source_name(target_name).is_some_and(named)
                });
                let after = self
                    .mapper
                    .canonical_from_target(&wire, &back)
                    .map_err(join)?
                    .fields;
                Ok((wire, after))
            }
            Side::Source => {
                let mut wire = self.mapper.to_source(canonical).map_err(join)?;
                wire.retain(|source_name, _| named(source_name));
                let after = self.mapper.canonical_from_source(&wire);
                Ok((wire, after))
            }
        }
    }

    /// Pairs a person decided since the last run.
    fn settle_resolved(
        &self,
        plan: &mut Plan,
        parked: &BTreeMap<String, ParkedConflict>,
    ) -> Result<(), StateError> {
        for parked in parked.values() {
            let Some(resolution) = &parked.resolution else {
                continue;
            };
            let chosen = match resolution {
                Resolution::Take(Side::Source) => parked.source.clone(),
                Resolution::Take(Side::Target) => parked.target.clone(),
                Resolution::Merge(fields) => Some(fields.clone()),
            };
            let shadow = Shadow {
                target_id: parked.target_id.clone(),
                source: parked.base_source.clone(),
                target: parked.base_target.clone(),
                source_hash: String::new(),
                target_hash: String::new(),
                synced_at: self.now.clone(),
                source_version: None,
                target_version: None,
            };
            let cur_s = parked.source.clone().unwrap_or_default();
            let cur_t = parked.target.clone().unwrap_or_default();
            let (on_source, on_target, forget) = match chosen {
                None => (
                    if parked.source.is_some() {
                        Action::Delete
                    } else {
                        Action::None
                    },
                    if parked.target.is_some() {
                        Action::Delete
                    } else {
                        Action::None
                    },
                    true,
                ),
                Some(fields) => (
                    side_action(&parked.source, &fields),
                    side_action(&parked.target, &fields),
                    false,
                ),
            };
            self.apply(
                plan,
                Some(parked.source_id.clone()),
                Some(parked.target_id.clone()),
                cur_s,
                cur_t,
                on_source,
                on_target,
                forget,
                Some(parked.id.clone()),
                &shadow,
                (None, None),
            );
        }
        Ok(())
    }
}

fn now(seen: Option<Seen>, base: &Fields, observed_at: String) -> Now {
    match seen {
        None => Now::Same,
        Some(Seen::Deleted(at)) => Now::Deleted { at },
        Some(Seen::Fields(f, _, _)) if &f == base => Now::Same,
        Some(Seen::Fields(fields, updated_at, _)) => Now::Changed {
            fields,
            updated_at,
            observed_at: Some(observed_at),
        },
    }
}

fn count(c: &mut Changes, now: &Now) {
    match now {
        Now::Same => {}
        Now::Changed { .. } => c.updated += 1,
        Now::Deleted { .. } => c.removed += 1,
    }
}

fn fields_of(now: &Now, base: &Fields) -> Option<Fields> {
    match now {
        Now::Same => Some(base.clone()),
        Now::Changed { fields, .. } => Some(fields.clone()),
        Now::Deleted { .. } => None,
    }
}

fn shadow_of(pair: &mut PairPlan, side: Side) -> &mut Fields {
    match side {
        Side::Source => &mut pair.shadow_source,
        Side::Target => &mut pair.shadow_target,
    }
}

fn overlay(into: &mut Fields, from: Fields) {
    for (k, v) in from {
        if v == Value::Null {
            into.remove(&k);
        } else {
            into.insert(k, v);
        }
    }
}

/// What a side must do to hold `chosen`: recreate it if it is gone, update what differs.
fn side_action(current: &Option<Fields>, chosen: &Fields) -> Action {
    match current {
        None => Action::Recreate(chosen.clone()),
        Some(cur) => {
            let mut diff: Fields = chosen
                .iter()
                .filter(|(k, v)| cur.get(*k) != Some(v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for k in cur.keys().filter(|k| !chosen.contains_key(*k)) {
                diff.insert(k.clone(), Value::Null);
            }
            if diff.is_empty() {
                Action::None
            } else {
                Action::Update(diff)
            }
        }
    }
}
