//! What one read of a side brought back: the records that need planning
//! appended to a scratch file, and in memory only a 16-byte hash and an
//! 8-byte offset per record read, so that a run's memory is a small constant
//! per record, not the records themselves.
//!
//! A linked record that holds exactly what its shadow holds (fields and
//! version) is kept only as seen: it needs no planning, and a complete scan
//! that did not see a linked record says it was deleted. A record whose
//! copy was kept earlier in the read is kept again whole, whatever it holds:
//! the earlier copy may be planned (and written) before the read is over.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use growable_bloom_filter::GrowableBloom;

use crate::core::value::Record;
use crate::state::StateError;

/// A record's id, hashed: what the in-memory sets hold. 128 bits make a
/// collision between two ids of one table practically impossible. Two
/// `u64`s, not a `u128`: aligned to 8 bytes, a map entry with an offset
/// takes 24 bytes instead of 32.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdHash(u64, u64);

impl Hash for IdHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// The hasher of sets keyed by [`IdHash`]: the key is a hash already.
#[derive(Default)]
pub struct Passthrough(u64);

impl Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub type IdSet = HashSet<IdHash, BuildHasherDefault<Passthrough>>;
type IdMap = HashMap<IdHash, u64, BuildHasherDefault<Passthrough>>;

/// Seeded per process: ids come from platforms, and a platform that could
/// predict the hashes could send ids that all land in one bucket.
pub fn id_hash(id: &str) -> IdHash {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(rand::random);
    let h = xxhash_rust::xxh3::xxh3_128_with_seed(id.as_bytes(), seed);
    IdHash((h >> 64) as u64, h as u64)
}

/// The offset of a record seen unchanged: read, not kept.
const UNCHANGED: u64 = u64::MAX;

pub struct Records {
    file: File,
    /// end of the file
    len: u64,
    /// every id read with the offset of its kept copy, or [`UNCHANGED`]: in
    /// the order read until [`Records::seal`], then sorted by id hash with
    /// only the latest of each id. 24 bytes a record: a hash map took up to
    /// twice that (its table doubles), and both tables while it grew.
    read: Vec<(IdHash, u64)>,
    /// after the seal (empty before it), where in `read` each run of ids starting with the
    /// same `bits` bits begins: a lookup reads one slot here and searches
    /// a few entries, not the whole vector (a binary search of a million
    /// ids made a first sync of a million records 30% slower)
    starts: Vec<u32>,
    bits: u32,
    /// what is put after the seal (records an earlier run could not
    /// deliver): few, and looked up first
    late: IdMap,
    /// the ids kept so far: a filter, about 2 bytes a record, whose rare
    /// false "yes" only keeps a record whole that needed no planning
    kept_ids: GrowableBloom,
}

/// A place in a walk through the kept records (see [`Records::batch_after`]).
pub type Position = u64;

/// A kept record and where it is kept.
pub type Placed = (Position, Record);

fn io(e: std::io::Error) -> StateError {
    StateError::Scratch(e.to_string())
}

impl Records {
    /// Records kept in a new file under `dir`, removed when dropped (the
    /// file is unlinked at once: nothing outlives the run, even a kill -9).
    pub fn new(dir: &Path) -> Result<Records, StateError> {
        std::fs::create_dir_all(dir).map_err(io)?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("read-{}-{n}", std::process::id()));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        let _ = std::fs::remove_file(&path);
        Ok(Records {
            file,
            len: 0,
            read: Vec::new(),
            starts: Vec::new(),
            bits: 0,
            late: IdMap::default(),
            kept_ids: GrowableBloom::new(0.001, 10_000),
        })
    }

    /// Keeps `record`, replacing what an earlier page brought of it.
    pub fn put(&mut self, record: &Record) -> Result<(), StateError> {
        let mut bytes = crate::state::encode_record(record, vec![0u8; 4]);
        let id = id_hash(&record.id);
        let mut head = (bytes.len() - 4) as u32;
        if !self.kept_ids.insert(id) {
            head |= AGAIN;
        }
        bytes[..4].copy_from_slice(&head.to_le_bytes());
        self.file.write_all(&bytes).map_err(io)?;
        self.note(id, self.len);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Whether the read is over ([`Records::seal`]).
    fn sealed(&self) -> bool {
        !self.starts.is_empty()
    }

    fn note(&mut self, id: IdHash, at: u64) {
        if self.sealed() {
            self.late.insert(id, at);
        } else {
            self.read.push((id, at));
        }
    }

    /// Ends the read: sorts the ids, keeping the latest of each (a record
    /// read twice, as pages shift under a read, is the copy read last).
    /// Lookups need it; puts after it are kept aside.
    pub fn seal(&mut self) {
        if self.sealed() {
            return;
        }
        // stable: among equal ids, the order read; of each run of one id,
        // the slot kept takes the copy read last
        self.read.sort_by_key(|(id, _)| *id);
        self.read.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                *kept = *later;
            }
            same
        });
        let kept = self.read.len();
        if self.read.capacity() > kept + kept / 4 {
            self.read.shrink_to_fit();
        }
        // about 8 ids a run: 0.5 bytes a record
        self.bits = (kept / 8).max(1).ilog2();
        let runs = 1usize << self.bits;
        self.starts = Vec::with_capacity(runs + 1);
        let mut at = 0;
        for run in 0..runs {
            while at < kept && self.run_of(&self.read[at].0) < run {
                at += 1;
            }
            self.starts.push(at as u32);
        }
        self.starts.push(kept as u32);
    }

    fn run_of(&self, id: &IdHash) -> usize {
        match self.bits {
            0 => 0,
            bits => (id.0 >> (64 - bits)) as usize,
        }
    }

    /// `id`'s place in the sealed, sorted ids.
    fn find(&self, id: &IdHash) -> Option<usize> {
        let run = self.run_of(id);
        let (from, to) = (self.starts[run] as usize, self.starts[run + 1] as usize);
        self.read[from..to]
            .binary_search_by_key(id, |(h, _)| *h)
            .ok()
            .map(|i| from + i)
    }

    /// Where id `id` is kept ([`UNCHANGED`] if kept as seen), if it was read.
    fn lookup(&self, id: &IdHash) -> Option<u64> {
        assert!(
            self.sealed(),
            "a read's records are looked up after the read is sealed"
        );
        if let Some(&at) = self.late.get(id) {
            return Some(at);
        }
        self.find(id).map(|i| self.read[i].1)
    }

    /// Whether a copy of `id` may have been kept earlier in this read: then
    /// another is kept whole, even one that holds what its shadow holds.
    pub fn kept_before(&self, id: &str) -> bool {
        self.kept_ids.contains(id_hash(id))
    }

    /// Marks `id` as seen, holding what its shadow holds.
    pub fn put_unchanged(&mut self, id: &str) {
        self.note(id_hash(id), UNCHANGED);
    }

    /// The record `id` as read, if it was read and is not unchanged.
    pub fn get(&self, id: &str) -> Result<Option<Record>, StateError> {
        match self.lookup(&id_hash(id)) {
            Some(at) if at != UNCHANGED => Ok(Some(self.read_at(at)?.0)),
            _ => Ok(None),
        }
    }

    /// Whether `id` was read at all (unchanged or not).
    pub fn contains(&self, id: &str) -> bool {
        self.lookup(&id_hash(id)).is_some()
    }

    /// Records read, unchanged ones included: each id once after the
    /// seal; before it (progress during the read), each copy.
    pub fn len(&self) -> u64 {
        let late = self
            .late
            .keys()
            .filter(|id| self.find(id).is_none())
            .count();
        (self.read.len() + late) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The record at `at`, and where the next one starts.
    fn read_at(&self, at: u64) -> Result<(Record, u64), StateError> {
        read_at(&self.file, at).map(|(record, _, next)| (record, next))
    }

    /// Where the next record put will be kept: the records put so far end
    /// here (what a [`Tail`] may read up to).
    pub fn end(&self) -> u64 {
        self.len
    }

    /// A reader of the records as they are put, from the first: a run that
    /// writes while the source is still being read takes them from here.
    pub fn tail(&self) -> Result<Tail, StateError> {
        Ok(Tail {
            file: self.file.try_clone().map_err(io)?,
            at: 0,
        })
    }

    /// Up to `n` kept records from `from` (the start when `None`), in the
    /// order they were read, and where the next batch starts (`None` at the
    /// end). A copy an earlier page brought of a record seen again is skipped.
    pub fn batch_after(
        &self,
        from: Option<Position>,
        n: usize,
    ) -> Result<(Vec<Record>, Option<Position>), StateError> {
        let (placed, next) = self.placed_after(from, n)?;
        Ok((placed.into_iter().map(|(_, r)| r).collect(), next))
    }

    /// [`Records::batch_after`], each record with where it is kept (for
    /// [`Records::at`]).
    pub fn placed_after(
        &self,
        from: Option<Position>,
        n: usize,
    ) -> Result<(Vec<Placed>, Option<Position>), StateError> {
        let mut at = from.unwrap_or(0);
        let mut out = Vec::new();
        while at < self.len && out.len() < n {
            let (record, next) = self.read_at(at)?;
            if self.lookup(&id_hash(&record.id)) == Some(at) {
                out.push((at, record));
            }
            at = next;
        }
        Ok((out, (at < self.len).then_some(at)))
    }

    /// The record kept at `at` (a place [`Records::placed_after`] gave).
    pub fn at(&self, at: Position) -> Result<Record, StateError> {
        Ok(self.read_at(at)?.0)
    }

    /// Every kept record, `n` at a time in memory.
    pub fn each(&self, n: usize) -> impl Iterator<Item = Result<Record, StateError>> + '_ {
        self.each_placed(n).map(|r| r.map(|(_, record)| record))
    }

    /// Every kept record with where it is kept, `n` at a time in memory.
    pub fn each_placed(&self, n: usize) -> impl Iterator<Item = Result<Placed, StateError>> + '_ {
        let mut from = Some(0);
        let mut buffer = std::collections::VecDeque::new();
        std::iter::from_fn(move || {
            while buffer.is_empty() {
                let at = from?;
                match self.placed_after(Some(at), n) {
                    Ok((batch, next)) => {
                        from = next;
                        buffer.extend(batch);
                    }
                    Err(e) => {
                        from = None;
                        return Some(Err(e));
                    }
                }
            }
            buffer.pop_front().map(Ok)
        })
    }
}

/// The bit of a kept record's length that says a copy of it may have been
/// kept before it (records are far smaller than 2 GiB).
const AGAIN: u32 = 1 << 31;

/// The record at `at` of a scratch file, whether a copy of it may have been
/// kept before, and where the next one starts.
fn read_at(file: &File, at: u64) -> Result<(Record, bool, u64), StateError> {
    let mut head = [0u8; 4];
    file.read_exact_at(&mut head, at).map_err(io)?;
    let head = u32::from_le_bytes(head);
    let n = (head & !AGAIN) as usize;
    let mut bytes = vec![0u8; n];
    file.read_exact_at(&mut bytes, at + 4).map_err(io)?;
    let record = crate::state::decode_record(&bytes).map_err(|reason| StateError::Corrupt {
        key: format!("scratch record at {at}"),
        reason,
    })?;
    Ok((record, head & AGAIN != 0, at + 4 + n as u64))
}

/// Reads a read's records in the order they were put, every copy, while
/// the read goes on (see [`Records::tail`]).
pub struct Tail {
    file: File,
    at: u64,
}

impl Tail {
    /// Up to `n` records put after the last one taken and before `end` (a
    /// [`Records::end`] seen after they were put), each with whether a copy
    /// of it may have been put before it.
    pub fn take(&mut self, end: u64, n: usize) -> Result<Vec<(Record, bool)>, StateError> {
        let mut out = Vec::new();
        while self.at < end && out.len() < n {
            let (record, again, next) = read_at(&self.file, self.at)?;
            out.push((record, again));
            self.at = next;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::value::{Fields, Value};

    fn record(id: &str, name: &str) -> Record {
        let mut fields = Fields::new();
        fields.insert("Name".into(), Value::Text(name.into()));
        Record {
            id: id.into(),
            version: None,
            updated_at: None,
            deleted: false,
            fields,
        }
    }

    fn dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("synchost-staged-{}", std::process::id()))
    }

    #[test]
    fn kept_unchanged_and_absent_are_told_apart() {
        let mut r = Records::new(&dir()).unwrap();
        r.put(&record("a", "A")).unwrap();
        r.put_unchanged("b");
        // A record seen again keeps its latest version, counted once.
        r.put(&record("a", "A2")).unwrap();
        r.seal();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r.get("a").unwrap().unwrap().fields["Name"],
            Value::Text("A2".into())
        );
        assert!(r.get("b").unwrap().is_none() && r.contains("b"));
        assert!(r.get("c").unwrap().is_none() && !r.contains("c"));
    }

    /// Whatever the order of copies of an id, the last one read is the one
    /// kept; what is put after the seal (restored records) wins over it.
    #[test]
    fn the_last_copy_read_is_kept_and_later_puts_win() {
        let mut r = Records::new(&dir()).unwrap();
        for i in 0..1000 {
            r.put(&record(&format!("x{i}"), "first")).unwrap();
        }
        for i in (0..1000).step_by(3) {
            r.put_unchanged(&format!("x{i}"));
        }
        for i in (0..1000).step_by(6) {
            r.put(&record(&format!("x{i}"), "third")).unwrap();
        }
        assert_eq!(
            r.len(),
            1000 + 334 + 167,
            "before the seal, each copy counts"
        );
        r.seal();
        assert_eq!(r.len(), 1000);
        for i in 0..1000 {
            let got = r.get(&format!("x{i}")).unwrap();
            let name = got.map(|g| g.fields["Name"].clone());
            let want = match (i % 6, i % 3) {
                (0, _) => Some(Value::Text("third".into())),
                (_, 0) => None,
                _ => Some(Value::Text("first".into())),
            };
            assert_eq!(name, want, "x{i}");
            assert!(r.contains(&format!("x{i}")));
        }
        assert_eq!(r.each(7).count(), 1000 - 334 + 167);
        r.put(&record("x3", "restored")).unwrap();
        r.put(&record("new", "restored")).unwrap();
        assert_eq!(r.len(), 1001);
        assert_eq!(
            r.get("x3").unwrap().unwrap().fields["Name"],
            Value::Text("restored".into())
        );
        assert!(r.contains("new") && !r.contains("x1000"));
    }

    /// A tail sees each copy put, in order, as far as the end it is given.
    #[test]
    fn a_tail_reads_every_copy_as_it_is_put() {
        let mut r = Records::new(&dir()).unwrap();
        let mut tail = r.tail().unwrap();
        r.put(&record("a", "1")).unwrap();
        r.put_unchanged("b");
        let end = r.end();
        r.put(&record("c", "3")).unwrap();
        let ids = |v: Vec<(Record, bool)>| {
            v.into_iter()
                .map(|(r, again)| (r.id, again))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(tail.take(end, 10).unwrap()), [("a".into(), false)]);
        assert!(tail.take(end, 10).unwrap().is_empty());
        assert!(r.kept_before("a") && !r.kept_before("b"));
        r.put(&record("a", "again")).unwrap();
        assert_eq!(ids(tail.take(r.end(), 1).unwrap()), [("c".into(), false)]);
        // The copy kept again says so.
        assert_eq!(ids(tail.take(r.end(), 10).unwrap()), [("a".into(), true)]);
    }

    #[test]
    fn batches_walk_every_kept_record_once() {
        let mut r = Records::new(&dir()).unwrap();
        for i in 0..25 {
            if i % 5 == 0 {
                r.put_unchanged(&format!("r{i:02}"));
            } else {
                r.put(&record(&format!("r{i:02}"), "x")).unwrap();
            }
        }
        // Seen again: the later copy is the one walked, once.
        r.put(&record("r01", "again")).unwrap();
        // Kept first, then seen unchanged: not walked.
        r.put_unchanged("r02");
        r.seal();
        let records: Vec<Record> = r.each(3).map(|x| x.unwrap()).collect();
        let mut ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        let want: Vec<String> = (0..25)
            .filter(|i| i % 5 != 0 && *i != 2)
            .map(|i| format!("r{i:02}"))
            .collect();
        assert_eq!(ids, want);
        let r01 = records.iter().find(|r| r.id == "r01").unwrap();
        assert_eq!(r01.fields["Name"], Value::Text("again".into()));
        // A place handed out reads back the record it was handed out with.
        for placed in r.each_placed(4) {
            let (at, record) = placed.unwrap();
            assert_eq!(r.at(at).unwrap(), record);
        }
    }
}
