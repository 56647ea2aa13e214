//! Notifications waiting to reach `--notify-url`: kept until the receiver
//! answers 2xx (or they are given up), so that a daemon restarted meanwhile
//! sends them still. In the `meta` tree, in the order they were made.

use super::store::{StoreExt, Tree};
use super::{key, Result, State};

fn notice_key(id: u64) -> Vec<u8> {
    key(&["notice", &format!("{id:020}")])
}

impl State {
    /// Keeps `body` to be sent; returns its id.
    pub fn put_notice(&self, body: &serde_json::Value) -> Result<u64> {
        let id = self.next_id()?;
        self.store.put(
            Tree::Meta,
            notice_key(id),
            serde_json::to_vec(body).expect("JSON"),
        )?;
        Ok(id)
    }

    /// Notices not yet delivered, oldest first.
    pub fn notices(&self) -> Result<Vec<(u64, serde_json::Value)>> {
        let prefix = key(&["notice", ""]);
        let mut out = Vec::new();
        for item in self.store.scan_prefix(Tree::Meta, &prefix) {
            let (k, v) = item?;
            let id = String::from_utf8_lossy(&k[prefix.len()..])
                .parse()
                .unwrap_or_default();
            out.push((id, super::decode(&k, &v)?));
        }
        Ok(out)
    }

    pub fn remove_notice(&self, id: u64) -> Result<()> {
        self.store.delete(Tree::Meta, notice_key(id))
    }
}
