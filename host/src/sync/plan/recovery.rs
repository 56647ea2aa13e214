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

use std::collections::BTreeSet;

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
        let mut seen_plans = BTreeSet::new();
        let mut taken: BTreeSet<(Side, String)> = BTreeSet::new();
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
            let Some(sid) = self.landed_id(Side::Source, planned, source, &mut taken)? else {
                continue;
            };
            let Some(tid) = self.landed_id(Side::Target, planned, target, &mut taken)? else {
                continue;
            };
            let version =
                |read: &ReadOutcome, id: &str| read.records.get(id).and_then(|r| r.version.clone());
            let shadow = Shadow {
                target_id: tid.clone(),
                source_hash: content_hash(&planned.source),
                target_hash: content_hash(&planned.target),
                source: planned.source.clone(),
                target: planned.target.clone(),
                synced_at: self.now.clone(),
                source_version: version(source, &sid),
                target_version: version(target, &tid),
            };
            tracing::info!(job = %self.job, source = %sid, target = %tid, "a write of the unfinished run landed: its pair is settled as planned");
            self.state.commit_pair(self.job, &sid, &tid, &shadow, &[])?;
        }
        Ok(())
    }

    /// The id of `side`'s record in `planned`, if the plan's write to that
    /// side landed as planned (or the plan did not write it); `None` when it
    /// cannot be told.
    fn landed_id(
        &self,
        side: Side,
        planned: &PlannedPair,
        read: &ReadOutcome,
        taken: &mut BTreeSet<(Side, String)>,
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
                    .get(id)
                    .and_then(|r| self.canonical(side, r))
                    .is_some_and(|now| &now == want);
                Ok(landed.then(|| id.clone()))
            }
            // A create: the unlinked record holding exactly what was planned.
            None => {
                for record in read.records.values() {
                    if taken.contains(&(side, record.id.clone()))
                        || self.state.linked(self.job, side, &record.id)?.is_some()
                    {
                        continue;
                    }
                    if self.canonical(side, record).as_ref() == Some(want) {
                        taken.insert((side, record.id.clone()));
                        return Ok(Some(record.id.clone()));
                    }
                }
                Ok(None)
            }
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
