//! # State in sled and fjall
//!
//! One folder per host. What a sync writes per record is in fjall, an LSM
//! tree, in the folder's `pairs` (see [`lsm`]): `links` (a record's id on one
//! side to its id on the other), `shadows` (each pair as last synced, in
//! canonical form: the base of the three-way merge), `outbox` (writes planned
//! and not yet confirmed), `conflicts` (pairs parked for a person) and
//! `dirty` (pairs whose change a platform refused: planned again next run).
//! The rest is in sled, one tree per kind: `checkpoints` (where each side's
//! incremental read resumes), `runs` (reports), `audit` and `jobs` (the
//! daemon's jobs and their schedule). A change that spans keys is one sled
//! transaction or one fjall batch, so a process killed at any instant leaves
//! either the old state or the new one.

mod compact;
mod lsm;
pub mod migrations;
mod notices;
mod pairs;
mod plans;
mod records;
mod runs;
#[cfg(test)]
mod tests;

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::TransactionError;
use sled::Tree;

use crate::core::merge::Side;
pub(crate) use compact::{decode_record, encode_record};
pub use pairs::{PairCommit, PairStore};
pub use records::*;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("state database: {0}")]
    Sled(#[from] sled::Error),
    #[error("pairs store at {path}: {source}")]
    OpenPairs { path: String, source: fjall::Error },
    #[error("pairs store: {0}")]
    Fjall(#[from] fjall::Error),
    #[error(
        "the state at {path} was written by a newer synchost (state format {found}; this one \
         knows up to {known}): run that version, or a newer one, on it"
    )]
    Newer {
        path: String,
        found: u32,
        known: u32,
    },
    #[error("state database holds an entry that does not parse ({key}): {reason}")]
    Corrupt { key: String, reason: String },
    #[error("a run's scratch file: {0}")]
    Scratch(String),
    /// The thread committing a write call's pairs ended without committing.
    #[error("committing a write call's pairs: {0}")]
    Commit(String),
    #[error("no conflict with id {0}")]
    NoConflict(String),
}

impl From<TransactionError<StateError>> for StateError {
    fn from(e: TransactionError<StateError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StateError::Sled(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StateError>;

/// One entry as stored: its store and tree, key and value.
pub type StoredEntry = (String, Vec<u8>, Vec<u8>);

/// The host's state.
#[derive(Clone)]
pub struct State {
    db: sled::Db,
    /// where a run keeps what it read while it plans (see [`State::scratch`])
    scratch: std::path::PathBuf,
    /// links, shadows, dirty pairs, outbox and conflicts
    lsm: lsm::Lsm,
    checkpoints: Tree,
    runs: Tree,
    audit: Tree,
    jobs: Tree,
    /// run ids by job: `job \0 id`
    runs_by_job: Tree,
    /// counters (the last run id)
    meta: Tree,
}

fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\u{0}").into_bytes()
}

fn dirty_key(job: &str, side: Side, id: &str) -> Vec<u8> {
    key(&[job, side.as_str(), id])
}

fn prefix(parts: &[&str]) -> Vec<u8> {
    let mut k = key(parts);
    k.push(0);
    k
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("state values serialize")
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(key, e.to_string()))
}

/// An entry under `key` that does not parse, named as a person reads keys.
fn corrupt(key: &[u8], reason: String) -> StateError {
    StateError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\u{0}', "/"),
        reason,
    }
}

/// The stores' caches, the part of a run's memory that grows with the
/// state's size up to this bound: sled's page cache and fjall's block cache,
/// each `SYNCHOST_STATE_CACHE_MIB`, 32 by default. A pull of 1,000,000
/// records peaked at 298 MiB with 64, 258 with 32 and 246 with 16, but took
/// 116, 121 and 138 s (BENCHMARKS.md): 32 keeps it under 300 MB and about
/// as fast.
fn cache_mib() -> u64 {
    let set = std::env::var("SYNCHOST_STATE_CACHE_MIB").ok();
    set.and_then(|v| v.trim().parse().ok())
        .filter(|&m| m > 0)
        .unwrap_or(DEFAULT_CACHE_MIB)
}

const DEFAULT_CACHE_MIB: u64 = 32;

/// How long [`State::open`] waits for a lock that may be on its way out.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether sled could not open for want of the folder's lock.
pub fn is_locked(e: &sled::Error) -> bool {
    e.to_string().contains("acquire lock")
}

impl State {
    pub fn open(dir: &Path) -> Result<State> {
        // sled's I/O threads can hold the folder's lock for a moment after
        // the last handle in this process (or a process that just exited)
        // let go: a lock still held after that is another process's.
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mib() << 20);
        let waited = std::time::Instant::now();
        let db = loop {
            let opened = config.open();
            match opened {
                Err(e) if is_locked(&e) && waited.elapsed() < LOCK_GRACE => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other,
            }
        }
        .map_err(|source| StateError::Open {
            path: dir.display().to_string(),
            source,
        })?;
        // Inside sled's folder, so that the state stays one folder; sled
        // leaves files it does not know alone. Opened after sled's lock is
        // held: no other process can be opening it.
        let lsm = lsm::Lsm::open(&dir.join("pairs"), cache_mib())?;
        let state = State {
            lsm,
            checkpoints: db.open_tree("checkpoints")?,
            runs: db.open_tree("runs")?,
            jobs: db.open_tree("jobs")?,
            audit: db.open_tree("audit")?,
            runs_by_job: db.open_tree("runs_by_job")?,
            meta: db.open_tree("meta")?,
            db,
            scratch: dir.with_extension("scratch"),
        };
        // Left by a run that was killed: nothing in it outlives its run, and
        // no other process holds this state (sled's lock above).
        let _ = std::fs::remove_dir_all(&state.scratch);
        migrations::apply(&state, dir)?;
        Ok(state)
    }

    /// Waits until everything written is on disk.
    pub fn flush(&self) -> Result<()> {
        self.lsm.db.persist(fjall::PersistMode::SyncAll)?;
        self.db.flush()?;
        Ok(())
    }

    /// Every entry of every tree and keyspace, by store and name, in key
    /// order: what the state holds, to compare two moments byte for byte.
    pub fn contents(&self) -> Result<Vec<StoredEntry>> {
        let mut out = Vec::new();
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            let name = format!("sled/{}", String::from_utf8_lossy(&name));
            for item in tree.iter() {
                let (k, v) = item?;
                out.push((name.clone(), k.to_vec(), v.to_vec()));
            }
        }
        for (name, ks) in self.lsm.named() {
            for item in lsm::Lsm::scan(ks, Vec::new()) {
                let (k, v) = item?;
                out.push((format!("fjall/{name}"), k.to_vec(), v.to_vec()));
            }
        }
        Ok(out)
    }

    /// Where runs keep what they read while they plan (beside the state,
    /// emptied when the state is opened).
    pub fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    /// A unique, increasing number (for outbox keys and ids).
    pub fn next_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    // ---- checkpoints -------------------------------------------------------

    pub fn checkpoint(&self, job: &str, side: Side) -> Result<Option<Checkpoint>> {
        let k = key(&[job, side.as_str()]);
        self.checkpoints
            .get(&k)?
            .map(|v| decode(&k, &v))
            .transpose()
    }

    pub fn set_checkpoint(&self, job: &str, side: Side, checkpoint: &Checkpoint) -> Result<()> {
        self.checkpoints
            .insert(key(&[job, side.as_str()]), encode(checkpoint))?;
        Ok(())
    }

    // ---- outbox ------------------------------------------------------------

    /// Stores planned writes, all at once, before any is pushed. Returns their keys.
    pub fn outbox_put(&self, job: &str, entries: &[OutboxEntryRef<'_>]) -> Result<Vec<Vec<u8>>> {
        // On disk before anything is pushed: a machine that stops right
        // after a push must find what it pushed.
        let mut batch = self.lsm.synced_batch();
        let mut keys = Vec::with_capacity(entries.len());
        for entry in entries {
            let k = key(&[job, &format!("{:020}", self.next_id()?)]);
            batch.insert(&self.lsm.outbox, k.clone(), compact::encode_outbox(entry));
            keys.push(k);
        }
        batch.commit()?;
        Ok(keys)
    }

    /// What is left in `job`'s outbox, oldest first.
    pub fn outbox(&self, job: &str) -> Result<Vec<(Vec<u8>, OutboxEntry)>> {
        lsm::Lsm::scan(&self.lsm.outbox, prefix(&[job]))
            .map(|item| {
                let (k, v) = item?;
                let entry = compact::decode_outbox(&v).map_err(|reason| corrupt(&k, reason))?;
                Ok((k.to_vec(), entry))
            })
            .collect()
    }

    pub fn outbox_remove(&self, keys: &[Vec<u8>]) -> Result<()> {
        let mut batch = self.lsm.db.batch();
        for k in keys {
            batch.remove(&self.lsm.outbox, k.as_slice());
        }
        batch.commit()?;
        Ok(())
    }

    // ---- conflicts ---------------------------------------------------------

    pub fn put_conflict(&self, conflict: &ParkedConflict) -> Result<()> {
        let mut batch = self.lsm.synced_batch();
        batch.insert(
            &self.lsm.conflicts,
            conflict.id.as_bytes(),
            encode(conflict),
        );
        batch.commit()?;
        Ok(())
    }

    pub fn conflict(&self, id: &str) -> Result<Option<ParkedConflict>> {
        self.lsm
            .conflicts
            .get(id.as_bytes())?
            .map(|v| decode(id.as_bytes(), &v))
            .transpose()
    }

    pub fn conflicts(&self) -> Result<Vec<ParkedConflict>> {
        lsm::Lsm::scan(&self.lsm.conflicts, Vec::new())
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }

    /// How many conflicts of `job` wait for a person.
    pub fn conflicts_waiting(&self, job: &str) -> Result<usize> {
        Ok(self.conflicts()?.iter().filter(|c| c.job == job).count())
    }

    pub fn remove_conflict(&self, id: &str) -> Result<()> {
        self.lsm.conflicts.remove(id.as_bytes())?;
        Ok(())
    }

    // ---- runs and audit ----------------------------------------------------

    pub fn audit(&self, entry: &AuditEntry) -> Result<()> {
        let k = format!("{}\u{0}{:020}", entry.at, self.next_id()?);
        self.audit.insert(k.as_bytes(), encode(entry))?;
        Ok(())
    }

    // ---- the daemon's jobs -------------------------------------------------

    pub fn put_job(&self, job: &StoredJob) -> Result<()> {
        self.jobs.insert(job.sync_id.as_bytes(), encode(job))?;
        self.db.flush()?;
        Ok(())
    }

    /// Changes job `sync_id` atomically with `change` (which may be called
    /// more than once if another writer got there first, so it must only
    /// compute) and flushes; `None` when there is no such job. Every writer
    /// of a stored job goes through here, so none undoes another's fields.
    pub fn update_job(
        &self,
        sync_id: &str,
        mut change: impl FnMut(&mut StoredJob),
    ) -> Result<Option<StoredJob>> {
        let mut corrupt = None;
        let updated = self.jobs.update_and_fetch(sync_id.as_bytes(), |old| {
            let old = old?;
            match decode::<StoredJob>(sync_id.as_bytes(), old) {
                Ok(mut job) => {
                    change(&mut job);
                    Some(encode(&job))
                }
                Err(e) => {
                    corrupt = Some(e);
                    Some(old.to_vec())
                }
            }
        })?;
        if let Some(e) = corrupt {
            return Err(e);
        }
        self.db.flush()?;
        updated.map(|v| decode(sync_id.as_bytes(), &v)).transpose()
    }

    pub fn job(&self, sync_id: &str) -> Result<Option<StoredJob>> {
        self.jobs
            .get(sync_id.as_bytes())?
            .map(|v| decode(sync_id.as_bytes(), &v))
            .transpose()
    }

    /// Every stored job. An entry that does not decode is reported and
    /// left out: one bad job never stops the others (nor the daemon).
    pub fn jobs(&self) -> Result<Vec<StoredJob>> {
        let mut jobs = Vec::new();
        for item in self.jobs.iter() {
            let (k, v) = item?;
            match decode(&k, &v) {
                Ok(job) => jobs.push(job),
                Err(e) => tracing::error!("stored job skipped: {e}"),
            }
        }
        Ok(jobs)
    }

    pub fn remove_job(&self, sync_id: &str) -> Result<bool> {
        let removed = self.jobs.remove(sync_id.as_bytes())?.is_some();
        self.db.flush()?;
        Ok(removed)
    }

    /// Number of audit entries (a scan: for pruning, not for hot paths).
    pub fn audit_len(&self) -> usize {
        self.audit.len()
    }

    /// Removes audit entries older than `before` (RFC 3339), and then the
    /// oldest until at most `keep` remain; returns how many went.
    pub fn prune_audit(&self, before: &str, keep: usize) -> Result<usize> {
        let mut removed = 0;
        let old: Vec<sled::IVec> = self
            .audit
            .range(..before.as_bytes())
            .keys()
            .collect::<std::result::Result<_, _>>()?;
        for k in old {
            self.audit.remove(k)?;
            removed += 1;
        }
        let len = self.audit.len();
        if len > keep {
            let excess: Vec<sled::IVec> = self
                .audit
                .iter()
                .keys()
                .take(len - keep)
                .collect::<std::result::Result<_, _>>()?;
            for k in excess {
                self.audit.remove(k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Audit entries at or after `since` (RFC 3339), oldest first.
    pub fn audit_since(&self, since: &str) -> Result<Vec<AuditEntry>> {
        Ok(self
            .audit_page(since, None, usize::MAX)?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    /// At most `limit` audit entries at or after `since` (RFC 3339), oldest
    /// first, after the entry whose key is `after` (the cursor of the page
    /// before); each with its key, the cursor of the next page.
    pub fn audit_page(
        &self,
        since: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, AuditEntry)>> {
        let start: Vec<u8> = match after {
            Some(k) if k >= since.as_bytes() => {
                let mut k = k.to_vec();
                k.push(0);
                k
            }
            _ => since.as_bytes().to_vec(),
        };
        self.audit
            .range(start..)
            .take(limit)
            .map(|item| {
                let (k, v) = item?;
                Ok((k.to_vec(), decode(&k, &v)?))
            })
            .collect()
    }

    /// Audit entries newest first, before the entry whose key is `before`
    /// (the cursor of the page before), at most `limit` of those `keep`
    /// takes; each with its key, the cursor of the next page.
    pub fn audit_newest(
        &self,
        before: Option<&[u8]>,
        limit: usize,
        keep: impl Fn(&AuditEntry) -> bool,
    ) -> Result<Vec<(Vec<u8>, AuditEntry)>> {
        let range = match before {
            Some(k) => self.audit.range(..k.to_vec()),
            None => self.audit.range::<Vec<u8>, _>(..),
        };
        let mut page = Vec::new();
        for item in range.rev() {
            let (k, v) = item?;
            let entry: AuditEntry = decode(&k, &v)?;
            if keep(&entry) {
                page.push((k.to_vec(), entry));
                if page.len() >= limit {
                    break;
                }
            }
        }
        Ok(page)
    }
}
