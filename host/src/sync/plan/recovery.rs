//! After a run that did not finish its writes (killed, or answered with
//! outcomes it could not know), the next run reads both sides in full and,
//! before planning, settles what landed: a planned pair all of whose writes
//! are seen on the platforms, exactly as planned, is committed as planned.
//!
//! That is what keeps a person's later change from being undone: a record
//! created (or edited) by the dead run and then deleted on the other side by
//! a person is, once its pair is settled, a delete to propagate, not a create
//! to redo. A write that did not land, or was changed since, settles nothing:
//! the pair is planned from its old shadow, and new records are matched by
//! key and content as before.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::core::merge::Side;
use crate::core::value::{content_hash, Fields};
use crate::state::{OutboxEntry, OutboxOp, PlannedPair, Shadow, StateError};

use super::super::side::ReadOutcome;
use super::{Planner, Seen};

impl Planner<'_> {
    pub fn settle_landed(
        &self,
        leftover: &[(Vec<u8>, OutboxEntry)],
        source: &ReadOutcome,
        target: &ReadOutcome,
    ) -> Result<(), StateError> {
        let mut created = [
            self.unlinked_by_content(Side::Source, leftover, source)?,
            self.unlinked_by_content(Side::Target, leftover, target)?,
        ];
        let mut seen_plans = BTreeSet::new();
        for (_, entry) in leftover {
            let Some(planned) = &entry.planned else {
                continue;
            };
            // A delete is settled by what the platforms hold; nothing to add.
            let deletes = leftover
                .iter()
                .any(|(_, e)| e.op == OutboxOp::Delete && e.planned.as_ref() == Some(planned));
            if deletes || !seen_plans.insert(serde_json::to_string(planned).unwrap_or_default()) {
                continue;
            }
            let Some(sid) = self.landed_id(Side::Source, planned, source, &mut created[0])? else {
                continue;
            };
            let Some(tid) = self.landed_id(Side::Target, planned, target, &mut created[1])? else {
                continue;
            };
            let version = |read: &ReadOutcome, id: &str| -> Result<Option<String>, StateError> {
                Ok(read.records.get(id)?.and_then(|r| r.version))
            };
            let shadow = Shadow {
                target_id: tid.clone(),
                source_hash: content_hash(&planned.source),
                target_hash: content_hash(&planned.target),
                source: planned.source.clone(),
                target: planned.target.clone(),
                synced_at: self.now.clone(),
                source_version: version(source, &sid)?,
                target_version: version(target, &tid)?,
            };
            tracing::info!(job = %self.job, source = %sid, target = %tid, "a write of the unfinished run landed: its pair is settled as planned");
            self.state.commit_pair(self.job, &sid, &tid, &shadow, &[])?;
        }
        Ok(())
    }

    /// The unlinked records of `side` holding what one of `leftover`'s
    /// creates on that side planned, by content hash, in id order: one pass
    /// over the read, however many creates there are.
    fn unlinked_by_content(
        &self,
        side: Side,
        leftover: &[(Vec<u8>, OutboxEntry)],
        read: &ReadOutcome,
    ) -> Result<BTreeMap<String, VecDeque<String>>, StateError> {
        let wanted: BTreeSet<String> = leftover
            .iter()
            .filter_map(|(_, e)| e.planned.as_ref())
            .filter_map(|p| match side {
                Side::Source if p.source_id.is_none() && p.writes_source => Some(&p.source),
                Side::Target if p.target_id.is_none() && p.writes_target => Some(&p.target),
                _ => None,
            })
            .map(content_hash)
            .collect();
        let mut found: BTreeMap<String, VecDeque<String>> = BTreeMap::new();
        if wanted.is_empty() {
            return Ok(found);
        }
        for record in read.records.each(1000) {
            let record = record?;
            if self.state.linked(self.job, side, &record.id)?.is_some() {
                continue;
            }
            if let Some(fields) = self.canonical(side, &record) {
                let hash = content_hash(&fields);
                if wanted.contains(&hash) {
                    found.entry(hash).or_default().push_back(record.id);
                }
            }
        }
        Ok(found)
    }

    /// The id of `side`'s record in `planned`, if the plan's write to that
    /// side landed as planned (or the plan did not write it); `None` when it
    /// cannot be told. A create's record is taken from `created`.
    fn landed_id(
        &self,
        side: Side,
        planned: &PlannedPair,
        read: &ReadOutcome,
        created: &mut BTreeMap<String, VecDeque<String>>,
    ) -> Result<Option<String>, StateError> {
        let (id, want, writes) = match side {
            Side::Source => (&planned.source_id, &planned.source, planned.writes_source),
            Side::Target => (&planned.target_id, &planned.target, planned.writes_target),
        };
        match id {
            // An existing record: its write landed if it holds what was planned.
            Some(id) => {
                if !writes {
                    return Ok(Some(id.clone()));
                }
                let landed = read
                    .records
                    .get(id)?
                    .and_then(|r| self.canonical(side, &r))
                    .is_some_and(|now| &now == want);
                Ok(landed.then(|| id.clone()))
            }
            // A create: the unlinked record holding exactly what was planned.
            None => Ok(created
                .get_mut(&content_hash(want))
                .and_then(|ids| ids.pop_front())),
        }
    }

    fn canonical(&self, side: Side, record: &crate::core::value::Record) -> Option<Fields> {
        let seen = match side {
            Side::Source => Some(self.seen_source(record)),
            Side::Target => self.seen_target(record).ok(),
        };
        match seen? {
            Seen::Fields(fields, _, _) => Some(fields),
            Seen::Deleted(_) => None,
        }
    }
}
