//! Links, shadows and dirty pairs: what the sync keeps per pair of records.

use sled::transaction::{ConflictableTransactionError, Transactional, TransactionalTree};

use super::{
    compact, corrupt, decode, dirty_key, encode, key, prefix, Dirty, Result, Shadow, State,
    StateError,
};
use crate::core::merge::Side;

/// What becomes of one pair once its writes are confirmed.
pub enum PairCommit<'a> {
    /// linked (or re-linked), with the shadow it now has
    Link {
        source_id: &'a str,
        target_id: &'a str,
        shadow: &'a Shadow,
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

/// Links `source_id` and `target_id` both ways. A pair re-linked to a new id
/// (a record re-created on one side) drops the old link, and on the source
/// the old id's shadow.
fn link(
    links: &TransactionalTree,
    shadows: &TransactionalTree,
    job: &str,
    source_id: &str,
    target_id: &str,
) -> std::result::Result<(), ConflictableTransactionError<StateError>> {
    if let Some(old) = links.get(key(&[job, Side::Source.as_str(), source_id]))? {
        if old.as_ref() != target_id.as_bytes() {
            links.remove(key(&[
                job,
                Side::Target.as_str(),
                &String::from_utf8_lossy(&old),
            ]))?;
        }
    }
    if let Some(old) = links.get(key(&[job, Side::Target.as_str(), target_id]))? {
        if old.as_ref() != source_id.as_bytes() {
            let old = String::from_utf8_lossy(&old).into_owned();
            links.remove(key(&[job, Side::Source.as_str(), &old]))?;
            shadows.remove(key(&[job, &old]))?;
        }
    }
    links.insert(
        key(&[job, Side::Source.as_str(), source_id]),
        target_id.as_bytes(),
    )?;
    links.insert(
        key(&[job, Side::Target.as_str(), target_id]),
        source_id.as_bytes(),
    )?;
    Ok(())
}

impl State {
    // ---- links and shadows -------------------------------------------------

    /// The id on the other side of `side`'s record `id`.
    pub fn linked(&self, job: &str, side: Side, id: &str) -> Result<Option<String>> {
        Ok(self
            .links
            .get(key(&[job, side.as_str(), id]))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The shadow of the pair whose source id is `source_id`.
    pub fn shadow(&self, job: &str, source_id: &str) -> Result<Option<Shadow>> {
        let k = key(&[job, source_id]);
        let Some(bytes) = self.shadows.get(&k)? else {
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
        self.links.scan_prefix(p).map(move |item| {
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
            .links
            .range::<Vec<u8>, _>((start, std::ops::Bound::Unbounded))
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
        self.links
            .scan_prefix(prefix(&[job, Side::Source.as_str()]))
            .count()
    }

    /// Records a synced pair (link both ways, shadow) and removes the outbox
    /// entries it confirms, in one transaction.
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
                shadow,
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

    /// Everything one write call confirmed, in one transaction: each pair's
    /// link and shadow (or its removal), the outbox entries `done`, the parked
    /// conflicts the call settled. One transaction per call, not per record,
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
        let shadows_bytes: Vec<Option<Vec<u8>>> = commits
            .iter()
            .map(|c| match c {
                PairCommit::Link { shadow, .. } => Some(compact::encode(shadow)),
                PairCommit::Forget { .. } => None,
            })
            .collect();
        // Most jobs have no dirty pair: then there is nothing to clear, and
        // two removals per pair would be most of the transaction's reads. No
        // other run of this job writes meanwhile (a job never runs twice at
        // once), so what this scan sees holds until the transaction.
        let any_dirty = self.dirty.scan_prefix(prefix(&[job])).next().is_some();
        let trees = (
            &self.links,
            &self.shadows,
            &self.outbox,
            &self.dirty,
            &self.conflicts,
        );
        trees.transaction(|(links, shadows, outbox, dirty, conflicts)| {
            for (commit, bytes) in commits.iter().zip(&shadows_bytes) {
                let (source_id, target_id) = commit.ids();
                match bytes {
                    Some(bytes) => {
                        link(links, shadows, job, source_id, target_id)?;
                        shadows.insert(key(&[job, source_id]), bytes.as_slice())?;
                    }
                    None => {
                        links.remove(key(&[job, Side::Source.as_str(), source_id]))?;
                        links.remove(key(&[job, Side::Target.as_str(), target_id]))?;
                        shadows.remove(key(&[job, source_id]))?;
                    }
                }
                // The pair's change has landed: it is no longer dirty.
                if any_dirty {
                    dirty.remove(dirty_key(job, Side::Source, source_id))?;
                    dirty.remove(dirty_key(job, Side::Target, target_id))?;
                }
            }
            for k in done {
                outbox.remove(k.as_slice())?;
            }
            for id in settled {
                conflicts.remove(id.as_bytes())?;
            }
            Ok::<_, ConflictableTransactionError<StateError>>(())
        })?;
        Ok(())
    }

    // ---- dirty pairs -------------------------------------------------------

    /// Keeps a pair's undelivered change (see [`Dirty`]).
    pub fn put_dirty(&self, job: &str, entry: &Dirty) -> Result<()> {
        let k = match (&entry.source_id, &entry.target_id) {
            (Some(sid), _) => dirty_key(job, Side::Source, sid),
            (None, Some(tid)) => dirty_key(job, Side::Target, tid),
            (None, None) => return Ok(()),
        };
        self.dirty.insert(k, encode(entry))?;
        Ok(())
    }

    /// `job`'s dirty pairs.
    pub fn dirty(&self, job: &str) -> Result<Vec<Dirty>> {
        self.dirty
            .scan_prefix(prefix(&[job]))
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }
}
