//! One side of a run: its connector session, its schema, and reading it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use indicatif::ProgressBar;

use crate::core::merge::Side;
use crate::core::value::Record;
use crate::job::SideSpec;
use crate::runtime::{
    Capabilities, Connection, ConnectorError, LoadedConnector, ReadRequest, Runtime, RuntimeError,
    Session,
};
use crate::state::StateError;

use super::convert;
use super::staged::Records;

/// A side, opened for one run.
pub struct OpenSide {
    pub side: Side,
    pub platform: String,
    pub entity: String,
    pub connector: Arc<LoadedConnector>,
    pub session: Session,
    pub schema: crate::core::mapping::Schema,
    /// more instances of the connector, for write calls in flight beside
    /// the session's: opened when a batch first has work for them
    spares: Vec<Session>,
    runtime: Runtime,
    connection: Connection,
}

impl OpenSide {
    pub fn capable(&self, cap: Capabilities) -> bool {
        self.connector.descriptor.capabilities.contains(cap)
    }

    /// `n - 1` more instances to write through beside the session (which
    /// stays the side's). A spare that cannot be opened leaves fewer calls
    /// in flight, not a failed run. Give them back with [`Self::give_back`].
    pub async fn spares(&mut self, n: usize) -> Vec<Session> {
        while self.spares.len() + 1 < n {
            match self
                .runtime
                .session(&self.connector, &self.connection)
                .await
            {
                Ok(session) => self.spares.push(session),
                Err(e) => {
                    tracing::warn!(side = self.side.as_str(), error = %e, "another instance to write through could not be opened; writing through {}", self.spares.len() + 1);
                    break;
                }
            }
        }
        let keep = self.spares.len().saturating_sub(n.saturating_sub(1));
        self.spares.split_off(keep)
    }

    pub fn give_back(&mut self, spares: Vec<Session>) {
        self.spares.extend(spares);
    }
}

/// Connectors already loaded by someone else (the daemon's registry, which
/// swaps versions in without a restart).
pub trait ConnectorLookup: Send + Sync {
    fn lookup(&self, name: &str) -> Option<Arc<LoadedConnector>>;
}

/// Where connectors come from: a lookup of loaded ones, a folder of
/// `NAME.wasm`, or (in a source checkout) the connector crates of this
/// workspace, built on demand.
#[derive(Clone, Default)]
pub struct ConnectorSource {
    pub dir: Option<PathBuf>,
    pub loaded: Option<Arc<dyn ConnectorLookup>>,
}

impl std::fmt::Debug for ConnectorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorSource")
            .field("dir", &self.dir)
            .field("loaded", &self.loaded.is_some())
            .finish()
    }
}

impl ConnectorSource {
    fn name(spec: &SideSpec) -> String {
        spec.connector
            .clone()
            .unwrap_or_else(|| spec.platform.to_lowercase())
    }

    pub fn resolve(&self, spec: &SideSpec) -> anyhow::Result<PathBuf> {
        let name = Self::name(spec);
        if name.ends_with(".wasm") || name.contains('/') {
            return Ok(PathBuf::from(name));
        }
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{name}.wasm"));
            if path.exists() {
                return Ok(path);
            }
        }
        let package = format!("synchost-connector-{name}");
        if crate::dev::workspace_root()
            .join("connectors")
            .join(&name)
            .join("Cargo.toml")
            .exists()
        {
            return crate::dev::build_connector(&package);
        }
        anyhow::bail!(
            "no connector `{name}`: give a path to a .wasm file, or put {name}.wasm in the connectors folder{}",
            self.dir.as_ref().map(|d| format!(" ({})", d.display())).unwrap_or_default()
        )
    }

    /// The connector for `spec`: the loaded version if there is one, else loaded now.
    pub async fn connector(
        &self,
        spec: &SideSpec,
        runtime: &Runtime,
    ) -> anyhow::Result<Arc<LoadedConnector>> {
        if let Some(builtin) = runtime.builtin(&Self::name(spec)) {
            return Ok(builtin);
        }
        if let Some(loaded) = self
            .loaded
            .as_ref()
            .and_then(|l| l.lookup(&Self::name(spec)))
        {
            return Ok(loaded);
        }
        let path = self.resolve(spec)?;
        Ok(runtime.load(&path).await?)
    }
}

pub async fn open(
    side: Side,
    spec: &SideSpec,
    runtime: &Runtime,
    connectors: &ConnectorSource,
) -> anyhow::Result<OpenSide> {
    let entity = spec
        .entity
        .clone()
        .with_context(|| format!("{}.entity is missing", side.as_str()))?;
    let connector = connectors.connector(spec, runtime).await?;
    let mut session = runtime.session(&connector, &spec.connection).await?;
    session
        .check_entity(&entity)
        .await
        .with_context(|| format!("{}.entity of {}", side.as_str(), spec.platform))?;
    let schema = session
        .schema(&entity)
        .await
        .with_context(|| format!("reading the schema of {} {entity}", spec.platform))?;
    Ok(OpenSide {
        side,
        platform: spec.platform.clone(),
        entity,
        schema: convert::schema_from_wire(&schema),
        connector,
        session,
        spares: Vec::new(),
        runtime: runtime.clone(),
        connection: spec.connection.clone(),
    })
}

/// What one read of a side brought back.
pub struct ReadOutcome {
    pub records: Records,
    /// every page was read (a full scan that completed: deletes may be inferred)
    pub complete: bool,
    pub checkpoint: Option<String>,
    pub pages: u64,
}

/// How many times a read restarts from the first page when the platform's
/// cursor expires before the scan is through.
const MAX_RESTARTS: u32 = 3;

/// Tells a record that holds what its shadow holds (kept only as seen).
pub type Unchanged<'a> = &'a (dyn Fn(&Record) -> Result<bool, StateError> + Sync);

/// Told where the kept records end after each page (see [`Records::tail`]).
pub type Kept<'a> = &'a (dyn Fn(u64) + Sync);

/// Reads every page into `records`, one page (and the next, in flight) in
/// memory at a time; `since` makes it incremental. A record seen twice (a
/// restart, or an edit moving it between pages) keeps its latest version.
#[allow(clippy::too_many_arguments)]
pub async fn read(
    side: &mut OpenSide,
    since: Option<String>,
    page_size: u32,
    progress: &ProgressBar,
    records: Records,
    unchanged: Unchanged<'_>,
    kept: Kept<'_>,
) -> anyhow::Result<ReadOutcome> {
    let mut out = ReadOutcome {
        records,
        complete: false,
        checkpoint: None,
        pages: 0,
    };
    let OpenSide {
        session,
        side: which,
        platform,
        entity,
        ..
    } = side;
    let request = |cursor: Option<String>| ReadRequest {
        entity: entity.clone(),
        cursor,
        since: since.clone(),
        page_size,
    };
    let mut restarts = 0;
    let mut asked = request(None);
    let mut answer = session.read(&asked).await;
    loop {
        let page = match answer {
            Ok(page) => page,
            Err(e) if asked.cursor.is_some() && restarts < MAX_RESTARTS && cursor_expired(&e) => {
                tracing::warn!(
                    side = which.as_str(),
                    "the platform's cursor expired; reading again from the first page"
                );
                restarts += 1;
                asked = request(None);
                answer = session.read(&asked).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        out.pages += 1;
        let keep = |out: &mut ReadOutcome| -> Result<(), StateError> {
            for r in &page.records {
                let record = convert::record_from_wire(r);
                if !out.records.kept_before(&record.id) && unchanged(&record)? {
                    out.records.put_unchanged(&record.id);
                } else {
                    out.records.put(&record)?;
                }
            }
            progress.set_message(format!(
                "{platform} {entity}: {} pages, {} records",
                out.pages,
                out.records.len()
            ));
            progress.tick();
            kept(out.records.end());
            Ok(())
        };
        match &page.next_cursor {
            // The next page is asked for while this one is kept: the
            // platform's answer travels while the host works.
            Some(next) => {
                asked = request(Some(next.clone()));
                let (next_answer, kept) =
                    tokio::join!(session.read(&asked), async { keep(&mut out) });
                kept?;
                answer = next_answer;
            }
            None => {
                keep(&mut out)?;
                out.records.seal();
                out.complete = since.is_none();
                out.checkpoint = page.checkpoint.clone().or(since);
                return Ok(out);
            }
        }
    }
}

/// The contract's convention: `not-found` with "cursor expired" on a read that had a cursor.
fn cursor_expired(e: &RuntimeError) -> bool {
    matches!(e.connector_error(), Some(ConnectorError::NotFound(m)) if m.contains("cursor expired"))
}
