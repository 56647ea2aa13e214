//! The plan of a run, made a batch at a time from what the reads kept on
//! disk, so that planning holds one batch in memory whatever the table size.
//!
//! Four passes, each over sorted keys and resumable from the last one seen:
//! 1. pairs a person decided since the last run;
//! 2. linked pairs a complete scan shows deleted on a side, where neither
//!    side's record needs planning for another reason;
//! 3. every source record kept by the read, with its target partner (read,
//!    unchanged, or gone) or, if new, the new target records that share its
//!    match key (through an index of key hashes to record offsets);
//! 4. every target record kept by the read that pass 3 did not take.
//!
//! A pair is planned once: pass 3 marks the target records it takes.
//!
//! A job that writes only the target may run pass 3 while the source is
//! still being read ([`Sweep::streaming`]): its records are fed in as they
//! are read ([`Sweep::plan_sources`]), then [`Sweep::resume`] goes on
//! with the records read twice and passes 2 and 4, which need the whole read.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::merge::Side;
use crate::core::value::Record;
use crate::state::{ParkedConflict, StateError};

use super::super::side::ReadOutcome;
use super::super::staged::{id_hash, IdSet, Position};
use super::{New, Plan, Planner, Seen, Skipped};

enum Pass {
    Resolved,
    /// source records read again after they were planned, as they were
    /// last read: planned against what their first plan committed
    Again(Vec<Record>),
    Deleted(Option<String>),
    Source(Option<Position>),
    Target(Option<Position>),
    Done,
}

/// The state pass 3 keeps between its batches.
pub struct Carry {
    taken: IdSet,
    by_key: Vec<(u64, Position)>,
}

pub struct Sweep<'p, 'a> {
    planner: &'p Planner<'a>,
    /// `None` while it is still being read
    source: Option<&'p ReadOutcome>,
    target: &'p ReadOutcome,
    parked: BTreeMap<String, ParkedConflict>,
    /// target records pass 3 planned, by id hash
    taken: IdSet,
    /// where each new target record is kept, by the hash of each key it is
    /// matched by, sorted: 16 bytes a key (a map of key to ids took over 100
    /// for the first sync of 1,000,000 records)
    by_key: Vec<(u64, Position)>,
    pass: Pass,
    /// pass 3 was fed as the source was read ([`Sweep::streaming`])
    streamed: bool,
}

impl<'p, 'a> Sweep<'p, 'a> {
    /// `parked`: the job's parked conflicts ([`Planner::parked_conflicts`]).
    pub fn new(
        planner: &'p Planner<'a>,
        source: &'p ReadOutcome,
        target: &'p ReadOutcome,
        parked: BTreeMap<String, ParkedConflict>,
    ) -> Result<Self, StateError> {
        let mut sweep = Self::streaming(planner, target, parked)?;
        sweep.source = Some(source);
        Ok(sweep)
    }

    /// A sweep whose source is still being read: pass 3 takes its records
    /// through [`Sweep::plan_sources`], then [`Sweep::resume`]. Only
    /// for a run with no pair a person decided (pass 1 comes first).
    pub fn streaming(
        planner: &'p Planner<'a>,
        target: &'p ReadOutcome,
        parked: BTreeMap<String, ParkedConflict>,
    ) -> Result<Self, StateError> {
        let mut by_key: Vec<(u64, Position)> = Vec::new();
        if planner.match_key.is_some() || planner.recovering {
            for placed in target.records.each_placed(BATCH_READ) {
                let (at, record) = placed?;
                if planner
                    .state
                    .linked(planner.job, Side::Target, &record.id)?
                    .is_some()
                {
                    continue;
                }
                if let Ok(Seen::Fields(fields, _, _)) = planner.seen_target(&record) {
                    by_key.extend(planner.keys(&fields).iter().map(|k| (key_hash(k), at)));
                }
            }
            by_key.sort_unstable();
            by_key.dedup();
        }
        Ok(Sweep {
            planner,
            source: None,
            target,
            parked,
            taken: IdSet::default(),
            by_key,
            pass: Pass::Resolved,
            streamed: false,
        })
    }

    /// The plan of the next batch of about `n` records; `None` once every
    /// record is planned.
    pub fn next(&mut self, n: usize) -> Result<Option<Plan>, StateError> {
        let mut plan = Plan::default();
        match std::mem::replace(&mut self.pass, Pass::Done) {
            Pass::Resolved => {
                self.planner.settle_resolved(&mut plan, &self.parked)?;
                self.pass = Pass::Deleted(None);
            }
            Pass::Again(mut records) => {
                let rest = records.split_off(n.min(records.len()));
                self.plan_sources(&mut plan, &records)?;
                self.pass = if rest.is_empty() {
                    Pass::Deleted(None)
                } else {
                    Pass::Again(rest)
                };
            }
            Pass::Deleted(after) => {
                self.pass = match self.deleted(&mut plan, after.as_deref(), n)? {
                    Some(last) => Pass::Deleted(Some(last)),
                    // A streaming pass 3 is over.
                    None if self.streamed => Pass::Target(None),
                    None => Pass::Source(None),
                }
            }
            Pass::Source(after) => {
                self.pass = match self.sources(&mut plan, after, n)? {
                    Some(last) => Pass::Source(Some(last)),
                    None => Pass::Target(None),
                }
            }
            Pass::Target(after) => {
                self.pass = match self.targets(&mut plan, after, n)? {
                    Some(last) => Pass::Target(Some(last)),
                    None => Pass::Done,
                }
            }
            Pass::Done => return Ok(None),
        }
        Ok(Some(plan))
    }

    /// Whether the next batch may be planned while the last one is being
    /// written. From pass 3 on it may: each record is planned once, and a
    /// target record planned with a source record is taken (pass 4 skips
    /// it), so no later plan reads a link or shadow that an earlier batch's
    /// commit writes. A pair a person decided (pass 1) may be read again by
    /// pass 3, which must then see the decision's commit.
    pub fn plans_ahead(&self) -> bool {
        matches!(
            self.pass,
            Pass::Source(Some(_)) | Pass::Target(_) | Pass::Done
        )
    }

    /// The source, once read through: passes 2 and 4 need the whole read.
    fn source(&self) -> &'p ReadOutcome {
        self.source
            .expect("passes 2 and 4 come after the source is read through")
    }

    /// What a streaming pass 3 leaves for the rest of the sweep.
    pub fn into_carry(self) -> Carry {
        Carry {
            taken: self.taken,
            by_key: self.by_key,
        }
    }

    /// Goes on after a streaming pass 3 ([`Sweep::into_carry`]): `source`
    /// is the whole read, `again` the records it brought again after their
    /// first copy was planned (each as last read), planned next against
    /// what that plan committed; then passes 2 and 4. Conflicts are loaded
    /// again, so that a pair the first plan parked is seen parked.
    pub fn resume(
        planner: &'p Planner<'a>,
        source: &'p ReadOutcome,
        target: &'p ReadOutcome,
        carry: Carry,
        again: Vec<Record>,
    ) -> Result<Self, StateError> {
        Ok(Sweep {
            planner,
            source: Some(source),
            target,
            parked: planner.parked_conflicts()?,
            taken: carry.taken,
            by_key: carry.by_key,
            pass: Pass::Again(again),
            streamed: true,
        })
    }

    /// Pass 2. Returns the last source id looked at, `None` when done.
    fn deleted(
        &self,
        plan: &mut Plan,
        after: Option<&str>,
        n: usize,
    ) -> Result<Option<String>, StateError> {
        let source = self.source();
        if !source.complete && !self.target.complete {
            return Ok(None);
        }
        let pairs = self.planner.state.pairs_after(self.planner.job, after, n)?;
        for (sid, tid) in &pairs {
            let source_gone = source.complete && !source.records.contains(sid);
            let target_gone = self.target.complete && !self.target.records.contains(tid);
            // A kept record on the other side is planned with this one in
            // pass 3 or 4, which see the deletion too.
            let planned_later = (source_gone && self.target.records.get(tid)?.is_some())
                || (target_gone && source.records.get(sid)?.is_some());
            if (source_gone || target_gone) && !planned_later {
                self.planner.plan_pair(
                    plan,
                    &self.parked,
                    sid.clone(),
                    tid.clone(),
                    source_gone.then_some(Seen::Deleted(None)),
                    target_gone.then_some(Seen::Deleted(None)),
                )?;
            }
        }
        Ok(pairs.last().map(|(sid, _)| sid.clone()))
    }

    /// Pass 3. Returns the last source id planned, `None` when done.
    fn sources(
        &mut self,
        plan: &mut Plan,
        after: Option<Position>,
        n: usize,
    ) -> Result<Option<Position>, StateError> {
        let (batch, next) = self.source().records.batch_after(after, n)?;
        self.plan_sources(plan, &batch)?;
        Ok(next)
    }

    /// Pass 3 for `batch`, source records each planned for the first time
    /// in this sweep (or again, see [`Sweep::resume`]).
    pub fn plan_sources(&mut self, plan: &mut Plan, batch: &[Record]) -> Result<(), StateError> {
        let mut new_source: Vec<New> = Vec::new();
        for record in batch {
            let seen = self.planner.seen_source(record);
            match self
                .planner
                .state
                .linked(self.planner.job, Side::Source, &record.id)?
            {
                Some(tid) => {
                    let t = self.partner(plan, &tid)?;
                    self.taken.insert(id_hash(&tid));
                    self.planner.plan_pair(
                        plan,
                        &self.parked,
                        record.id.clone(),
                        tid,
                        Some(seen),
                        t,
                    )?;
                }
                None => {
                    if let Seen::Fields(fields, at, version) = seen {
                        new_source.push((record.id.clone(), fields, version, at));
                    }
                }
            }
        }
        let candidates = self.candidates(&new_source)?;
        for tid in self.planner.plan_new(plan, new_source, candidates, false) {
            self.taken.insert(id_hash(&tid));
        }
        Ok(())
    }

    /// The target record linked to a source record being planned: as read,
    /// unchanged (`None`), or gone from a complete scan.
    fn partner(&self, plan: &mut Plan, tid: &str) -> Result<Option<Seen>, StateError> {
        if self.taken.contains(&id_hash(tid)) {
            return Ok(None);
        }
        match self.target.records.get(tid)? {
            Some(record) => match self.planner.seen_target(&record) {
                Ok(seen) => Ok(Some(seen)),
                Err(reason) => {
                    plan.skipped.push(Skipped {
                        side: Side::Target,
                        id: tid.to_string(),
                        reason,
                    });
                    Ok(None)
                }
            },
            None if self.target.complete && !self.target.records.contains(tid) => {
                Ok(Some(Seen::Deleted(None)))
            }
            None => Ok(None),
        }
    }

    /// New target records not yet taken that share a match key with one of
    /// `new_source`, in id order.
    fn candidates(&self, new_source: &[New]) -> Result<Vec<New>, StateError> {
        let mut places = BTreeSet::new();
        for (_, fields, _, _) in new_source {
            for k in self.planner.keys(fields) {
                let h = key_hash(&k);
                let from = self.by_key.partition_point(|&(x, _)| x < h);
                places.extend(
                    self.by_key[from..]
                        .iter()
                        .take_while(|&&(x, _)| x == h)
                        .map(|&(_, at)| at),
                );
            }
        }
        let mut records = Vec::new();
        for at in places {
            let record = self.target.records.at(at)?;
            if !self.taken.contains(&id_hash(&record.id)) {
                records.push(record);
            }
        }
        records.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let mut out = Vec::new();
        for record in records {
            if let Ok(Seen::Fields(fields, at, version)) = self.planner.seen_target(&record) {
                out.push((record.id, fields, version, at));
            }
        }
        Ok(out)
    }

    /// Pass 4. Returns the last target id looked at, `None` when done.
    fn targets(
        &self,
        plan: &mut Plan,
        after: Option<Position>,
        n: usize,
    ) -> Result<Option<Position>, StateError> {
        let (batch, next) = self.target.records.batch_after(after, n)?;
        let source = self.source();
        let mut new_target: Vec<New> = Vec::new();
        for record in &batch {
            if self.taken.contains(&id_hash(&record.id)) {
                continue;
            }
            let seen = match self.planner.seen_target(record) {
                Ok(seen) => seen,
                Err(reason) => {
                    plan.skipped.push(Skipped {
                        side: Side::Target,
                        id: record.id.clone(),
                        reason,
                    });
                    continue;
                }
            };
            match self
                .planner
                .state
                .linked(self.planner.job, Side::Target, &record.id)?
            {
                Some(sid) => {
                    let s = if source.complete && !source.records.contains(&sid) {
                        Some(Seen::Deleted(None))
                    } else {
                        None
                    };
                    self.planner.plan_pair(
                        plan,
                        &self.parked,
                        sid,
                        record.id.clone(),
                        s,
                        Some(seen),
                    )?;
                }
                None => {
                    if let Seen::Fields(fields, at, version) = seen {
                        new_target.push((record.id.clone(), fields, version, at));
                    }
                }
            }
        }
        self.planner.plan_new(plan, Vec::new(), new_target, true);
        Ok(next)
    }
}

/// Records decoded at a time when the sweep walks a side.
const BATCH_READ: usize = 1000;

fn key_hash(key: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key.as_bytes())
}
