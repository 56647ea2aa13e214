//! Helpers shared by the end-to-end tests: building connectors from source to
//! wasm, and a runtime with a private compile cache.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use synchost::runtime::{Connection, Runtime, RuntimeOptions, SecretProvider};

pub mod directus;
pub mod directus_suite;
pub mod guest;
pub mod hostile;
pub mod js;
pub mod probe;
pub mod python;

/// The workspace root.
pub fn root() -> PathBuf {
    synchost::dev::workspace_root()
        .canonicalize()
        .expect("workspace root")
}

/// Builds the connector crate `package` from source to wasm, once per test binary.
pub fn build_connector(package: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(package) {
        return path.clone();
    }
    let path = synchost::dev::build_connector(package).unwrap_or_else(|e| panic!("{e:#}"));
    built.insert(package.into(), path.clone());
    path
}

/// A runtime with a compile cache of its own under `target/`.
pub fn runtime() -> Runtime {
    let cache = root().join("target/test-cache");
    Runtime::new(RuntimeOptions {
        cache_dir: Some(cache),
        secrets: SecretProvider::default(),
        ..Default::default()
    })
    .expect("runtime")
}

/// A connection that redirects `origin` to a simulator on loopback, which
/// therefore must allow private networks.
pub fn simulated(origin: &str, sim_url: &str) -> Connection {
    Connection {
        endpoint_overrides: BTreeMap::from([(origin.to_string(), sim_url.to_string())]),
        allow_private_networks: true,
        ..Default::default()
    }
}

/// Binds secret `name` to a fresh environment variable holding `value`.
pub fn bind_secret(conn: &mut Connection, name: &str, value: &str) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let var = format!("SYNCHOST_TEST_{}_{n}", name.to_uppercase());
    // SAFETY: each call sets a variable of its own, never read concurrently
    // before it is set.
    unsafe { std::env::set_var(&var, value) };
    conn.secrets.insert(name.into(), format!("env:{var}"));
}

/// Reads every page of `entity`; returns the records and the final checkpoint.
pub async fn read_all(
    session: &mut synchost::runtime::Session,
    entity: &str,
    since: Option<String>,
) -> Result<(Vec<synchost::runtime::Record>, Option<String>), synchost::runtime::RuntimeError> {
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let req = synchost::runtime::ReadRequest {
            entity: entity.into(),
            cursor: cursor.take(),
            since: since.clone(),
            page_size: 100,
        };
        let page = session.read(&req).await?;
        records.extend(page.records);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((records, page.checkpoint)),
        }
    }
}

/// Panics unless every id in `records` is distinct; returns how many there are.
pub fn assert_unique(records: &[synchost::runtime::Record]) -> usize {
    let mut ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "a record was read twice");
    before
}
