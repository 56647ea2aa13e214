//! The embedded store, the default: one folder, nothing to install. What a
//! sync writes per record (links, shadows, dirty pairs, the outbox, parked
//! conflicts) is in fjall, an LSM tree, in the folder's `pairs` (see
//! [`super::lsm`]); the rest is in sled, one tree per kind. A batch never
//! spans the two: each is one fjall batch or one sled transaction.

use std::ops::Bound;
use std::path::Path;

use fjall::Keyspace;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::lsm::Lsm;
use super::store::{Batch, Change, Entries, Op, Range, Store, Tree};
use super::{Result, StateError};

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

/// How long [`Local::open`] waits for a lock that may be on its way out.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether sled could not open for want of the folder's lock.
pub fn is_locked(e: &sled::Error) -> bool {
    e.to_string().contains("acquire lock")
}

pub(super) struct Local {
    path: String,
    db: sled::Db,
    lsm: Lsm,
    /// sled's trees, by [`Tree`] (the per-record ones are fjall's)
    trees: Vec<(Tree, sled::Tree)>,
    /// serialises [`Store::update`] of fjall's keyspaces (sled's trees have
    /// their own compare-and-swap)
    updating: std::sync::Mutex<()>,
}

impl Local {
    pub fn open(dir: &Path) -> Result<Local> {
        // sled's I/O threads can hold the folder's lock for a moment after
        // the last handle in this process (or a process that just exited)
        // let go: a lock still held after that is another process's.
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mib() << 20);
        let waited = std::time::Instant::now();
        let db = loop {
            match config.open() {
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
        let lsm = Lsm::open(&dir.join("pairs"), cache_mib())?;
        let mut trees = Vec::new();
        for tree in Tree::ALL.into_iter().filter(|t| !t.per_record()) {
            trees.push((tree, db.open_tree(tree.name())?));
        }
        Ok(Local {
            path: dir.display().to_string(),
            db,
            lsm,
            trees,
            updating: std::sync::Mutex::new(()),
        })
    }

    fn sled(&self, tree: Tree) -> &sled::Tree {
        &self
            .trees
            .iter()
            .find(|(t, _)| *t == tree)
            .expect("every tree that is not per record is sled's")
            .1
    }

    fn fjall(&self, tree: Tree) -> &Keyspace {
        match tree {
            Tree::Links => &self.lsm.links,
            Tree::Shadows => &self.lsm.shadows,
            Tree::Dirty => &self.lsm.dirty,
            Tree::Outbox => &self.lsm.outbox,
            Tree::Conflicts => &self.lsm.conflicts,
            _ => unreachable!("{} is sled's", tree.name()),
        }
    }

    fn apply_fjall(&self, batch: Batch) -> Result<()> {
        let mut out = if batch.durable {
            self.lsm.synced_batch()
        } else {
            self.lsm.db.batch()
        };
        for op in batch.ops {
            match op {
                Op::Put(tree, k, v) => out.insert(self.fjall(tree), k, v),
                Op::Remove(tree, k) => out.remove(self.fjall(tree), k),
            }
        }
        out.commit()?;
        Ok(())
    }

    fn apply_sled(&self, batch: Batch) -> Result<()> {
        let mut touched: Vec<Tree> = Vec::new();
        for op in &batch.ops {
            let (Op::Put(tree, ..) | Op::Remove(tree, _)) = op;
            if !touched.contains(tree) {
                touched.push(*tree);
            }
        }
        let trees: Vec<&sled::Tree> = touched.iter().map(|t| self.sled(*t)).collect();
        trees
            .as_slice()
            .transaction(|view| {
                for op in &batch.ops {
                    let at = |tree: &Tree| touched.iter().position(|t| t == tree).unwrap_or(0);
                    match op {
                        Op::Put(tree, k, v) => {
                            view[at(tree)].insert(k.as_slice(), v.as_slice())?;
                        }
                        Op::Remove(tree, k) => {
                            view[at(tree)].remove(k.as_slice())?;
                        }
                    }
                }
                Ok::<_, ConflictableTransactionError<StateError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StateError::Sled(e),
            })?;
        if batch.durable {
            self.db.flush()?;
        }
        Ok(())
    }

    /// Moves what a state written before fjall kept in sled's trees of the
    /// same names (see [`Lsm::migrate`]).
    fn migrate_pairs(&self) -> Result<()> {
        self.lsm.migrate(&self.db)
    }
}

fn owned(bound: &Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    bound.clone()
}

impl Store for Local {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(if tree.per_record() {
            self.fjall(tree).get(key)?.map(|v| v.to_vec())
        } else {
            self.sled(tree).get(key)?.map(|v| v.to_vec())
        })
    }

    fn apply(&self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let (fjall, sled): (Vec<Op>, Vec<Op>) = batch.ops.into_iter().partition(|op| {
            let (Op::Put(tree, ..) | Op::Remove(tree, _)) = op;
            tree.per_record()
        });
        // No batch of the state's spans both stores (debug builds check):
        // each is then atomic as a whole.
        debug_assert!(
            fjall.is_empty() || sled.is_empty(),
            "a batch spans both stores"
        );
        if !fjall.is_empty() {
            self.apply_fjall(Batch {
                ops: fjall,
                durable: batch.durable,
            })?;
        }
        if !sled.is_empty() {
            self.apply_sled(Batch {
                ops: sled,
                durable: batch.durable,
            })?;
        }
        Ok(())
    }

    fn scan(&self, tree: Tree, range: Range, reverse: bool) -> Entries<'_> {
        let (from, to) = (owned(&range.0), owned(&range.1));
        if tree.per_record() {
            let iter = self
                .fjall(tree)
                .range::<Vec<u8>, _>((from, to))
                .map(|guard| {
                    guard
                        .into_inner()
                        .map(|(k, v)| (k.to_vec(), v.to_vec()))
                        .map_err(StateError::from)
                });
            if reverse {
                Box::new(iter.rev())
            } else {
                Box::new(iter)
            }
        } else {
            let iter = self.sled(tree).range::<Vec<u8>, _>((from, to)).map(|item| {
                item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(StateError::from)
            });
            if reverse {
                Box::new(iter.rev())
            } else {
                Box::new(iter)
            }
        }
    }

    fn count(&self, tree: Tree, prefix: &[u8]) -> Result<usize> {
        Ok(if tree.per_record() {
            self.fjall(tree).prefix(prefix).count()
        } else if prefix.is_empty() {
            self.sled(tree).len()
        } else {
            self.sled(tree).scan_prefix(prefix).count()
        })
    }

    fn update(&self, tree: Tree, key: &[u8], change: &mut Change<'_>) -> Result<Option<Vec<u8>>> {
        if tree.per_record() {
            let _one = self.updating.lock().unwrap_or_else(|e| e.into_inner());
            let old = self.get(tree, key)?;
            let new = change(old.as_deref());
            let mut batch = Batch::new();
            match &new {
                Some(v) => batch.put(tree, key, v.clone()),
                None => batch.remove(tree, key),
            }
            self.apply(batch)?;
            return Ok(new);
        }
        let new = self.sled(tree).update_and_fetch(key, change)?;
        Ok(new.map(|v| v.to_vec()))
    }

    fn next_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    fn skip_ids(&self, floor: u64) -> Result<()> {
        while self.db.generate_id()? < floor {}
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.lsm.db.persist(fjall::PersistMode::SyncAll)?;
        self.db.flush()?;
        Ok(())
    }

    fn migrate_legacy(&self) -> Result<()> {
        self.migrate_pairs()
    }

    fn location(&self) -> String {
        self.path.clone()
    }
}
