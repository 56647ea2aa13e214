//! What one read of a side brought back, kept on disk (a tree of the run's
//! scratch database) instead of in memory, so that a run's memory is a
//! function of its batch size, not of the table's size.
//!
//! A linked record that holds exactly what its shadow holds (fields and
//! version) is kept only as a mark that it was seen: it needs no planning,
//! and a complete scan that did not see a linked record says it was deleted.

use std::ops::Bound;

use crate::core::value::Record;
use crate::state::StateError;

/// The mark of a record seen unchanged.
const UNCHANGED: &[u8] = &[0];
/// The first byte of a kept record, followed by its JSON.
const KEPT: u8 = 1;

pub struct Records {
    tree: sled::Tree,
    /// records read, unchanged ones included
    read: u64,
}

impl Records {
    pub fn new(scratch: &sled::Db, name: &str) -> Result<Records, StateError> {
        let tree = scratch.open_tree(name)?;
        tree.clear()?;
        Ok(Records { tree, read: 0 })
    }

    /// Keeps `record`, replacing what an earlier page brought of it.
    pub fn put(&mut self, record: &Record) -> Result<(), StateError> {
        let mut bytes = Vec::with_capacity(256);
        bytes.push(KEPT);
        serde_json::to_writer(&mut bytes, record).expect("records serialize");
        if self.tree.insert(record.id.as_bytes(), bytes)?.is_none() {
            self.read += 1;
        }
        Ok(())
    }

    /// Marks `id` as seen, holding what its shadow holds.
    pub fn put_unchanged(&mut self, id: &str) -> Result<(), StateError> {
        if self.tree.insert(id.as_bytes(), UNCHANGED)?.is_none() {
            self.read += 1;
        }
        Ok(())
    }

    /// The record `id` as read, if it was read and is not unchanged.
    pub fn get(&self, id: &str) -> Result<Option<Record>, StateError> {
        match self.tree.get(id.as_bytes())? {
            Some(bytes) => decode(id.as_bytes(), &bytes),
            None => Ok(None),
        }
    }

    /// Whether `id` was read at all (unchanged or not).
    pub fn contains(&self, id: &str) -> Result<bool, StateError> {
        Ok(self.tree.contains_key(id.as_bytes())?)
    }

    /// Records read, unchanged ones included.
    pub fn len(&self) -> u64 {
        self.read
    }

    pub fn is_empty(&self) -> bool {
        self.read == 0
    }

    /// Up to `n` kept records after `after` (from the first when `None`), in
    /// id order.
    pub fn batch_after(&self, after: Option<&str>, n: usize) -> Result<Vec<Record>, StateError> {
        let start = match after {
            Some(id) => Bound::Excluded(id.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for item in self.tree.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (k, v) = item?;
            if let Some(record) = decode(&k, &v)? {
                out.push(record);
                if out.len() == n {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Every kept record, in id order, `n` at a time in memory.
    pub fn each(&self, n: usize) -> impl Iterator<Item = Result<Record, StateError>> + '_ {
        let mut after: Option<String> = None;
        let mut buffer = std::collections::VecDeque::new();
        let mut done = false;
        std::iter::from_fn(move || {
            if buffer.is_empty() && !done {
                match self.batch_after(after.as_deref(), n) {
                    Ok(batch) => {
                        done = batch.len() < n;
                        after = batch.last().map(|r| r.id.clone());
                        buffer.extend(batch);
                    }
                    Err(e) => {
                        done = true;
                        return Some(Err(e));
                    }
                }
            }
            buffer.pop_front().map(Ok)
        })
    }
}

fn decode(key: &[u8], bytes: &[u8]) -> Result<Option<Record>, StateError> {
    match bytes.split_first() {
        Some((&KEPT, json)) => {
            serde_json::from_slice(json)
                .map(Some)
                .map_err(|e| StateError::Corrupt {
                    key: String::from_utf8_lossy(key).into_owned(),
                    reason: e.to_string(),
                })
        }
        _ => Ok(None),
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

    #[test]
    fn kept_unchanged_and_absent_are_told_apart() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let mut r = Records::new(&db, "t").unwrap();
        r.put(&record("a", "A")).unwrap();
        r.put_unchanged("b").unwrap();
        // A record seen again keeps its latest version, counted once.
        r.put(&record("a", "A2")).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r.get("a").unwrap().unwrap().fields["Name"],
            Value::Text("A2".into())
        );
        assert!(r.get("b").unwrap().is_none() && r.contains("b").unwrap());
        assert!(r.get("c").unwrap().is_none() && !r.contains("c").unwrap());
    }

    #[test]
    fn batches_walk_every_kept_record_once_in_order() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let mut r = Records::new(&db, "t").unwrap();
        for i in 0..25 {
            if i % 5 == 0 {
                r.put_unchanged(&format!("r{i:02}")).unwrap();
            } else {
                r.put(&record(&format!("r{i:02}"), "x")).unwrap();
            }
        }
        let ids: Vec<String> = r.each(3).map(|x| x.unwrap().id).collect();
        let want: Vec<String> = (0..25)
            .filter(|i| i % 5 != 0)
            .map(|i| format!("r{i:02}"))
            .collect();
        assert_eq!(ids, want);
    }
}
