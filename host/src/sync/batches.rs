//! The loop that writes a run's plan a batch at a time: each batch is
//! stored, pushed and committed, and the next one is planned while the last
//! one's calls are out where that is safe.

use indicatif::ProgressBar;

use crate::job::Job;
use crate::state::{State, StateError};

use super::plan::sweep::Sweep;
use super::plan::Plan;
use super::push::Pusher;
use super::side::OpenSide;
use super::totals::Totals;

/// Where a run's batches come from: the sweep over what the reads kept, or
/// the source's records as they are read ([`super::stream::Streamed`]).
pub trait Batches {
    /// The plan of the next batch of about `n` records; `None` once every
    /// record is planned.
    async fn plan_next(&mut self, n: usize) -> Result<Option<Plan>, StateError>;
    /// Whether the next batch may be planned while the last is written.
    fn plans_ahead(&self) -> bool;
}

impl Batches for Sweep<'_, '_> {
    async fn plan_next(&mut self, n: usize) -> Result<Option<Plan>, StateError> {
        self.next(n)
    }
    fn plans_ahead(&self) -> bool {
        Sweep::plans_ahead(self)
    }
}

/// Where a run's writes go and what they add up to.
pub struct Writes<'r, 'a> {
    pub job: &'r Job,
    pub state: &'r State,
    pub pusher: &'r mut Pusher<'a>,
    pub progress: &'r ProgressBar,
    pub totals: &'r mut Totals,
    pub batch: usize,
}

impl Writes<'_, '_> {
    /// Plans, writes and commits every batch of `batches`. Without the
    /// source (it is still being read), the plans must write the target only.
    pub async fn all(
        &mut self,
        batches: &mut impl Batches,
        mut source: Option<&mut OpenSide>,
        target: &mut OpenSide,
    ) -> anyhow::Result<()> {
        let mut next = batches.plan_next(self.batch).await?;
        while let Some(mut plan) = next {
            super::recorded::record_plan(self.job, self.state, &plan)?;
            self.totals.add_plan(&plan);
            self.progress.inc_length(plan.ops.len() as u64);
            let push =
                self.pusher
                    .push(&mut plan, source.as_deref_mut(), target, self.progress, &[]);
            // The next batch is planned while this one's calls are out (the
            // push yields once they are sent): planning is most of what this
            // task does, and otherwise every batch's calls waited for it.
            let (result, upcoming) = if batches.plans_ahead() {
                let (result, upcoming) = tokio::join!(push, batches.plan_next(self.batch));
                (result, Some(upcoming))
            } else {
                (push.await, None)
            };
            self.totals.add_push(result?);
            next = match upcoming {
                Some(upcoming) => upcoming?,
                None => batches.plan_next(self.batch).await?,
            };
        }
        Ok(())
    }
}
