//! Runs: kept by id (a counter, so ids read 1, 2, 3… and do not jump at a
//! restart), indexed by job, pruned by age and by count per job. A run is
//! found by its id without reading the others, and a job's runs without
//! reading other jobs'.

use std::ops::Bound;

use super::store::{Batch, StoreExt, Tree};
use super::{decode, encode, key, prefix, Result, RunRecord, State};

const RUN_ID: &[u8] = b"run_id";

fn run_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn by_job_key(job: &str, id: u64) -> Vec<u8> {
    let mut k = key(&[job]);
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn id_of(by_job_key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = by_job_key
        .get(by_job_key.len().checked_sub(8)?..)?
        .try_into()
        .ok()?;
    Some(u64::from_be_bytes(tail))
}

impl State {
    /// The next run id: one more than the last.
    pub fn next_run_id(&self) -> Result<u64> {
        let next = self.store.update(Tree::Meta, RUN_ID, &mut |old| {
            let last = old
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_be_bytes);
            Some((last + 1).to_be_bytes().to_vec())
        })?;
        Ok(next
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(1, u64::from_be_bytes))
    }

    pub fn put_run(&self, run: &RunRecord) -> Result<()> {
        let mut batch = Batch::new();
        batch.put(Tree::Runs, run_key(run.id), encode(run));
        batch.put(Tree::RunsByJob, by_job_key(&run.job, run.id), Vec::new());
        self.store.apply(batch)
    }

    /// Runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        self.runs_page(None, None, limit)
    }

    /// At most `limit` runs, newest first: of `job` if given, with ids
    /// below `before` if given (the cursor of the page before).
    pub fn runs_page(
        &self,
        job: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RunRecord>> {
        let before = before.unwrap_or(u64::MAX);
        match job {
            None => self
                .store
                .scan(
                    Tree::Runs,
                    (Bound::Unbounded, Bound::Excluded(run_key(before).to_vec())),
                    true,
                )
                .take(limit)
                .map(|item| {
                    let (k, v) = item?;
                    decode(&k, &v)
                })
                .collect(),
            Some(job) => {
                let p = prefix(&[job]);
                let mut out = Vec::new();
                let range = (
                    Bound::Included(p.clone()),
                    Bound::Excluded(by_job_key(job, before)),
                );
                for item in self.store.scan(Tree::RunsByJob, range, true) {
                    let (k, _) = item?;
                    if !k.starts_with(&p) || out.len() >= limit {
                        break;
                    }
                    if let Some(run) = id_of(&k).map(|id| self.run(id)).transpose()?.flatten() {
                        out.push(run);
                    }
                }
                Ok(out)
            }
        }
    }

    /// A run by its id.
    pub fn run(&self, id: u64) -> Result<Option<RunRecord>> {
        self.read(Tree::Runs, &run_key(id))
    }

    /// Removes runs started before `before` (RFC 3339), and each job's
    /// oldest beyond `keep_per_job`; returns how many went.
    pub fn prune_runs(&self, before: &str, keep_per_job: usize) -> Result<usize> {
        let mut doomed = Vec::new();
        for item in self.store.scan_all(Tree::Runs) {
            let (k, v) = item?;
            let run: RunRecord = decode(&k, &v)?;
            if run.started_at.as_str() >= before {
                break;
            }
            doomed.push((run.job, run.id));
        }
        // Per job, newest first: past the first `keep_per_job`, everything goes.
        let mut job: Option<Vec<u8>> = None;
        let mut kept = 0;
        let all = (Bound::Unbounded, Bound::Unbounded);
        for item in self.store.scan(Tree::RunsByJob, all, true) {
            let (k, _) = item?;
            let Some(id) = id_of(&k) else { continue };
            let this = k[..k.len() - 9].to_vec();
            if job.as_ref() != Some(&this) {
                job = Some(this.clone());
                kept = 0;
            }
            kept += 1;
            if kept > keep_per_job {
                let name = String::from_utf8_lossy(&this).into_owned();
                doomed.push((name, id));
            }
        }
        doomed.sort();
        doomed.dedup();
        for chunk in doomed.chunks(500) {
            let mut batch = Batch::new();
            for (job, id) in chunk {
                batch.remove(Tree::Runs, run_key(*id));
                batch.remove(Tree::RunsByJob, by_job_key(job, *id));
            }
            self.store.apply(batch)?;
        }
        Ok(doomed.len())
    }

    /// Removes `job`'s oldest runs beyond `keep` (after each of its runs:
    /// reads that job's index only).
    pub fn prune_job_runs(&self, job: &str, keep: usize) -> Result<usize> {
        let p = prefix(&[job]);
        let doomed: Vec<u64> = self
            .store
            .scan(Tree::RunsByJob, super::store::prefix_range(&p), true)
            .skip(keep)
            .filter_map(|item| item.ok().and_then(|(k, _)| id_of(&k)))
            .collect();
        let mut batch = Batch::new();
        for id in &doomed {
            batch.remove(Tree::Runs, run_key(*id));
            batch.remove(Tree::RunsByJob, by_job_key(job, *id));
        }
        self.store.apply(batch)?;
        Ok(doomed.len())
    }

    /// Runs kept before the index (keyed `started_at \0 job`) move to their
    /// ids and into the index, once.
    pub(super) fn migrate_runs(&self) -> Result<()> {
        let old: Vec<(Vec<u8>, Vec<u8>)> = self
            .store
            .scan_all(Tree::Runs)
            .filter(|item| item.as_ref().map_or(true, |(k, _)| k.len() != 8))
            .collect::<Result<_>>()?;
        if old.is_empty() {
            return Ok(());
        }
        let mut max = 0;
        for (k, v) in &old {
            let mut run: RunRecord = decode(k, v)?;
            if run.id == 0 {
                run.id = self.next_run_id()?;
            }
            max = max.max(run.id);
            self.put_run(&run)?;
            self.store.delete(Tree::Runs, k.clone())?;
        }
        // Ids go on from the largest kept.
        self.store.update(Tree::Meta, RUN_ID, &mut |old| {
            let last = old
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_be_bytes);
            Some(last.max(max).to_be_bytes().to_vec())
        })?;
        self.store.flush()
    }
}
