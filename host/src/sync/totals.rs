//! What a run's batches add up to. Counts are exact; the lists a report
//! carries are capped, so that a run's memory does not grow with the number
//! of conflicts or skipped records in a very large table.

use std::collections::BTreeMap;

use crate::core::merge::{FieldConflict, Side};

use super::plan::{Changes, PairPlan, Plan, Skipped};
use super::push::{PushResult, Pushed, Stale};

/// Entries kept per list in a run's report.
pub const LISTED: usize = 1000;

#[derive(Default)]
pub struct Totals {
    pub conflicts: Vec<FieldConflict>,
    pub conflict_count: u64,
    pub parked: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub skipped_count: u64,
    pub source_changes: Changes,
    pub target_changes: Changes,
    pub pushed: BTreeMap<Side, Pushed>,
    /// pairs refused as stale, to be re-read and re-planned
    pub stale: Vec<Stale>,
    /// pairs a write of which was refused for good, with the reason
    pub refused: Vec<(PairPlan, String)>,
}

fn extend_capped<T: Clone>(list: &mut Vec<T>, more: &[T]) {
    let room = LISTED.saturating_sub(list.len());
    list.extend(more.iter().take(room).cloned());
}

impl Totals {
    /// Adds what a plan found (its writes are added by [`Totals::add_push`]).
    pub fn add_plan(&mut self, plan: &Plan) {
        self.conflict_count += plan.conflicts.len() as u64;
        extend_capped(&mut self.conflicts, &plan.conflicts);
        let parked: Vec<String> = plan.parked.iter().map(|p| p.id.clone()).collect();
        extend_capped(&mut self.parked, &parked);
        self.skipped_count += plan.skipped.len() as u64;
        extend_capped(&mut self.skipped, &plan.skipped);
        for (into, from) in [
            (&mut self.source_changes, &plan.source_changes),
            (&mut self.target_changes, &plan.target_changes),
        ] {
            into.added += from.added;
            into.updated += from.updated;
            into.removed += from.removed;
        }
    }

    pub fn add_push(&mut self, result: PushResult) {
        for (side, more) in result.sides {
            self.pushed.entry(side).or_default().add(more);
        }
        self.stale.extend(result.stale);
        self.refused.extend(result.refused);
    }
}
