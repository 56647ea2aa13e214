//! The records a run wrote or was asked to change, as far back as a refused
//! create batch can need them (see `write::created_since`).
//!
//! Only records created shortly before a refusal are compared with this set,
//! so it keeps the latest [`KEEP`] ids, not all of a run's: an instance's
//! memory never shrinks, and a run of 1,000,000 records kept 1,000,000 ids
//! (tens of MiB per instance; BENCHMARKS.md, issue 10).
//!
//! Airtable takes at most 5 requests a second per base
//! (<https://airtable.com/developers/web/api/rate-limits>) and at most 10
//! records a create request
//! (<https://airtable.com/developers/web/api/create-records>): at most 3,000
//! records are created in a base within the landing window of a minute.
//! [`KEEP`] is over six times that. An id forgotten too early can only make
//! a refused batch's outcome unknown, which the host settles by reading:
//! never a create sent twice.

use std::collections::{HashMap, VecDeque};

/// Ids kept, the latest first forgotten last.
pub const KEEP: usize = 20_000;

pub struct Recent {
    /// each id kept, with how many times it is in `order`
    ids: HashMap<String, u32>,
    /// the ids as they were added, oldest first (an id added again is here
    /// again, so that it counts as recent)
    order: VecDeque<String>,
    keep: usize,
}

impl Default for Recent {
    fn default() -> Self {
        Recent::keeping(KEEP)
    }
}

impl Recent {
    pub fn keeping(keep: usize) -> Recent {
        Recent {
            ids: HashMap::new(),
            order: VecDeque::new(),
            keep: keep.max(1),
        }
    }

    pub fn insert(&mut self, id: String) {
        if self.order.len() == self.keep {
            if let Some(old) = self.order.pop_front() {
                if let Some(n) = self.ids.get_mut(&old) {
                    *n -= 1;
                    if *n == 0 {
                        self.ids.remove(&old);
                    }
                }
            }
        }
        *self.ids.entry(id.clone()).or_insert(0) += 1;
        self.order.push_back(id);
    }

    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains_key(id)
    }

    /// Distinct ids kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }
}

impl Extend<String> for Recent {
    fn extend<I: IntoIterator<Item = String>>(&mut self, ids: I) {
        for id in ids {
            self.insert(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_ids_and_forgets_the_oldest() {
        let mut r = Recent::keeping(3);
        r.extend(["a", "b", "c", "d"].map(String::from));
        assert!(!r.contains("a"));
        assert!(r.contains("b") && r.contains("c") && r.contains("d"));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn an_id_added_again_counts_as_recent() {
        let mut r = Recent::keeping(3);
        r.extend(["a", "b", "a", "c"].map(String::from));
        // The first "a" went to make room for "c"; the second stays.
        assert!(r.contains("a") && r.contains("b") && r.contains("c"));
        r.insert("d".into());
        assert!(
            r.contains("a") && !r.contains("b"),
            "b is older than the second a"
        );
        r.insert("e".into());
        assert!(!r.contains("a") && r.contains("c") && r.contains("d") && r.contains("e"));
    }

    #[test]
    fn a_million_writes_keep_a_bounded_set() {
        let mut r = Recent::default();
        for i in 0..1_000_000u32 {
            r.insert(format!("rec{i:014}"));
        }
        assert_eq!(r.len(), KEEP);
        assert!(r.contains(&format!("rec{:014}", 999_999)));
        assert!(!r.contains(&format!("rec{:014}", 0)));
    }
}
