//! The one `wasmtime::Engine` of a host, its epoch clock, and the on-disk
//! cache of compiled components.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// How often the epoch advances: the granularity of the wall-time limit.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

pub fn new_engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Connectors' functions named for `perf report` (in /tmp/perf-PID.map):
    // how a connector author, or we, see where a connector spends its time.
    if perf_map() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Ok(Engine::new(&config)?)
}

/// `SYNCHOST_PERFMAP=1`: see [`new_engine`].
fn perf_map() -> bool {
    std::env::var_os("SYNCHOST_PERFMAP").is_some_and(|v| v != "0")
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("synchost-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn the epoch thread");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Compiled components on disk, keyed by the wasm's SHA-256 and the engine's
/// compatibility hash, so that a host upgrade never loads stale machine code.
pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Compiled,
    Cached,
}

impl ComponentCache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ComponentCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    /// The component for `wasm`, from the cache when it is there.
    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> anyhow::Result<(Component, String, Source)> {
        let hash = hex::encode(Sha256::digest(wasm));
        // `perf` names code in anonymous memory only, not in a mapped file:
        // a profiled run compiles afresh.
        let Some(dir) = self.dir.as_ref().filter(|_| !perf_map()) else {
            return Ok((Component::new(engine, wasm)?, hash, Source::Compiled));
        };
        let path = dir.join(format!("{hash}-{}.cwasm", self.engine_key));
        if path.exists() {
            // SAFETY: the file was written by `precompile_component` of an
            // engine with this compatibility hash, into a directory owned by
            // this host; its name binds it to the wasm's digest.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, hash, Source::Cached)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "cached component unusable, recompiling: {e}")
                }
            }
        }
        let compiled = engine.precompile_component(wasm)?;
        write_atomically(dir, &path, &compiled)?;
        // SAFETY: just produced by this engine.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, hash, Source::Compiled))
    }
}

/// Writes `path` (in `dir`, made if missing) whole or not at all: a file of
/// its own beside it, renamed over it, so a reader never sees half of it.
pub(crate) fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    // Unique per process and call: two loads of one component may race.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
