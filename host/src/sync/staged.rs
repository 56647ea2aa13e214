//! What one read of a side brought back: the records that need planning
//! appended to a scratch file, and in memory only a 16-byte hash per record
//! read (and an offset per record kept), so that a run's memory is a small
//! constant per record, not the records themselves.
//!
//! A linked record that holds exactly what its shadow holds (fields and
//! version) is kept only as seen: it needs no planning, and a complete scan
//! that did not see a linked record says it was deleted.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::core::value::Record;
use crate::state::StateError;

/// A record's id, hashed: what the in-memory sets hold. 128 bits make a
/// collision between two ids of one table practically impossible.
pub fn id_hash(id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes())
}

pub struct Records {
    file: File,
    /// end of the file
    len: u64,
    /// kept records: id hash to the offset of the latest copy
    kept: HashMap<u128, u64>,
    /// every id read, kept or unchanged
    seen: HashSet<u128>,
}

/// A place in a walk through the kept records (see [`Records::batch_after`]).
pub type Position = u64;

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
            kept: HashMap::new(),
            seen: HashSet::new(),
        })
    }

    /// Keeps `record`, replacing what an earlier page brought of it.
    pub fn put(&mut self, record: &Record) -> Result<(), StateError> {
        let mut bytes = vec![0u8; 4];
        serde_json::to_writer(&mut bytes, record).expect("records serialize");
        let n = (bytes.len() - 4) as u32;
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        self.file.write_all(&bytes).map_err(io)?;
        let hash = id_hash(&record.id);
        self.kept.insert(hash, self.len);
        self.seen.insert(hash);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Marks `id` as seen, holding what its shadow holds.
    pub fn put_unchanged(&mut self, id: &str) {
        let hash = id_hash(id);
        self.kept.remove(&hash);
        self.seen.insert(hash);
    }

    /// The record `id` as read, if it was read and is not unchanged.
    pub fn get(&self, id: &str) -> Result<Option<Record>, StateError> {
        match self.kept.get(&id_hash(id)) {
            Some(&at) => Ok(Some(self.read_at(at)?.0)),
            None => Ok(None),
        }
    }

    /// Whether `id` was read at all (unchanged or not).
    pub fn contains(&self, id: &str) -> bool {
        self.seen.contains(&id_hash(id))
    }

    /// Records read, unchanged ones included.
    pub fn len(&self) -> u64 {
        self.seen.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// The record at `at`, and where the next one starts.
    fn read_at(&self, at: u64) -> Result<(Record, u64), StateError> {
        let mut len = [0u8; 4];
        self.file.read_exact_at(&mut len, at).map_err(io)?;
        let n = u32::from_le_bytes(len) as usize;
        let mut json = vec![0u8; n];
        self.file.read_exact_at(&mut json, at + 4).map_err(io)?;
        let record = serde_json::from_slice(&json).map_err(|e| StateError::Corrupt {
            key: format!("scratch record at {at}"),
            reason: e.to_string(),
        })?;
        Ok((record, at + 4 + n as u64))
    }

    /// Up to `n` kept records from `from` (the start when `None`), in the
    /// order they were read, and where the next batch starts (`None` at the
    /// end). A copy an earlier page brought of a record seen again is skipped.
    pub fn batch_after(
        &self,
        from: Option<Position>,
        n: usize,
    ) -> Result<(Vec<Record>, Option<Position>), StateError> {
        let mut at = from.unwrap_or(0);
        let mut out = Vec::new();
        while at < self.len && out.len() < n {
            let (record, next) = self.read_at(at)?;
            if self.kept.get(&id_hash(&record.id)) == Some(&at) {
                out.push(record);
            }
            at = next;
        }
        Ok((out, (at < self.len).then_some(at)))
    }

    /// Every kept record, `n` at a time in memory.
    pub fn each(&self, n: usize) -> impl Iterator<Item = Result<Record, StateError>> + '_ {
        let mut from = Some(0);
        let mut buffer = std::collections::VecDeque::new();
        std::iter::from_fn(move || {
            while buffer.is_empty() {
                let at = from?;
                match self.batch_after(Some(at), n) {
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
        assert_eq!(r.len(), 2);
        assert_eq!(
            r.get("a").unwrap().unwrap().fields["Name"],
            Value::Text("A2".into())
        );
        assert!(r.get("b").unwrap().is_none() && r.contains("b"));
        assert!(r.get("c").unwrap().is_none() && !r.contains("c"));
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
    }
}
