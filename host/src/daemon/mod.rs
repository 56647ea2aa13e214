//! # The daemon
//!
//! `synchost daemon` runs jobs on their schedules, on webhooks and on request,
//! keeps working while a platform is down (writes wait in the outbox, the run
//! is `queued` and retried with backoff), and takes new connector versions
//! without a restart. Jobs and everything they sync live in sled, so a daemon
//! killed at any instant starts again where it was.
//!
//! - [`scheduler`]: the priority queue, per-platform limits, backoff;
//! - [`registry`]: connectors, hot-loaded from a folder or an upload;
//! - [`api`]: the HTTP API (axum), with [`openapi`] and [`metrics`];
//! - [`console`]: the web console under `/ui`, on the same port;
//! - [`access`]: the admin token and project-scoped tokens;
//! - [`hooks`]: webhook intake, bounded before any work is done;
//! - [`files`]: the data folder and secret files, private from the first byte;
//! - `runs`: a queued run, from start to its booking; `plans`: previews and
//!   first runs waiting for their plan; [`notify`]: the Feedback Loop.
//!
//! Connector calls (runs, webhook verification) run on a runtime of their
//! own: a connector that loops or allocates holds those threads, never the
//! ones that serve the API and the scheduler.

pub mod access;
pub mod api;
pub mod console;
pub mod files;
mod history;
pub mod hooks;
pub mod leases;
pub mod metrics;
pub mod notify;
pub mod openapi;
mod plans;
pub mod registry;
mod runs;
pub mod scheduler;
mod shared;
pub mod timer;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use crate::job::Job;
use crate::runtime::Runtime;
use crate::state::{State, StoredJob};
use crate::sync::{self, ConnectorLookup, ConnectorSource, RunOptions, Status};
use registry::{Registry, Swap};
use scheduler::{Reason, Scheduler};

/// How a daemon is started.
#[derive(Debug, Clone)]
pub struct Config {
    pub data: PathBuf,
    /// this daemon's name among those sharing a state (default: host-pid)
    pub daemon_id: Option<String>,
    /// how long a claim on a job lasts unless renewed (several daemons)
    pub lease: Duration,
    /// where the state is, when not in `DATA/state`
    pub state: Option<crate::state::Location>,
    pub connectors: PathBuf,
    pub listen: SocketAddr,
    /// a folder of job files (`*.json`), loaded at start and when they change
    pub jobs_dir: Option<PathBuf>,
    /// runs at once per platform
    pub per_platform: usize,
    /// each run report is POSTed here
    pub monitor_url: Option<String>,
    /// parked conflicts, failed and partial runs and waiting plans are
    /// notified here, signed ([`notify`])
    pub notify_url: Option<String>,
    /// where people reach this daemon's console, for links in notices
    /// (default `http://LISTEN`)
    pub public_url: Option<String>,
    /// how often the connectors folder is rescanned
    pub watch_every: Duration,
    /// largest webhook body read
    pub webhook_max_bytes: usize,
    /// audit entries older than this many days are pruned
    pub audit_days: u32,
    /// at most this many audit entries are kept (the oldest go first)
    pub audit_max_entries: usize,
    /// runs older than this many days are pruned
    pub runs_days: u32,
    /// at most this many runs are kept per job (the oldest go first)
    pub runs_per_job: usize,
}

/// What the API, the timer and the workers share.
pub struct Core {
    pub state: State,
    pub runtime: Runtime,
    pub registry: Registry,
    pub scheduler: Scheduler,
    pub metrics: metrics::Metrics,
    pub tokens: access::Tokens,
    pub hooks: hooks::Intake,
    /// the runtime connector calls run on
    pub work: tokio::runtime::Handle,
    /// the web console's sessions (`/ui`)
    pub console: console::Sessions,
    /// this daemon's name among those sharing a state ([`leases`])
    pub daemon_id: String,
    /// shared connector versions this daemon refused, by SHA-256
    refused_shared: parking_lot::Mutex<HashSet<String>>,
    /// how long a claim on a job lasts unless renewed
    pub lease_ttl: Duration,
    config: Config,
    /// `--notify-url`, when given
    notifier: Option<notify::Notifier>,
    wake: Notify,
    stopping: AtomicBool,
    http: reqwest::Client,
    /// (kind, job) -> when a throttled audit entry was last written, and
    /// how many were left out since
    throttled: parking_lot::Mutex<HashMap<(String, String), (Instant, u64)>>,
    /// audit entries written since the last prune, to prune by size promptly
    audit_writes: AtomicUsize,
    /// stored jobs reported as unusable, by id and spec, so each is reported once
    reported: parking_lot::Mutex<HashSet<(String, String)>>,
    /// jobs whose runs fail one after the other: how many, and the last error
    failing: parking_lot::Mutex<std::collections::BTreeMap<String, (u32, String)>>,
}

/// Failed runs in a row after which a job makes `/healthz` say `degraded`.
pub const FAILING_AFTER: u32 = 3;

impl ConnectorLookup for Registry {
    fn lookup(&self, name: &str) -> Option<Arc<crate::runtime::LoadedConnector>> {
        self.get(name)
    }
}

impl Core {
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn on_swap(&self, swap: Swap) {
        match &swap {
            Swap::Loaded { name, version } => {
                tracing::info!(connector = %name, %version, "connector swapped in");
                self.audit(
                    "connector_loaded",
                    "",
                    json!({"connector": name, "version": version}),
                );
            }
            Swap::Rejected { name, reason } => {
                tracing::warn!(connector = %name, "connector rejected: {reason}");
                self.audit(
                    "connector_rejected",
                    "",
                    json!({"connector": name, "reason": reason}),
                );
            }
        }
    }

    pub fn load_job(&self, sync_id: &str) -> anyhow::Result<Option<Job>> {
        match self.state.job(sync_id)? {
            Some(stored) => Ok(Some(job_of(&stored)?)),
            None => Ok(None),
        }
    }

    /// Says once, in the log and the audit, that a stored job cannot be used.
    fn report_unusable(&self, stored: &StoredJob, why: &str) {
        let key = (stored.sync_id.clone(), stored.spec.to_string());
        if self.reported.lock().insert(key) {
            tracing::error!(job = %stored.sync_id, "stored job skipped: {why}");
            self.audit("job_invalid", &stored.sync_id, json!({"error": why}));
        }
    }

    pub fn options(&self, full: bool) -> RunOptions {
        RunOptions {
            full,
            connectors: ConnectorSource {
                dir: Some(self.config.connectors.clone()),
                loaded: Some(Arc::new(self.registry.clone())),
            },
            progress: false,
            details: true,
            batch: None,
            daemon: Some(self.daemon_id.clone()),
        }
    }

    /// Queues what is due: schedules, retries, and at start what was owed.
    fn tick(&self, starting: bool) {
        timer::tick(
            &self.state,
            &self.scheduler,
            chrono::Utc::now(),
            starting,
            self.claimed_anywhere().as_ref(),
            &|stored, why| self.report_unusable(stored, why),
        );
    }

    /// Keeps count of runs that fail in a row, for `/healthz` and metrics.
    fn note_outcome(&self, sync_id: &str, status: Status, report: &Value) {
        let mut failing = self.failing.lock();
        if status == Status::Failed {
            let error = report["details"]["error"]
                .as_str()
                .or(report["error"].as_str())
                .unwrap_or("failed")
                .to_string();
            let entry = failing
                .entry(sync_id.to_string())
                .or_insert((0, String::new()));
            entry.0 += 1;
            entry.1 = error;
        } else {
            failing.remove(sync_id);
        }
    }

    /// Jobs whose last [`FAILING_AFTER`] runs or more all failed, with the last error.
    pub fn failing(&self) -> Vec<(String, u32, String)> {
        self.failing
            .lock()
            .iter()
            .filter(|(_, (n, _))| *n >= FAILING_AFTER)
            .map(|(id, (n, e))| (id.clone(), *n, e.clone()))
            .collect()
    }

    /// Asks for a run of `job` (a trigger, a webhook): counted in the job's
    /// state before it is queued, so a daemon stopped before it ran still
    /// owes it. `false` when it merged into a run already queued.
    pub fn ask(&self, job: &Job, reason: Reason, full: bool) -> bool {
        let mut asked = 0;
        let stored = self.state.update_job(&job.sync_id, |j| {
            j.queued += 1;
            asked = j.queued;
        });
        if let Err(e) = stored {
            tracing::error!(job = %job.sync_id, "the ask for a run is not saved: {e}");
        }
        self.scheduler.enqueue_asked(job, reason, full, asked)
    }

    /// Loads `*.json` jobs from the jobs folder into sled (a changed file replaces its job).
    fn load_job_files(&self) {
        let Some(dir) = &self.config.jobs_dir else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for path in entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
        {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let Ok(spec) = serde_json::from_str::<Value>(&text) else {
                tracing::warn!(file = %path.display(), "job file is not JSON; skipped");
                continue;
            };
            match Job::from_value(spec.clone()).and_then(|j| j.ensure_runnable().map(|_| j)) {
                Ok(job) => {
                    let existing = self.state.job(&job.sync_id).ok().flatten();
                    if existing.as_ref().is_some_and(|s| s.spec == spec) {
                        continue;
                    }
                    let stored = StoredJob {
                        sync_id: job.sync_id.clone(),
                        spec,
                        created_at: sync::now(),
                        next_run_at: existing
                            .as_ref()
                            .and_then(|s| s.next_run_at.clone())
                            .or_else(|| scheduler::next_fire(&job, chrono::Utc::now())),
                        retry_at: None,
                        retries: 0,
                        owner: None,
                        queued: existing.as_ref().map_or(0, |s| s.queued),
                        done: existing.as_ref().map_or(0, |s| s.done),
                        last_status: existing.and_then(|s| s.last_status),
                    };
                    let _ = self.state.put_job(&stored);
                    self.audit(
                        "job_saved",
                        &job.sync_id,
                        json!({"file": path.display().to_string()}),
                    );
                }
                Err(e) => tracing::warn!(file = %path.display(), "job file rejected: {e}"),
            }
        }
    }
}

/// A stored job as a runnable [`Job`]: a job made with a project token
/// binds only its project's secrets.
pub fn job_of(stored: &StoredJob) -> Result<Job, crate::job::JobError> {
    let mut job = Job::from_value(stored.spec.clone())?;
    if stored.owner.is_some() {
        for side in [&mut job.source, &mut job.target] {
            side.connection.secret_scope.project_only = true;
        }
    }
    Ok(job)
}

/// Makes the calling thread yield its core to the daemon's own threads.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: on Linux, PRIO_PROCESS with id 0 sets the calling thread's nice
    // value; it cannot fail in a way that matters here.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Runs `f`, logging a panic instead of letting it end the task that called:
/// the timer must tick on whatever one job holds.
fn guarded(what: &str, f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!("{what} panicked and was skipped: {why}");
    }
}

/// The admin API token: made at first start in a file created 0600, printed
/// once; a token file others can read is narrowed, with a warning.
fn token(data: &std::path::Path) -> anyhow::Result<String> {
    let path = data.join("api-token");
    if path.exists() {
        files::keep_private(&path)?;
        let token = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Ok(token.trim().to_string());
    }
    let token = hex::encode(rand::random::<[u8; 24]>());
    files::create_secret(&path, token.as_bytes())?;
    eprintln!(
        "API token (shown once; kept in {}): {token}",
        path.display()
    );
    Ok(token)
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn serve(config: Config, runtime: Runtime) -> anyhow::Result<()> {
    files::private_umask();
    files::private_dir(&config.data)?;
    std::fs::create_dir_all(&config.connectors)?;
    let state = crate::cli::data::open_state(&config.data, config.state.as_ref())?;
    let token = token(&config.data)?;
    let notifier = match &config.notify_url {
        Some(url) => {
            let public = config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.listen));
            Some(notify::Notifier::new(url, &config.data, &public)?)
        }
        None => None,
    };
    let registry = Registry::new(config.connectors.clone(), runtime.clone());
    // Connector calls get threads of their own (see the module docs).
    let work = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(2),
        )
        .thread_name("synchost-connectors")
        // Below the API's threads in the kernel's eyes: a busy connector
        // waits for a core, the API does not.
        .on_thread_start(lower_priority)
        .enable_all()
        .build()
        .context("starting the connector runtime")?;
    let daemon_id = config.daemon_id.clone().unwrap_or_else(leases::default_id);
    let tokens = access::Tokens::new(
        token,
        access::Kept::at(&config.data, Some(&state)),
        &daemon_id,
    );
    let core = Arc::new(Core {
        state,
        runtime: runtime.clone(),
        registry: registry.clone(),
        scheduler: Scheduler::new(config.per_platform),
        metrics: metrics::Metrics::default(),
        tokens,
        hooks: hooks::Intake::default(),
        work: work.handle().clone(),
        console: Default::default(),
        daemon_id,
        refused_shared: Default::default(),
        lease_ttl: config.lease,
        wake: Notify::new(),
        stopping: AtomicBool::new(false),
        http: reqwest::Client::new(),
        config: config.clone(),
        notifier,
        throttled: Default::default(),
        audit_writes: AtomicUsize::new(0),
        reported: Default::default(),
        failing: Default::default(),
    });
    core.share_rates();
    for swap in registry.scan().await {
        core.on_swap(swap);
    }
    // What the other daemons sharing the state serve, this one serves too
    // (over what its own folder holds).
    core.adopt_connectors().await;
    guarded("loading job files", || core.load_job_files());
    guarded("the first tick", || core.tick(true));
    guarded("pruning history", || core.prune_history());

    let (stop_tx, stop_rx) = watch::channel(false);
    {
        let core = core.clone();
        tokio::spawn(
            registry
                .clone()
                .watch(config.watch_every, stop_rx.clone(), move |swap| {
                    core.on_swap(swap)
                }),
        );
    }
    // The timer: schedules, retries, job files, and once a minute the
    // audit log's age limit.
    {
        let core = core.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut pruned = Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stop.changed() => return,
                }
                guarded("loading job files", || core.load_job_files());
                guarded("a tick", || core.tick(false));
                if pruned.elapsed() > Duration::from_secs(60) {
                    pruned = Instant::now();
                    guarded("pruning history", || core.prune_history());
                }
                core.wake();
            }
        });
    }
    tokio::spawn(notify::deliver(core.clone(), stop_rx.clone()));
    tokio::spawn(core.clone().heartbeat(stop_rx.clone()));
    tokio::spawn(
        core.clone()
            .watch_shared(config.watch_every, stop_rx.clone()),
    );
    // The dispatcher: starts what may start.
    {
        let core = core.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = core.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop.changed() => return,
                }
                let platforms = |id: &str| {
                    core.load_job(id)
                        .ok()
                        .flatten()
                        .map(|j| (j.source.platform, j.target.platform))
                };
                while !core.stopping() {
                    let Some(queued) = core.scheduler.next(&platforms) else {
                        break;
                    };
                    if core.claim(&queued) {
                        core.start(queued);
                    } else {
                        core.finished(&queued);
                    }
                }
            }
        });
    }

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    tracing::info!(listen = %listener.local_addr()?, data = %config.data.display(), connectors = %config.connectors.display(), "synchost daemon started");
    eprintln!(
        "synchost daemon listening on http://{}",
        listener.local_addr()?
    );
    // Before the daemon says where it is: a stop sent as soon as it is
    // found must find the handlers in place.
    let stop = shutdown_signal();
    // The CLI finds the daemon holding this folder here (`synchost runs --data`).
    let announce = crate::cli::data::daemon_file(&config.data);
    std::fs::write(
        &announce,
        serde_json::to_vec(&crate::cli::data::DaemonFile {
            listen: listener.local_addr()?.to_string(),
            pid: std::process::id(),
        })?,
    )?;
    let app = api::router(core.clone());
    let shutdown = {
        let core = core.clone();
        async move {
            stop.await;
            // First of all, so that no run starts after this line: what is
            // queued stays owed in the jobs' state for the next start.
            core.scheduler.close();
            core.stopping.store(true, Ordering::Relaxed);
            tracing::info!("shutting down: no new runs; waiting for runs in flight");
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    let _ = stop_tx.send(true);
    // Runs in flight finish (their writes are in the outbox either way).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !core.scheduler.is_idle() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    core.state.flush()?;
    let _ = std::fs::remove_file(&announce);
    work.shutdown_background();
    tracing::info!("synchost daemon stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM: how a person or a service manager stops a long-running
/// command (the daemon, `synchost sim`). The handlers are installed when this
/// is called, not when it is first awaited: call it before saying you are
/// ready, or a signal sent at once kills the process instead of stopping it.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
