//! # The state
//!
//! Kept behind one interface ([`store::Store`]) with two implementations:
//! the embedded default, one folder of sled and fjall ([`local`]), and
//! PostgreSQL ([`postgres`], `--state postgres://…`). The state is trees of
//! ordered keys: `links` (a record's id on one side to its id on the other),
//! `shadows` (each pair as last synced, in canonical form: the base of the
//! three-way merge), `outbox` (writes planned and not yet confirmed),
//! `conflicts` (pairs parked for a person), `dirty` (pairs whose change a
//! platform refused: planned again next run), `checkpoints` (where each
//! side's incremental read resumes), `runs` (reports), `audit`, `jobs` (the
//! daemon's jobs and their schedule) and `meta`. A change that spans keys is
//! one batch, applied atomically by either store, so a process killed at any
//! instant leaves either the old state or the new one.

mod compact;
pub mod leases;
mod local;
mod lsm;
pub mod migrations;
mod notices;
mod pairs;
mod plans;
pub mod postgres;
mod records;
mod runs;
mod shared;
pub(crate) mod store;
#[doc(hidden)]
pub mod testing;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{de::DeserializeOwned, Serialize};

use crate::core::merge::Side;
pub(crate) use compact::{decode_record, encode_record};
pub use local::is_locked;
pub use pairs::{PairCommit, PairStore};
pub use records::*;
use store::{Batch, Store, StoreExt, Tree};

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
    #[error("state in PostgreSQL: {0}")]
    Postgres(String),
    #[error(
        "the state at {path} was written by a newer synchost (state format {found}; this one \
         knows up to {known}): run that version, or a newer one, on it"
    )]
    Newer {
        path: String,
        found: u32,
        known: u32,
    },
    #[error(
        "the state's PostgreSQL schema is at version {found}, set up by a newer synchost (this \
         one knows up to {known}): run that version, or a newer one, on it"
    )]
    NewerSchema { found: i32, known: i32 },
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

pub type Result<T> = std::result::Result<T, StateError>;

/// One entry as stored: its tree, key and value.
pub type StoredEntry = (String, Vec<u8>, Vec<u8>);

/// The host's state.
#[derive(Clone)]
pub struct State {
    store: Arc<dyn Store>,
    /// where a run keeps what it read while it plans (see [`State::scratch`])
    scratch: PathBuf,
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

/// Where a state is: a folder (the embedded store) or a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Folder(PathBuf),
    Postgres(String),
}

impl Location {
    /// A `--state` value (or `SYNCHOST_STATE`): a `postgres://` URL, or else
    /// a folder.
    pub fn parse(spec: &str) -> Location {
        if postgres::is_url(spec) {
            Location::Postgres(spec.to_string())
        } else {
            Location::Folder(PathBuf::from(spec))
        }
    }
}

impl State {
    /// The embedded state in `dir` (made on first use).
    pub fn open(dir: &Path) -> Result<State> {
        let store = local::Local::open(dir)?;
        State::with(Arc::new(store), dir.with_extension("scratch"))
    }

    /// The state in the PostgreSQL database at `url`; runs keep what they
    /// read while they plan in `scratch`.
    pub fn open_postgres(url: &str, scratch: &Path) -> Result<State> {
        let store = postgres::Postgres::open(url)?;
        State::with(Arc::new(store), scratch.to_path_buf())
    }

    /// The state at `location`; a PostgreSQL state's runs keep their
    /// scratch files in `scratch`.
    pub fn open_at(location: &Location, scratch: &Path) -> Result<State> {
        match location {
            Location::Folder(dir) => State::open(dir),
            Location::Postgres(url) => State::open_postgres(url, scratch),
        }
    }

    fn with(store: Arc<dyn Store>, scratch: PathBuf) -> Result<State> {
        let state = State { store, scratch };
        // Left by a run that was killed: nothing in it outlives its run, and
        // no other process holds this scratch folder.
        let _ = std::fs::remove_dir_all(&state.scratch);
        migrations::apply(&state)?;
        Ok(state)
    }

    /// Where the state is, as a person names it.
    pub fn location(&self) -> String {
        self.store.location()
    }

    /// Waits until everything written is on disk.
    pub fn flush(&self) -> Result<()> {
        self.store.flush()
    }

    /// Every entry of every tree, by tree, in key order: what the state
    /// holds, to compare two moments (or two stores) byte for byte.
    pub fn contents(&self) -> Result<Vec<StoredEntry>> {
        let mut out = Vec::new();
        for tree in Tree::ALL {
            for item in self.store.scan_all(tree) {
                let (k, v) = item?;
                out.push((tree.name().to_string(), k, v));
            }
        }
        Ok(out)
    }

    /// Writes `entries` (as [`State::contents`] lists them) as they are, in
    /// batches: how `synchost state migrate` copies a state.
    pub fn restore(&self, entries: impl IntoIterator<Item = StoredEntry>) -> Result<usize> {
        let mut batch = Batch::new();
        let mut written = 0;
        for (tree, k, v) in entries {
            let Some(tree) = Tree::ALL.into_iter().find(|t| t.name() == tree) else {
                return Err(corrupt(&k, format!("no tree named {tree}")));
            };
            batch.put(tree, k, v);
            written += 1;
            if batch.len() >= 1000 {
                self.store
                    .apply(std::mem::replace(&mut batch, Batch::new()))?;
            }
        }
        self.store.apply(batch)?;
        Ok(written)
    }

    /// Where runs keep what they read while they plan (beside the state,
    /// emptied when the state is opened).
    pub fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    /// A unique, increasing number (for outbox keys and ids).
    pub fn next_id(&self) -> Result<u64> {
        self.store.next_id()
    }

    /// Makes every number [`State::next_id`] hands out from now on larger
    /// than `floor` (a state copied from another keeps its keys' order).
    pub fn ids_above(&self, floor: u64) -> Result<()> {
        self.store.skip_ids(floor)
    }

    /// Reads and decodes one entry.
    fn read<T: DeserializeOwned>(&self, tree: Tree, k: &[u8]) -> Result<Option<T>> {
        self.store.get(tree, k)?.map(|v| decode(k, &v)).transpose()
    }

    // ---- checkpoints -------------------------------------------------------

    pub fn checkpoint(&self, job: &str, side: Side) -> Result<Option<Checkpoint>> {
        self.read(Tree::Checkpoints, &key(&[job, side.as_str()]))
    }

    pub fn set_checkpoint(&self, job: &str, side: Side, checkpoint: &Checkpoint) -> Result<()> {
        self.store.put(
            Tree::Checkpoints,
            key(&[job, side.as_str()]),
            encode(checkpoint),
        )
    }

    // ---- outbox ------------------------------------------------------------

    /// Stores planned writes, all at once, before any is pushed. Returns their keys.
    pub fn outbox_put(&self, job: &str, entries: &[OutboxEntryRef<'_>]) -> Result<Vec<Vec<u8>>> {
        // On disk before anything is pushed: a machine that stops right
        // after a push must find what it pushed.
        let mut batch = Batch::durable();
        let mut keys = Vec::with_capacity(entries.len());
        for entry in entries {
            let k = key(&[job, &format!("{:020}", self.next_id()?)]);
            batch.put(Tree::Outbox, k.clone(), compact::encode_outbox(entry));
            keys.push(k);
        }
        self.store.apply(batch)?;
        Ok(keys)
    }

    /// What is left in `job`'s outbox, oldest first.
    pub fn outbox(&self, job: &str) -> Result<Vec<(Vec<u8>, OutboxEntry)>> {
        self.store
            .scan_prefix(Tree::Outbox, &prefix(&[job]))
            .map(|item| {
                let (k, v) = item?;
                let entry = compact::decode_outbox(&v).map_err(|reason| corrupt(&k, reason))?;
                Ok((k, entry))
            })
            .collect()
    }

    pub fn outbox_remove(&self, keys: &[Vec<u8>]) -> Result<()> {
        let mut batch = Batch::new();
        for k in keys {
            batch.remove(Tree::Outbox, k.clone());
        }
        self.store.apply(batch)
    }

    // ---- conflicts ---------------------------------------------------------

    pub fn put_conflict(&self, conflict: &ParkedConflict) -> Result<()> {
        self.store
            .put_durable(Tree::Conflicts, conflict.id.as_bytes(), encode(conflict))
    }

    pub fn conflict(&self, id: &str) -> Result<Option<ParkedConflict>> {
        self.read(Tree::Conflicts, id.as_bytes())
    }

    pub fn conflicts(&self) -> Result<Vec<ParkedConflict>> {
        self.store
            .scan_all(Tree::Conflicts)
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
        self.store.delete(Tree::Conflicts, id.as_bytes())
    }

    // ---- runs and audit ----------------------------------------------------

    pub fn audit(&self, entry: &AuditEntry) -> Result<()> {
        let k = format!("{}\u{0}{:020}", entry.at, self.next_id()?);
        self.store.put(Tree::Audit, k.into_bytes(), encode(entry))
    }

    // ---- the daemon's jobs -------------------------------------------------

    pub fn put_job(&self, job: &StoredJob) -> Result<()> {
        self.store
            .put_durable(Tree::Jobs, job.sync_id.as_bytes(), encode(job))
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
        let updated = self
            .store
            .update(Tree::Jobs, sync_id.as_bytes(), &mut |old| {
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
        self.store.flush()?;
        updated.map(|v| decode(sync_id.as_bytes(), &v)).transpose()
    }

    pub fn job(&self, sync_id: &str) -> Result<Option<StoredJob>> {
        self.read(Tree::Jobs, sync_id.as_bytes())
    }

    /// Every stored job. An entry that does not decode is reported and
    /// left out: one bad job never stops the others (nor the daemon).
    pub fn jobs(&self) -> Result<Vec<StoredJob>> {
        let mut jobs = Vec::new();
        for item in self.store.scan_all(Tree::Jobs) {
            let (k, v) = item?;
            match decode(&k, &v) {
                Ok(job) => jobs.push(job),
                Err(e) => tracing::error!("stored job skipped: {e}"),
            }
        }
        Ok(jobs)
    }

    pub fn remove_job(&self, sync_id: &str) -> Result<bool> {
        // Present, whether or not it decodes: a corrupt job can be removed.
        let removed = self.store.get(Tree::Jobs, sync_id.as_bytes())?.is_some();
        let mut batch = Batch::durable();
        batch.remove(Tree::Jobs, sync_id.as_bytes());
        self.store.apply(batch)?;
        Ok(removed)
    }

    /// Number of audit entries (a scan: for pruning, not for hot paths).
    pub fn audit_len(&self) -> usize {
        self.store.count(Tree::Audit, b"").unwrap_or(0)
    }

    /// Removes audit entries older than `before` (RFC 3339), and then the
    /// oldest until at most `keep` remain; returns how many went.
    pub fn prune_audit(&self, before: &str, keep: usize) -> Result<usize> {
        let range = (
            std::ops::Bound::Unbounded,
            std::ops::Bound::Excluded(before.as_bytes().to_vec()),
        );
        let mut doomed: Vec<Vec<u8>> = self
            .store
            .scan(Tree::Audit, range, false)
            .map(|item| item.map(|(k, _)| k))
            .collect::<Result<_>>()?;
        let len = self.audit_len() - doomed.len();
        if len > keep {
            let excess = self
                .store
                .scan(
                    Tree::Audit,
                    (
                        std::ops::Bound::Included(before.as_bytes().to_vec()),
                        std::ops::Bound::Unbounded,
                    ),
                    false,
                )
                .take(len - keep)
                .map(|item| item.map(|(k, _)| k))
                .collect::<Result<Vec<_>>>()?;
            doomed.extend(excess);
        }
        let removed = doomed.len();
        for chunk in doomed.chunks(1000) {
            let mut batch = Batch::new();
            for k in chunk {
                batch.remove(Tree::Audit, k.clone());
            }
            self.store.apply(batch)?;
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
        let start = match after {
            Some(k) if k >= since.as_bytes() => std::ops::Bound::Excluded(k.to_vec()),
            _ => std::ops::Bound::Included(since.as_bytes().to_vec()),
        };
        self.store
            .scan(Tree::Audit, (start, std::ops::Bound::Unbounded), false)
            .take(limit)
            .map(|item| {
                let (k, v) = item?;
                let entry = decode(&k, &v)?;
                Ok((k, entry))
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
        let end = match before {
            Some(k) => std::ops::Bound::Excluded(k.to_vec()),
            None => std::ops::Bound::Unbounded,
        };
        let mut page = Vec::new();
        for item in self
            .store
            .scan(Tree::Audit, (std::ops::Bound::Unbounded, end), true)
        {
            let (k, v) = item?;
            let entry: AuditEntry = decode(&k, &v)?;
            if keep(&entry) {
                page.push((k, entry));
                if page.len() >= limit {
                    break;
                }
            }
        }
        Ok(page)
    }
}
