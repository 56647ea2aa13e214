//! Runs: kept by id (a counter, so ids read 1, 2, 3… and do not jump at a
//! restart), indexed by job, pruned by age and by count per job. A run is
//! found by its id without reading the others, and a job's runs without
//! reading other jobs'.

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
        let next = self.meta.update_and_fetch(RUN_ID, |old| {
            let last = old
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_be_bytes);
            Some((last + 1).to_be_bytes().to_vec())
        })?;
        Ok(next
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map_or(1, u64::from_be_bytes))
    }

    pub fn put_run(&self, run: &RunRecord) -> Result<()> {
        let mut by_job = sled::Batch::default();
        by_job.insert(by_job_key(&run.job, run.id), &[][..]);
        self.runs.insert(run_key(run.id), encode(run))?;
        self.runs_by_job.apply_batch(by_job)?;
        Ok(())
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
                .runs
                .range(..run_key(before))
                .rev()
                .take(limit)
                .map(|item| {
                    let (k, v) = item?;
                    decode(&k, &v)
                })
                .collect(),
            Some(job) => {
                let p = prefix(&[job]);
                let mut out = Vec::new();
                for item in self
                    .runs_by_job
                    .range(p.clone()..by_job_key(job, before))
                    .rev()
                {
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
        self.runs
            .get(run_key(id))?
            .map(|v| decode(&run_key(id), &v))
            .transpose()
    }

    /// Removes runs started before `before` (RFC 3339), and each job's
    /// oldest beyond `keep_per_job`; returns how many went.
    pub fn prune_runs(&self, before: &str, keep_per_job: usize) -> Result<usize> {
        let mut doomed = Vec::new();
        for item in self.runs.iter() {
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
        for item in self.runs_by_job.iter().rev() {
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
        for (job, id) in &doomed {
            self.runs.remove(run_key(*id))?;
            self.runs_by_job.remove(by_job_key(job, *id))?;
        }
        Ok(doomed.len())
    }

    /// Removes `job`'s oldest runs beyond `keep` (after each of its runs:
    /// reads that job's index only).
    pub fn prune_job_runs(&self, job: &str, keep: usize) -> Result<usize> {
        let p = prefix(&[job]);
        let doomed: Vec<u64> = self
            .runs_by_job
            .scan_prefix(&p)
            .rev()
            .skip(keep)
            .filter_map(|item| item.ok().and_then(|(k, _)| id_of(&k)))
            .collect();
        for id in &doomed {
            self.runs.remove(run_key(*id))?;
            self.runs_by_job.remove(by_job_key(job, *id))?;
        }
        Ok(doomed.len())
    }

    /// Runs kept before the index (keyed `started_at \0 job`) move to their
    /// ids and into the index, once.
    pub(super) fn migrate_runs(&self) -> Result<()> {
        let old: Vec<(sled::IVec, sled::IVec)> = self
            .runs
            .iter()
            .filter(|item| item.as_ref().map_or(true, |(k, _)| k.len() != 8))
            .collect::<std::result::Result<_, _>>()?;
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
            self.runs.remove(k)?;
        }
        // Ids go on from the largest kept.
        self.meta.update_and_fetch(RUN_ID, |old| {
            let last = old
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_be_bytes);
            Some(last.max(max).to_be_bytes().to_vec())
        })?;
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(state: &State, job: &str, started_at: &str) -> u64 {
        let id = state.next_run_id().unwrap();
        state
            .put_run(&RunRecord {
                id,
                job: job.into(),
                started_at: started_at.into(),
                report: json!({"status": "success"}),
            })
            .unwrap();
        id
    }

    #[test]
    fn runs_are_found_by_id_and_by_job_and_pruned_by_age_and_count() {
        let dir = std::env::temp_dir().join(format!("synchost-runs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = State::open(&dir).unwrap();
        assert_eq!(run(&state, "a", "2026-01-01T00:00:00Z"), 1);
        assert_eq!(run(&state, "b", "2026-01-02T00:00:00Z"), 2);
        for day in 3..=9 {
            run(&state, "a", &format!("2026-01-0{day}T00:00:00Z"));
        }
        assert_eq!(state.run(2).unwrap().unwrap().job, "b");
        let a: Vec<u64> = state
            .runs_page(Some("a"), None, 3)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(a, [9, 8, 7], "newest first");
        let next: Vec<u64> = state
            .runs_page(Some("a"), Some(7), 3)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(next, [6, 5, 4], "the next page");
        assert_eq!(state.runs_page(Some("a"), Some(1), 3).unwrap().len(), 0);
        assert_eq!(state.runs(2).unwrap()[0].id, 9);
        // Older than Jan 3rd: 1 and 2; beyond the 4 newest of job a: 5, 4, 3.
        let removed = state.prune_runs("2026-01-03T00:00:00Z", 4).unwrap();
        assert_eq!(removed, 5);
        let left: Vec<u64> = state.runs(100).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(left, [9, 8, 7, 6]);
        assert!(state.runs_page(Some("b"), None, 10).unwrap().is_empty());
        drop(state);
        // Ids go on after a restart, one at a time.
        let state = State::open(&dir).unwrap();
        assert_eq!(state.next_run_id().unwrap(), 10);
        std::fs::remove_dir_all(&dir).ok();
    }
}
