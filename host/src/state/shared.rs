//! What daemons sharing a state share beyond their jobs: connectors
//! uploaded to any of them, and each platform credential's request budget
//! and rate (see [`crate::runtime::rate::Ledger`]). Kept in the state like
//! the rest; used only where several daemons share it.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::store::{Batch, StoreExt, Tree};
use super::{key, Result, State};
use crate::runtime::rate::{Ledger, Rate};

fn sha_key(name: &str) -> Vec<u8> {
    key(&["connector_sha256", name])
}

fn budget_key(rate_key: &str, day: &str) -> Vec<u8> {
    key(&["budget", day, rate_key])
}

fn bucket_key(rate_key: &str) -> Vec<u8> {
    key(&["bucket", rate_key])
}

/// A shared token bucket: tokens left when last changed, and when (ms
/// since the epoch), and until when the platform asked for a pause.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
    paused_until_ms: i64,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl State {
    /// Keeps connector `name` (its component's bytes) for every daemon.
    pub fn put_connector(&self, name: &str, wasm: &[u8]) -> Result<()> {
        let sha = hex::encode(Sha256::digest(wasm));
        let mut batch = Batch::durable();
        batch.put(Tree::Connectors, name.as_bytes(), wasm.to_vec());
        batch.put(Tree::Meta, sha_key(name), sha.into_bytes());
        self.store.apply(batch)
    }

    /// Every connector kept for the daemons: name and SHA-256.
    pub fn connector_hashes(&self) -> Result<Vec<(String, String)>> {
        let prefix = sha_key("");
        self.store
            .scan_prefix(Tree::Meta, &prefix)
            .map(|item| {
                let (k, v) = item?;
                Ok((
                    String::from_utf8_lossy(&k[prefix.len()..]).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                ))
            })
            .collect()
    }

    /// Connector `name`'s component, if one is kept.
    pub fn connector(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.store.get(Tree::Connectors, name.as_bytes())
    }
}

impl Ledger for State {
    fn spend(&self, rate_key: &str, day: &str, budget: u64) -> std::result::Result<bool, String> {
        let mut spent = false;
        self.store
            .update(Tree::Meta, &budget_key(rate_key, day), &mut |old| {
                let n = old
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, u64::from_be_bytes);
                spent = n < budget;
                Some((if spent { n + 1 } else { n }).to_be_bytes().to_vec())
            })
            .map_err(|e| e.to_string())?;
        Ok(spent)
    }

    fn take(&self, rate_key: &str, rate: Rate) -> std::result::Result<Option<Duration>, String> {
        let mut wait = None;
        self.store
            .update(Tree::Meta, &bucket_key(rate_key), &mut |old| {
                let now = now_ms();
                let burst = rate.burst.max(1) as f64;
                let mut b: Bucket =
                    old.and_then(|v| serde_json::from_slice(v).ok())
                        .unwrap_or(Bucket {
                            tokens: burst,
                            at_ms: now,
                            paused_until_ms: 0,
                        });
                if b.paused_until_ms > now {
                    wait = Some(Duration::from_millis((b.paused_until_ms - now) as u64));
                    return Some(serde_json::to_vec(&b).expect("JSON"));
                }
                let elapsed = (now - b.at_ms).max(0) as f64 / 1000.0;
                b.tokens = (b.tokens + elapsed * rate.per_second).min(burst);
                b.at_ms = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    wait = None;
                } else {
                    let secs = (1.0 - b.tokens) / rate.per_second.max(1e-9);
                    wait = Some(Duration::from_secs_f64(secs.min(3600.0)));
                }
                Some(serde_json::to_vec(&b).expect("JSON"))
            })
            .map_err(|e| e.to_string())?;
        Ok(wait)
    }

    fn pause(&self, rate_key: &str, for_: Duration) {
        let until = now_ms() + for_.as_millis().min(i64::MAX as u128) as i64;
        let paused = self
            .store
            .update(Tree::Meta, &bucket_key(rate_key), &mut |old| {
                let mut b: Bucket = old
                    .and_then(|v| serde_json::from_slice(v).ok())
                    .unwrap_or_default();
                b.paused_until_ms = b.paused_until_ms.max(until);
                b.tokens = 0.0;
                b.at_ms = now_ms();
                Some(serde_json::to_vec(&b).expect("JSON"))
            });
        if let Err(e) = paused {
            tracing::error!("sharing a pause of {rate_key}: {e}");
        }
    }
}

const API_TOKENS: &[u8] = b"api_tokens";

fn admin_key(sha256: &str) -> Vec<u8> {
    key(&["admin_token", sha256])
}

impl State {
    /// The project tokens' file as kept for every daemon (see
    /// `daemon::access`), if any was made.
    pub fn api_tokens(&self) -> Result<Option<Vec<u8>>> {
        self.store.get(Tree::Meta, API_TOKENS)
    }

    /// Changes the project tokens' file atomically (`change` may be called
    /// again if another writer got there first).
    pub fn update_api_tokens(&self, change: &mut super::store::Change<'_>) -> Result<()> {
        self.store.update(Tree::Meta, API_TOKENS, change)?;
        self.store.flush()
    }

    /// Lets the admin token whose SHA-256 is `sha256` in on every daemon.
    pub fn add_admin_token(&self, sha256: &str, daemon: &str) -> Result<()> {
        self.store
            .put_durable(Tree::Meta, admin_key(sha256), daemon.as_bytes().to_vec())
    }

    /// Whether some daemon sharing the state has an admin token of this hash.
    pub fn is_admin_token(&self, sha256: &str) -> Result<bool> {
        Ok(self.store.get(Tree::Meta, &admin_key(sha256))?.is_some())
    }
}

fn delivery_key(fingerprint: &str) -> Vec<u8> {
    key(&["webhook", fingerprint])
}

impl State {
    /// Whether a webhook delivery (its fingerprint) is accepted here for the
    /// first time within `window`: it is then remembered, atomically, so
    /// that of the daemons it reaches only one accepts it.
    pub fn first_delivery(&self, fingerprint: &str, window: Duration) -> Result<bool> {
        let now = now_ms();
        let window = window.as_millis() as i64;
        let mut first = false;
        self.store
            .update(Tree::Meta, &delivery_key(fingerprint), &mut |old| {
                let at = old
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(i64::from_be_bytes);
                first = at.is_none_or(|at| now - at >= window);
                Some(
                    if first { now } else { at.unwrap_or(now) }
                        .to_be_bytes()
                        .to_vec(),
                )
            })?;
        Ok(first)
    }

    /// Forgets deliveries accepted more than `window` ago.
    pub fn prune_deliveries(&self, window: Duration) -> Result<usize> {
        let cutoff = now_ms() - window.as_millis() as i64;
        let prefix = delivery_key("");
        let mut batch = Batch::new();
        for item in self.store.scan_prefix(Tree::Meta, &prefix) {
            let (k, v) = item?;
            let at = <[u8; 8]>::try_from(v.as_slice()).map_or(0, i64::from_be_bytes);
            if at < cutoff {
                batch.remove(Tree::Meta, k);
            }
        }
        let gone = batch.len();
        self.store.apply(batch)?;
        Ok(gone)
    }
}
