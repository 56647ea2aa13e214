//! Changes a platform refused (invalid input, unauthorized, fatal) must not
//! vanish behind a checkpoint that moved on: the pair is kept as *dirty* in
//! state, with the records as read when it was planned and when the host
//! first saw each side's change. The next run puts those records back into
//! its reads (where the read has nothing fresher, and a complete read does
//! not show the record gone), so the pair is planned again from both sides'
//! current values and the job's policy, until a write of it lands and its
//! commit clears it.

use std::collections::BTreeMap;

use crate::core::merge::Side;
use crate::state::{Dirty, State, StateError};

use super::plan::{PairPlan, Planner};
use super::side::ReadOutcome;

/// Puts `job`'s dirty records back into the reads; returns when the host
/// first saw each of their changes.
pub fn restore(
    state: &State,
    job: &str,
    source: &mut ReadOutcome,
    target: &mut ReadOutcome,
) -> Result<BTreeMap<(Side, String), String>, StateError> {
    let mut observed = BTreeMap::new();
    for entry in state.dirty(job)? {
        for (side, kept, seen, read) in [
            (
                Side::Source,
                &entry.source,
                &entry.source_observed,
                &mut *source,
            ),
            (
                Side::Target,
                &entry.target,
                &entry.target_observed,
                &mut *target,
            ),
        ] {
            let Some(kept) = kept else { continue };
            match read.records.get(&kept.id)? {
                // Read again, unchanged since: still the change first seen then.
                Some(now) if now.fields == kept.fields => {
                    if let Some(at) = seen {
                        observed.insert((side, kept.id.clone()), at.clone());
                    }
                }
                // Changed again since (or back to what the shadow holds): a
                // new change, first seen now.
                Some(_) => {}
                _ if read.records.contains(&kept.id) => {}
                // Gone, as a complete read shows: nothing to put back.
                None if read.complete => {}
                None => {
                    read.records.put(kept)?;
                    if let Some(at) = seen {
                        observed.insert((side, kept.id.clone()), at.clone());
                    }
                }
            }
        }
    }
    Ok(observed)
}

/// Keeps each refused pair's change as dirty.
pub fn keep(
    state: &State,
    planner: &Planner<'_>,
    refused: &[(PairPlan, String)],
    source: &ReadOutcome,
    target: &ReadOutcome,
) -> Result<(), StateError> {
    for (pair, reason) in refused {
        let record = |read: &ReadOutcome, id: &Option<String>| -> Result<_, StateError> {
            Ok(match id {
                Some(id) => read.records.get(id)?,
                None => None,
            })
        };
        let observed =
            |side, id: &Option<String>| id.as_ref().map(|id| planner.observed_at(side, id));
        let entry = Dirty {
            source_id: pair.source_id.clone(),
            target_id: pair.target_id.clone(),
            source: record(source, &pair.source_id)?,
            target: record(target, &pair.target_id)?,
            source_observed: observed(Side::Source, &pair.source_id),
            target_observed: observed(Side::Target, &pair.target_id),
            reason: reason.clone(),
            since: planner.now.clone(),
        };
        tracing::warn!(job = %planner.job, "a write was refused; the pair's change is kept and planned again next run: {reason}");
        state.put_dirty(planner.job, &entry)?;
    }
    Ok(())
}
