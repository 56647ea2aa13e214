//! Writing while the source is still being read, for a job that writes the
//! target only: once the target is read, the source's records are planned
//! and written a batch at a time as its pages come in, instead of after its
//! last page. A pull spends about a third of its time reading the source;
//! this way the target's writes go on meanwhile.
//!
//! A read may bring a record twice (a scan restarted when the platform's
//! cursor expired, an edit moving a record between pages). Its first copy
//! is planned as it comes; a later one is kept whole by the read, even one
//! that holds what the shadow held before (the first copy may be written by
//! then), and is not planned beside the first, where both plans could
//! create the record, but after every streamed write is committed, as last
//! read, against what the first plan committed.

use std::collections::HashSet;

use tokio::sync::watch;

use crate::core::merge::Side;
use crate::core::value::Record;
use crate::state::{State, StateError};

use super::batches::Batches;
use super::plan::sweep::Sweep;
use super::plan::Plan;
use super::side::ReadOutcome;
use super::staged::Tail;
use super::totals::Totals;

/// Where the source's kept records end, and whether its read is over
/// (sent by the read, after each page and when it returns).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadSoFar {
    pub end: u64,
    pub over: bool,
}

/// The source's records as the read keeps them, each id once.
pub struct Feed {
    tail: Tail,
    kept: watch::Receiver<ReadSoFar>,
    /// ids whose record was kept again after a first copy
    again: Vec<String>,
}

impl Feed {
    pub fn new(tail: Tail, kept: watch::Receiver<ReadSoFar>) -> Feed {
        Feed {
            tail,
            kept,
            again: Vec::new(),
        }
    }

    /// The next `n` records kept (fewer once the read is over), each id
    /// for the first time; `None` when the read is over and all are taken.
    /// Waits for a batch's worth, so that write calls stay full.
    async fn next(&mut self, n: usize) -> Result<Option<Vec<Record>>, StateError> {
        let mut out = Vec::new();
        loop {
            let ReadSoFar { end, over } = *self.kept.borrow_and_update();
            let want = n - out.len();
            let records = self.tail.take(end, want)?;
            let caught_up = records.len() < want;
            for (record, again) in records {
                if again {
                    self.again.push(record.id);
                } else {
                    out.push(record);
                }
            }
            if out.len() >= n || (caught_up && over) {
                break;
            }
            if caught_up && self.kept.changed().await.is_err() {
                // The read is gone without saying it was over: its error
                // ends the run.
                break;
            }
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// The records read again after they were planned, as last read, to
    /// plan once every streamed write is committed. One whose first plan
    /// did not settle (its write unknown, refused or stale) is left out:
    /// a second plan could write it twice, and its pair is already
    /// recovered, kept dirty or re-read from the platform by this run.
    pub fn again(
        self,
        state: &State,
        job: &str,
        source: &ReadOutcome,
        totals: &Totals,
    ) -> Result<Vec<Record>, StateError> {
        if self.again.is_empty() {
            return Ok(Vec::new());
        }
        let mut unsettled: HashSet<String> = state
            .outbox(job)?
            .into_iter()
            .map(|(_, entry)| entry.pair)
            .collect();
        unsettled.extend(
            totals
                .refused
                .iter()
                .filter_map(|(pair, _)| pair.source_id.clone()),
        );
        unsettled.extend(totals.stale.iter().filter_map(|s| s.pair.source_id.clone()));
        let mut ids = self.again;
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::new();
        for id in ids {
            if unsettled.contains(&id) {
                tracing::info!(job, side = Side::Source.as_str(), %id, "a record read twice whose first write did not settle is left to its recovery");
                continue;
            }
            // The read keeps every copy after the first whole, so the last
            // one read is kept.
            if let Some(record) = source.records.get(&id)? {
                out.push(record);
            }
        }
        Ok(out)
    }
}

/// Pass 3 of a sweep fed by a source still being read.
pub struct Streamed<'s, 'p, 'a> {
    pub sweep: &'s mut Sweep<'p, 'a>,
    pub feed: &'s mut Feed,
}

impl Batches for Streamed<'_, '_, '_> {
    async fn plan_next(&mut self, n: usize) -> Result<Option<Plan>, StateError> {
        let Some(records) = self.feed.next(n).await? else {
            return Ok(None);
        };
        let mut plan = Plan::default();
        self.sweep.plan_sources(&mut plan, &records)?;
        Ok(Some(plan))
    }

    /// Each record is planned once here, and a target record planned with
    /// one is taken: no plan reads what an earlier batch's commit writes.
    fn plans_ahead(&self) -> bool {
        true
    }
}
