//! Where state lives, for the CLI and the daemon alike: `DATA/state` (sled),
//! beside `DATA/api-token`. One layout, so `synchost runs --data DATA` reads
//! what the daemon on `DATA` wrote.
//!
//! A folder the daemon holds (sled's lock is taken) is reached through the
//! daemon's API, found in `DATA/daemon.json` with the admin token: read
//! commands read there, `run` triggers the daemon's job of the same id and
//! waits for its report. Nothing ever creates a fresh database where state
//! was expected: commands that only read say so when there is none.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use crate::state::{Location, State, StateError};

/// Where state lives, shared by the commands that touch it.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// The data folder (the daemon's `--data`): state in DATA/state
    /// [env: SYNCHOST_DATA]
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
    /// Where the state is, if not DATA/state: a PostgreSQL URL
    /// (postgres://…) or a folder [env: SYNCHOST_STATE]
    #[arg(long, global = true)]
    pub state: Option<String>,
}

/// The daemon holding a data folder, as `DATA/daemon.json` names it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DaemonFile {
    pub listen: String,
    pub pid: u32,
}

/// What a data folder is, to a command.
pub enum Opened {
    /// the state, opened here
    Local(State),
    /// held by a running daemon: talk to its API
    Daemon(DaemonLink),
    /// no state yet (only for commands that do not create one)
    Empty(PathBuf),
}

/// The state folder inside a data folder.
pub fn state_dir(data: &Path) -> PathBuf {
    data.join("state")
}

/// The state of data folder `data`: at `location` if one is given (a
/// PostgreSQL state's runs keep their scratch files in the folder), else in
/// `DATA/state`.
pub fn open_state(data: &Path, location: Option<&Location>) -> Result<State, StateError> {
    match location {
        Some(location) => State::open_at(location, &data.join("state.scratch")),
        None => State::open(&state_dir(data)),
    }
}

/// `--state`, else `SYNCHOST_STATE`.
pub fn state_location(flag: Option<&str>) -> Option<Location> {
    let env = std::env::var("SYNCHOST_STATE").ok();
    flag.or(env.as_deref())
        .filter(|s| !s.is_empty())
        .map(Location::parse)
}

/// Where the daemon announces itself.
pub fn daemon_file(data: &Path) -> PathBuf {
    data.join("daemon.json")
}

impl DataArgs {
    pub fn dir(&self) -> PathBuf {
        self.data
            .clone()
            .or_else(|| {
                std::env::var_os("SYNCHOST_DATA")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(default_data_dir)
    }

    /// Opens the state; `create` makes it on first use (a run does, a
    /// listing does not).
    pub fn open(&self, create: bool) -> anyhow::Result<Opened> {
        let dir = self.dir();
        if let Some(Location::Postgres(url)) = state_location(self.state.as_deref()) {
            // Shared with any number of daemons and commands: nothing to
            // lock, and no daemon to go through.
            let scratch = dir.join("state.scratch");
            return Ok(Opened::Local(State::open_postgres(&url, &scratch)?));
        }
        let state = match state_location(self.state.as_deref()) {
            Some(Location::Folder(folder)) => folder,
            _ => state_dir(&dir),
        };
        migrate_flat_layout(&dir, &state)?;
        if !state.exists() && !create {
            return Ok(Opened::Empty(dir));
        }
        // The state holds every synced record: the user's alone, like the daemon's.
        crate::daemon::files::private_umask();
        crate::daemon::files::private_dir(&dir)?;
        match State::open(&state) {
            Ok(state) => Ok(Opened::Local(state)),
            Err(StateError::Open { source, .. }) if crate::state::is_locked(&source) => {
                match std::fs::read(daemon_file(&dir))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<DaemonFile>(&b).ok())
                {
                    Some(daemon) => Ok(Opened::Daemon(DaemonLink::new(&dir, daemon)?)),
                    None => anyhow::bail!(
                        "{} is in use by another synchost process; wait for it to finish",
                        dir.display()
                    ),
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Before one layout, `synchost run --data DIR` kept sled's files in DIR
/// itself: they move into DIR/state, once.
fn migrate_flat_layout(dir: &Path, state: &Path) -> anyhow::Result<()> {
    if state.exists() || !(dir.join("conf").exists() && dir.join("db").exists()) {
        return Ok(());
    }
    std::fs::create_dir_all(state)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if matches!(name, "conf" | "db" | "blobs") || name.starts_with("snap.") {
            std::fs::rename(&path, state.join(name))
                .with_context(|| format!("moving {} into {}", path.display(), state.display()))?;
        }
    }
    eprintln!(
        "note: moved the state in {} into {} (the layout the daemon uses)",
        dir.display(),
        state.display()
    );
    Ok(())
}

fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("synchost")
}

/// The daemon's API, with its admin token.
pub struct DaemonLink {
    pub url: String,
    pub pid: u32,
    token: String,
    client: reqwest::Client,
}

impl DaemonLink {
    fn new(dir: &Path, daemon: DaemonFile) -> anyhow::Result<DaemonLink> {
        let token = std::fs::read_to_string(dir.join("api-token")).with_context(|| {
            format!(
                "the daemon holds {}, but its api-token is unreadable",
                dir.display()
            )
        })?;
        Ok(DaemonLink {
            url: format!("http://{}", daemon.listen),
            pid: daemon.pid,
            token: token.trim().to_string(),
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    /// One sentence naming the daemon, for messages.
    pub fn describe(&self) -> String {
        format!("the synchost daemon (pid {}, {})", self.pid, self.url)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{} does not answer", self.describe()))?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!(
                "{} answered {method} {path} with {status}: {}",
                self.describe(),
                value["error"].as_str().unwrap_or("")
            );
        }
        Ok(value)
    }
}
