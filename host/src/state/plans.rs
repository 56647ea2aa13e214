//! Jobs whose first run waits for a person to accept its plan (`first_sync:
//! "plan"`): the plan shown to them, and when it was accepted. Kept in the
//! `meta` tree, by job.

use crate::core::merge::Side;

use super::store::{Batch, StoreExt, Tree};
use super::{key, Result, State};

fn accepted_key(job: &str) -> Vec<u8> {
    key(&["plan_accepted", job])
}

fn waiting_key(job: &str) -> Vec<u8> {
    key(&["plan_waiting", job])
}

impl State {
    /// Whether `job` has never synced: no read of either side was ever
    /// recorded.
    pub fn never_synced(&self, job: &str) -> Result<bool> {
        Ok(self.checkpoint(job, Side::Source)?.is_none()
            && self.checkpoint(job, Side::Target)?.is_none())
    }

    /// When `job`'s first plan was accepted, if it was.
    pub fn plan_accepted(&self, job: &str) -> Result<Option<String>> {
        Ok(self
            .store
            .get(Tree::Meta, &accepted_key(job))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Lets `job`'s first run go ahead; the plan shown is no longer waiting.
    pub fn accept_plan(&self, job: &str, at: &str) -> Result<()> {
        let mut batch = Batch::durable();
        batch.put(Tree::Meta, accepted_key(job), at.as_bytes());
        batch.remove(Tree::Meta, waiting_key(job));
        self.store.apply(batch)
    }

    /// The plan of `job`'s first run, shown to a person until they accept it.
    pub fn put_waiting_plan(&self, job: &str, plan: &serde_json::Value) -> Result<()> {
        self.store.put(
            Tree::Meta,
            waiting_key(job),
            serde_json::to_vec(plan).expect("JSON"),
        )
    }

    pub fn waiting_plan(&self, job: &str) -> Result<Option<serde_json::Value>> {
        self.read(Tree::Meta, &waiting_key(job))
    }
}
