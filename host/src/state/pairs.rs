//! Links, shadows and dirty pairs: what the sync keeps per pair of records.

use std::collections::HashMap;
use std::sync::Arc;

use super::store::{Batch, Store, StoreExt, Tree};
use super::{
    compact, corrupt, decode, dirty_key, encode, key, prefix, Dirty, Result, Shadow, ShadowRef,
    State,
};
use crate::core::merge::Side;

/// What becomes of one pair once its writes are confirmed.
pub enum PairCommit<'a> {
    /// linked (or re-linked), with the shadow it now has
    Link {
        source_id: &'a str,
        target_id: &'a str,
        shadow: ShadowRef<'a>,
    },
    /// deleted on both sides: the link and shadow go
    Forget {
        source_id: &'a str,
        target_id: &'a str,
    },
}

impl PairCommit<'_> {
    fn ids(&self) -> (&str, &str) {
        match self {
            PairCommit::Link {
                source_id,
                target_id,
                ..
            }
            | PairCommit::Forget {
                source_id,
                target_id,
            } => (source_id, target_id),
        }
    }
}

/// The links as one commit leaves them: the store's, with the commit's own
/// changes over them (a batch does not read its own writes). No other writer
/// touches a job's links meanwhile: a job never runs twice at once.
struct Links<'a> {
    store: &'a dyn Store,
    batch: &'a mut Batch,
    changed: HashMap<Vec<u8>, Option<String>>,
}

impl Links<'_> {
    fn get(&self, k: &[u8]) -> Result<Option<String>> {
        if let Some(v) = self.changed.get(k) {
            return Ok(v.clone());
        }
        Ok(self
            .store
            .get(Tree::Links, k)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn set(&mut self, k: Vec<u8>, v: &str) {
        self.batch.put(Tree::Links, k.clone(), v.as_bytes());
        self.changed.insert(k, Some(v.to_string()));
    }

    fn remove(&mut self, k: Vec<u8>) {
        self.batch.remove(Tree::Links, k.clone());
        self.changed.insert(k, None);
    }

    /// Links `source_id` and `target_id` both ways. A pair re-linked to a new
    /// id (a record re-created on one side) drops the old link, and on the
    /// source the old id's shadow.
    fn link(&mut self, job: &str, source_id: &str, target_id: &str) -> Result<()> {
        let source_key = key(&[job, Side::Source.as_str(), source_id]);
        let target_key = key(&[job, Side::Target.as_str(), target_id]);
        if let Some(old) = self.get(&source_key)? {
            if old != target_id {
                self.remove(key(&[job, Side::Target.as_str(), &old]));
            }
        }
        if let Some(old) = self.get(&target_key)? {
            if old != source_id {
                self.remove(key(&[job, Side::Source.as_str(), &old]));
                self.batch.remove(Tree::Shadows, key(&[job, &old]));
            }
        }
        self.set(source_key, target_id);
        self.set(target_key, source_id);
        Ok(())
    }
}

impl State {
    // ---- links and shadows -------------------------------------------------

    /// The id on the other side of `side`'s record `id`.
    pub fn linked(&self, job: &str, side: Side, id: &str) -> Result<Option<String>> {
        Ok(self
            .store
            .get(Tree::Links, &key(&[job, side.as_str(), id]))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The shadow of the pair whose source id is `source_id`.
    pub fn shadow(&self, job: &str, source_id: &str) -> Result<Option<Shadow>> {
        let k = key(&[job, source_id]);
        let Some(bytes) = self.store.get(Tree::Shadows, &k)? else {
            return Ok(None);
        };
        compact::decode(&bytes)
            .map(Some)
            .map_err(|reason| corrupt(&k, reason))
    }

    /// Every pair of `job`: (source id, target id).
    pub fn pairs(&self, job: &str) -> impl Iterator<Item = Result<(String, String)>> + '_ {
        let p = prefix(&[job, Side::Source.as_str()]);
        let cut = p.len();
        self.store.scan_prefix(Tree::Links, &p).map(move |item| {
            let (k, v) = item?;
            Ok((
                String::from_utf8_lossy(&k[cut..]).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            ))
        })
    }

    /// Up to `n` pairs of `job` after source id `after` (from the first when
    /// `None`), in source id order.
    pub fn pairs_after(
        &self,
        job: &str,
        after: Option<&str>,
        n: usize,
    ) -> Result<Vec<(String, String)>> {
        let p = prefix(&[job, Side::Source.as_str()]);
        let cut = p.len();
        let start = match after {
            Some(id) => {
                let mut k = p.clone();
                k.extend_from_slice(id.as_bytes());
                std::ops::Bound::Excluded(k)
            }
            None => std::ops::Bound::Included(p.clone()),
        };
        let mut out = Vec::new();
        for item in self
            .store
            .scan(Tree::Links, (start, std::ops::Bound::Unbounded), false)
        {
            let (k, v) = item?;
            if !k.starts_with(&p) || out.len() == n {
                break;
            }
            out.push((
                String::from_utf8_lossy(&k[cut..]).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            ));
        }
        Ok(out)
    }

    pub fn pair_count(&self, job: &str) -> usize {
        self.store
            .count(Tree::Links, &prefix(&[job, Side::Source.as_str()]))
            .unwrap_or(0)
    }

    /// Records a synced pair (link both ways, shadow) and removes the outbox
    /// entries it confirms, in one batch.
    pub fn commit_pair(
        &self,
        job: &str,
        source_id: &str,
        target_id: &str,
        shadow: &Shadow,
        done: &[Vec<u8>],
    ) -> Result<()> {
        self.commit_pairs(
            job,
            &[PairCommit::Link {
                source_id,
                target_id,
                shadow: shadow.as_ref(),
            }],
            done,
            &[],
        )
    }

    /// Forgets a pair (deleted on both sides), with its confirmed outbox entries.
    pub fn forget_pair(
        &self,
        job: &str,
        source_id: &str,
        target_id: &str,
        done: &[Vec<u8>],
    ) -> Result<()> {
        self.commit_pairs(
            job,
            &[PairCommit::Forget {
                source_id,
                target_id,
            }],
            done,
            &[],
        )
    }

    /// Everything one write call confirmed, in one atomic batch: each pair's
    /// link and shadow (or its removal), the outbox entries `done`, the parked
    /// conflicts the call settled. One batch per call, not per record,
    /// is what keeps a large sync from being one disk write per record; a
    /// process killed at any instant still leaves the call's state all old
    /// or all new.
    pub fn commit_pairs(
        &self,
        job: &str,
        commits: &[PairCommit<'_>],
        done: &[Vec<u8>],
        settled: &[String],
    ) -> Result<()> {
        self.pair_store().commit_pairs(job, commits, done, settled)
    }

    /// A handle on the pairs' store that another thread may own: a run
    /// commits a call's pairs there while its next calls are in flight.
    pub fn pair_store(&self) -> PairStore {
        PairStore {
            store: self.store.clone(),
        }
    }

    // ---- dirty pairs -------------------------------------------------------

    /// Keeps a pair's undelivered change (see [`Dirty`]).
    pub fn put_dirty(&self, job: &str, entry: &Dirty) -> Result<()> {
        let k = match (&entry.source_id, &entry.target_id) {
            (Some(sid), _) => dirty_key(job, Side::Source, sid),
            (None, Some(tid)) => dirty_key(job, Side::Target, tid),
            (None, None) => return Ok(()),
        };
        self.store.put(Tree::Dirty, k, encode(entry))
    }

    /// `job`'s dirty pairs.
    pub fn dirty(&self, job: &str) -> Result<Vec<Dirty>> {
        self.store
            .scan_prefix(Tree::Dirty, &prefix(&[job]))
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }
}

/// The pairs' store, owned: see [`State::pair_store`].
#[derive(Clone)]
pub struct PairStore {
    store: Arc<dyn Store>,
}

impl PairStore {
    /// As [`State::commit_pairs`].
    pub fn commit_pairs(
        &self,
        job: &str,
        commits: &[PairCommit<'_>],
        done: &[Vec<u8>],
        settled: &[String],
    ) -> Result<()> {
        let store = self.store.as_ref();
        // Most jobs have no dirty pair: then there is nothing to clear, and
        // two removals per pair would be most of the batch. No other run of
        // this job writes meanwhile (a job never runs twice at once), so what
        // this scan sees holds until the commit.
        let any_dirty = store
            .scan_prefix(Tree::Dirty, &prefix(&[job]))
            .next()
            .is_some();
        let mut batch = Batch::new();
        let mut links = Links {
            store,
            batch: &mut batch,
            changed: HashMap::new(),
        };
        for commit in commits {
            let (source_id, target_id) = commit.ids();
            match commit {
                PairCommit::Link { shadow, .. } => {
                    links.link(job, source_id, target_id)?;
                    links.batch.put(
                        Tree::Shadows,
                        key(&[job, source_id]),
                        compact::encode(*shadow),
                    );
                }
                PairCommit::Forget { .. } => {
                    links.remove(key(&[job, Side::Source.as_str(), source_id]));
                    links.remove(key(&[job, Side::Target.as_str(), target_id]));
                    links.batch.remove(Tree::Shadows, key(&[job, source_id]));
                }
            }
            // The pair's change has landed: it is no longer dirty.
            if any_dirty {
                links
                    .batch
                    .remove(Tree::Dirty, dirty_key(job, Side::Source, source_id));
                links
                    .batch
                    .remove(Tree::Dirty, dirty_key(job, Side::Target, target_id));
            }
        }
        for k in done {
            batch.remove(Tree::Outbox, k.clone());
        }
        for id in settled {
            batch.remove(Tree::Conflicts, id.as_bytes());
        }
        store.apply(batch)
    }
}
