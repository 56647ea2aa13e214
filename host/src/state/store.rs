//! The one interface the state is kept behind: named trees of ordered keys
//! (bytes, compared byte by byte), read by key or by range, written in
//! atomic batches. [`State`](super::State) is written once against it; the
//! embedded default ([`super::local`]: sled and fjall in a folder) and
//! PostgreSQL ([`super::postgres`]) implement it, so both keep the same
//! keys, the same transaction boundaries (one batch is all-or-nothing in
//! both) and answer the same test suite (`state/tests.rs` runs on each).

use std::ops::Bound;

use super::Result;

/// The trees, each one kind of entry (see [`super::State`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tree {
    Links,
    Shadows,
    Dirty,
    Outbox,
    Conflicts,
    Checkpoints,
    Runs,
    RunsByJob,
    Audit,
    Jobs,
    Meta,
    /// connectors uploaded to a daemon, for every daemon sharing the state
    Connectors,
}

impl Tree {
    pub const ALL: [Tree; 12] = [
        Tree::Links,
        Tree::Shadows,
        Tree::Dirty,
        Tree::Outbox,
        Tree::Conflicts,
        Tree::Checkpoints,
        Tree::Runs,
        Tree::RunsByJob,
        Tree::Audit,
        Tree::Jobs,
        Tree::Meta,
        Tree::Connectors,
    ];

    /// The tree's name, as sled's tree, fjall's keyspace or PostgreSQL's
    /// `tree` column holds it.
    pub fn name(self) -> &'static str {
        match self {
            Tree::Links => "links",
            Tree::Shadows => "shadows",
            Tree::Dirty => "dirty",
            Tree::Outbox => "outbox",
            Tree::Conflicts => "conflicts",
            Tree::Checkpoints => "checkpoints",
            Tree::Runs => "runs",
            Tree::RunsByJob => "runs_by_job",
            Tree::Audit => "audit",
            Tree::Jobs => "jobs",
            Tree::Meta => "meta",
            Tree::Connectors => "connectors",
        }
    }

    /// Written on every record of a sync: the embedded store keeps these in
    /// fjall, the others in sled.
    pub fn per_record(self) -> bool {
        matches!(
            self,
            Tree::Links | Tree::Shadows | Tree::Dirty | Tree::Outbox | Tree::Conflicts
        )
    }
}

/// One change of a batch.
#[derive(Debug, Clone)]
pub enum Op {
    Put(Tree, Vec<u8>, Vec<u8>),
    Remove(Tree, Vec<u8>),
}

/// Changes applied all at once or not at all, in order (a later change of a
/// key wins over an earlier one).
#[derive(Debug, Default)]
pub struct Batch {
    pub ops: Vec<Op>,
    /// on disk (not only with the operating system) when applied: for what
    /// must survive the machine, not only the process
    pub durable: bool,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// A batch that is on disk when [`Store::apply`] returns.
    pub fn durable() -> Batch {
        Batch {
            ops: Vec::new(),
            durable: true,
        }
    }

    pub fn put(&mut self, tree: Tree, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put(tree, key.into(), value.into()));
    }

    pub fn remove(&mut self, tree: Tree, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Remove(tree, key.into()));
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

pub type Entry = (Vec<u8>, Vec<u8>);

/// Entries in key order (or its reverse), read as they are asked for.
pub type Entries<'a> = Box<dyn Iterator<Item = Result<Entry>> + 'a>;

/// How [`Store::update`] changes an entry: its value (if any) to the new
/// one (`None` removes it).
pub type Change<'a> = dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>> + 'a;

/// A range of keys.
pub type Range = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Every key that starts with `prefix`.
pub fn prefix_range(prefix: &[u8]) -> Range {
    (Bound::Included(prefix.to_vec()), after_prefix(prefix))
}

/// The bound just past every key that starts with `prefix`.
fn after_prefix(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

/// Where the state is kept.
pub trait Store: Send + Sync {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Applies every change of `batch`, atomically: after a crash at any
    /// instant, all of them are there or none is.
    fn apply(&self, batch: Batch) -> Result<()>;

    /// The entries of `tree` in `range`, in key order or (with `reverse`)
    /// its reverse.
    fn scan(&self, tree: Tree, range: Range, reverse: bool) -> Entries<'_>;

    /// How many keys of `tree` start with `prefix`.
    fn count(&self, tree: Tree, prefix: &[u8]) -> Result<usize>;

    /// Changes one entry atomically: `change` gets the current value and
    /// returns the new one (`None` removes it). It may be called more than
    /// once if another writer got there first, so it must only compute.
    /// Returns the value left.
    fn update(&self, tree: Tree, key: &[u8], change: &mut Change<'_>) -> Result<Option<Vec<u8>>>;

    /// A unique number, larger than every one handed out before.
    fn next_id(&self) -> Result<u64>;

    /// Makes every number [`Store::next_id`] hands out from now on larger
    /// than `floor`.
    fn skip_ids(&self, floor: u64) -> Result<()>;

    /// Waits until everything applied is on disk.
    fn flush(&self) -> Result<()>;

    /// Moves what a layout older than the state format's first number kept
    /// elsewhere (only the embedded store ever had one).
    fn migrate_legacy(&self) -> Result<()> {
        Ok(())
    }

    /// Where the state is, as a person names it (a folder, a database).
    fn location(&self) -> String;

    /// Leases on jobs, where several processes share this store; `None`
    /// where one process holds it alone (the embedded store's lock).
    fn leases(&self) -> Option<&dyn super::leases::Leases> {
        None
    }
}

/// One-entry writes and common reads, for every store.
pub trait StoreExt: Store {
    fn put(&self, tree: Tree, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Result<()> {
        let mut batch = Batch::new();
        batch.put(tree, key, value);
        self.apply(batch)
    }

    fn put_durable(
        &self,
        tree: Tree,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Result<()> {
        let mut batch = Batch::durable();
        batch.put(tree, key, value);
        self.apply(batch)
    }

    fn delete(&self, tree: Tree, key: impl Into<Vec<u8>>) -> Result<()> {
        let mut batch = Batch::new();
        batch.remove(tree, key);
        self.apply(batch)
    }

    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Entries<'_> {
        self.scan(tree, prefix_range(prefix), false)
    }

    fn scan_all(&self, tree: Tree) -> Entries<'_> {
        self.scan(tree, (Bound::Unbounded, Bound::Unbounded), false)
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_ends_past_every_key_it_starts() {
        assert_eq!(
            prefix_range(b"ab"),
            (
                Bound::Included(b"ab".to_vec()),
                Bound::Excluded(b"ac".to_vec())
            )
        );
        assert_eq!(after_prefix(&[b'a', 0xff]), Bound::Excluded(b"b".to_vec()));
        assert_eq!(after_prefix(&[0xff, 0xff]), Bound::Unbounded);
        assert_eq!(after_prefix(b""), Bound::Unbounded);
    }
}
