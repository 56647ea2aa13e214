//! The pairs' store: links, shadows, dirty pairs, the outbox and parked
//! conflicts, in fjall (an LSM tree) in the folder `pairs` inside sled's.
//!
//! A sync writes these on every record; sled 0.34 spends 14 to 29 µs on each
//! key, fjall a few (BENCHMARKS.md, "sled's cost per key"). Everything one
//! write call confirms is one atomic batch across these keyspaces, so the
//! guarantee stays the one sled's transaction gave: after a kill, a call's
//! pairs are all old or all new. A batch reaches the operating system before
//! `commit` returns (a killed process loses nothing it committed); the outbox
//! and parked conflicts are also synced to disk, as they were with sled.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{Result, StateError};

/// The keyspaces, named as sled's trees were (and still are, in a state an
/// earlier version wrote: [`Lsm::migrate`] moves them).
const NAMES: [&str; 5] = ["links", "shadows", "dirty", "outbox", "conflicts"];

/// Memory each keyspace may use for writes not yet in sorted files, bytes
/// (fjall's default is 64 MiB). Small, so that the store's memory stops
/// growing within the first thousand or so pairs of a sync: with 8 MiB a run
/// of 10,000 records held all of them in memory (host/tests/memory.rs). fjall
/// keeps the size a keyspace was created with.
const MEMTABLE: u64 = 1 << 20;

/// Sorted files of new writes merged at once into the next level (fjall's
/// default is 4). Keys are platform ids, spread over the whole key space, so
/// every merge into level 1 rewrites all of it: with 4 files of 1 MiB a
/// first sync rewrote its whole store once every 4 MiB of writes. More
/// files a merge make that many times fewer rewrites; a point read checks
/// each file's bloom filter first, so reads stay cheap. It must stay under
/// 20, where fjall stalls writes to let merges catch up: at 32 no merge was
/// due when the stall began, and a first sync of 100,000 hung.
const L0_FILES: u8 = 16;

#[derive(Clone)]
pub(super) struct Lsm {
    pub db: Database,
    pub links: Keyspace,
    pub shadows: Keyspace,
    pub dirty: Keyspace,
    pub outbox: Keyspace,
    pub conflicts: Keyspace,
}

impl Lsm {
    /// Opens (or creates) the store at `dir`, with a block cache of
    /// `cache_mib`.
    pub fn open(dir: &Path, cache_mib: u64) -> Result<Lsm> {
        let open_err = |source| StateError::OpenPairs {
            path: dir.display().to_string(),
            source,
        };
        // One background worker: with two, fjall's first worker hands every
        // compaction to the second and spins re-queueing it while that one
        // is busy (a fifth of a pull's CPU, seen with perf).
        let db = Database::builder(dir)
            .cache_size(cache_mib << 20)
            .worker_threads(1)
            .open()
            .map_err(open_err)?;
        let ks = |name: &str| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default()
                    .max_memtable_size(MEMTABLE)
                    .compaction_strategy(std::sync::Arc::new(
                        fjall::compaction::Leveled::default().with_l0_threshold(L0_FILES),
                    ))
            })
            .map_err(open_err)
        };
        Ok(Lsm {
            links: ks(NAMES[0])?,
            shadows: ks(NAMES[1])?,
            dirty: ks(NAMES[2])?,
            outbox: ks(NAMES[3])?,
            conflicts: ks(NAMES[4])?,
            db,
        })
    }

    /// Each keyspace with its name (sled's tree of the same name held it).
    pub(super) fn named(&self) -> [(&'static str, &Keyspace); 5] {
        [
            (NAMES[0], &self.links),
            (NAMES[1], &self.shadows),
            (NAMES[2], &self.dirty),
            (NAMES[3], &self.outbox),
            (NAMES[4], &self.conflicts),
        ]
    }

    /// A batch that is on disk (not only with the operating system) when
    /// its commit returns: for what must survive the machine, not only the
    /// process (the outbox before a push, a parked conflict).
    pub fn synced_batch(&self) -> fjall::OwnedWriteBatch {
        self.db.batch().durability(Some(PersistMode::SyncData))
    }

    /// Moves what a state written before this store kept in sled's trees of
    /// the same names, then drops those trees. Copying is idempotent and the
    /// copy is on disk before a tree is dropped, so a kill at any point
    /// leaves every entry in one store or the other, and the next start
    /// finishes the move.
    pub fn migrate(&self, sled: &sled::Db) -> Result<()> {
        let present: Vec<Vec<u8>> = sled.tree_names().into_iter().map(|n| n.to_vec()).collect();
        for (name, into) in self.named() {
            if !present.iter().any(|n| n.as_slice() == name.as_bytes()) {
                continue;
            }
            let tree = sled.open_tree(name)?;
            let mut batch = self.db.batch();
            let mut entries = 0usize;
            for item in tree.iter() {
                let (k, v) = item?;
                batch.insert(into, k.to_vec(), v.to_vec());
                entries += 1;
                if batch.len() >= 10_000 {
                    std::mem::replace(&mut batch, self.db.batch()).commit()?;
                }
            }
            batch.commit()?;
            self.db.persist(PersistMode::SyncAll)?;
            tracing::info!(tree = name, entries, "moved from sled");
            drop(tree);
            sled.drop_tree(name)?;
        }
        Ok(())
    }
}
