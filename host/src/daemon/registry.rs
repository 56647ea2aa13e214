//! The connectors a daemon serves, swapped in without a restart.
//!
//! A connector is `NAME.wasm` in the connectors folder. A new or changed file
//! (or an upload) is compiled in the background, checked — contract version,
//! `describe` — and swapped in atomically: a run holds the `Arc` of the version
//! it opened, so runs in flight finish on the old version and new runs get the
//! new one. A component that fails the checks is rejected with the reason and
//! the old version goes on serving.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use std::time::Duration;

use serde::Serialize;

use crate::runtime::{LoadedConnector, Runtime};

#[derive(Clone)]
pub struct Registry {
    dir: PathBuf,
    runtime: Runtime,
    loaded: Arc<RwLock<HashMap<String, Entry>>>,
    /// serializes loads, so two changes to one file never race
    loading: Arc<tokio::sync::Mutex<()>>,
    /// files rejected, by stamp, so that a broken file is not retried every scan
    rejected: Arc<parking_lot::Mutex<HashMap<String, (u64, std::time::SystemTime)>>>,
}

#[derive(Clone)]
struct Entry {
    connector: Arc<LoadedConnector>,
    /// size and modification time of the file it came from
    stamp: Option<(u64, std::time::SystemTime)>,
}

/// What `GET /connectors` shows of one connector.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorInfo {
    pub name: String,
    pub version: String,
    pub contract: String,
    pub sha256: String,
    pub loaded_at: String,
    pub capabilities: Vec<&'static str>,
    pub hosts: Vec<String>,
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    Loaded { name: String, version: String },
    Rejected { name: String, reason: String },
}

fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// A connector's name is its file stem: letters, digits, `-` and `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Registry {
    pub fn new(dir: PathBuf, runtime: Runtime) -> Registry {
        Registry {
            dir,
            runtime,
            loaded: Default::default(),
            loading: Default::default(),
            rejected: Default::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current version of connector `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedConnector>> {
        self.loaded.read().get(name).map(|e| e.connector.clone())
    }

    pub fn list(&self) -> Vec<ConnectorInfo> {
        let mut list: Vec<ConnectorInfo> = self
            .loaded
            .read()
            .iter()
            .map(|(name, e)| {
                let c = &e.connector;
                ConnectorInfo {
                    name: name.clone(),
                    version: c.descriptor.version.clone(),
                    contract: c.contract.clone(),
                    sha256: c.hash.clone(),
                    loaded_at: c
                        .loaded_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    capabilities: crate::runtime::json::capability_names(c.descriptor.capabilities),
                    hosts: c.descriptor.hosts.clone(),
                }
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Loads every `.wasm` in the folder whose file changed since it was loaded.
    pub async fn scan(&self) -> Vec<Swap> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        paths.sort();
        let mut swaps = Vec::new();
        for path in paths {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(String::from) else {
                continue;
            };
            if !valid_name(&name) {
                continue;
            }
            let current = stamp(&path);
            let known = self.loaded.read().get(&name).map(|e| e.stamp);
            if known == Some(current) || self.rejected.lock().get(&name).copied() == current {
                continue;
            }
            match tokio::fs::read(&path).await {
                Ok(bytes) => swaps.push(self.install(&name, bytes, current, false).await),
                Err(e) => swaps.push(Swap::Rejected {
                    name,
                    reason: e.to_string(),
                }),
            }
        }
        swaps
    }

    /// Compiles and checks `bytes` as connector `name` and swaps it in; with
    /// `write`, also saves it as `NAME.wasm` (an upload).
    pub async fn install(
        &self,
        name: &str,
        bytes: Vec<u8>,
        stamp_hint: Option<(u64, std::time::SystemTime)>,
        write: bool,
    ) -> Swap {
        let _guard = self.loading.lock().await;
        let origin = format!("{name}.wasm");
        match self.runtime.load_bytes(&origin, bytes.clone()).await {
            Ok(connector) => {
                let mut file_stamp = stamp_hint;
                if write {
                    let path = self.dir.join(&origin);
                    let tmp = self.dir.join(format!(".{origin}.upload"));
                    if let Err(e) =
                        std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, &path))
                    {
                        return Swap::Rejected {
                            name: name.into(),
                            reason: format!("saving {}: {e}", path.display()),
                        };
                    }
                    file_stamp = stamp(&path);
                }
                let version = connector.descriptor.version.clone();
                self.loaded.write().insert(
                    name.to_string(),
                    Entry {
                        connector,
                        stamp: file_stamp,
                    },
                );
                Swap::Loaded {
                    name: name.into(),
                    version,
                }
            }
            Err(e) => {
                if let Some(s) = stamp_hint {
                    self.rejected.lock().insert(name.to_string(), s);
                }
                Swap::Rejected {
                    name: name.into(),
                    reason: crate::runtime::one_line(&e.to_string()),
                }
            }
        }
    }

    /// Rescans the folder every `every` until `stop` fires, reporting swaps.
    pub async fn watch(
        self,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
        on_swap: impl Fn(Swap) + Send + 'static,
    ) {
        loop {
            for swap in self.scan().await {
                on_swap(swap);
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
