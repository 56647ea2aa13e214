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
//! - [`api`]: the HTTP API (axum), with [`openapi`] and [`metrics`].

pub mod api;
pub mod metrics;
pub mod openapi;
pub mod registry;
pub mod scheduler;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use crate::job::Job;
use crate::runtime::{ChangeEvent, Runtime, WebhookRequest};
use crate::state::{AuditEntry, State, StoredJob};
use crate::sync::{self, ConnectorLookup, ConnectorSource, RunOptions, Status};
use registry::{Registry, Swap};
use scheduler::{parse_time, Queued, Reason, Scheduler};

/// How a daemon is started.
#[derive(Debug, Clone)]
pub struct Config {
    pub data: PathBuf,
    pub connectors: PathBuf,
    pub listen: SocketAddr,
    /// a folder of job files (`*.json`), loaded at start and when they change
    pub jobs_dir: Option<PathBuf>,
    /// runs at once per platform
    pub per_platform: usize,
    /// each run report is POSTed here
    pub monitor_url: Option<String>,
    /// how often the connectors folder is rescanned
    pub watch_every: Duration,
}

/// What the API, the timer and the workers share.
pub struct Core {
    pub state: State,
    pub runtime: Runtime,
    pub registry: Registry,
    pub scheduler: Scheduler,
    pub metrics: metrics::Metrics,
    pub token: String,
    config: Config,
    wake: Notify,
    stopping: AtomicBool,
    http: reqwest::Client,
}

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

    /// An audit entry in sled and a JSON log line.
    pub fn audit(&self, kind: &str, job: &str, detail: Value) {
        tracing::info!(target: "synchost::audit", kind, job, detail = %detail, "audit");
        let entry = AuditEntry {
            at: sync::now(),
            job: job.into(),
            kind: kind.into(),
            detail,
        };
        if let Err(e) = self.state.audit(&entry) {
            tracing::error!("audit entry not saved: {e}");
        }
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
            Some(stored) => Ok(Some(Job::from_value(stored.spec)?)),
            None => Ok(None),
        }
    }

    fn options(&self, full: bool) -> RunOptions {
        RunOptions {
            full,
            connectors: ConnectorSource {
                dir: Some(self.config.connectors.clone()),
                loaded: Some(Arc::new(self.registry.clone())),
            },
            progress: false,
            details: true,
        }
    }

    /// Hands a delivery to each side's connector that takes webhooks; the
    /// first that verifies it gives the events. `Err` says why none did.
    pub async fn webhook(
        &self,
        job: &Job,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Vec<Value>, String> {
        let req = WebhookRequest {
            method: "POST".into(),
            path,
            headers,
            body,
        };
        let mut reasons = Vec::new();
        for side in [&job.source, &job.target] {
            let options = self.options(false);
            let connector = match options.connectors.connector(side, &self.runtime).await {
                Ok(c) => c,
                Err(e) => {
                    reasons.push(format!("{}: {e}", side.platform));
                    continue;
                }
            };
            if !connector
                .descriptor
                .capabilities
                .contains(crate::runtime::Capabilities::WEBHOOKS)
            {
                continue;
            }
            let mut session = match self.runtime.session(&connector, &side.connection).await {
                Ok(s) => s,
                Err(e) => {
                    reasons.push(format!("{}: {e}", side.platform));
                    continue;
                }
            };
            match session.webhook(&req).await {
                Ok(events) => return Ok(events.iter().map(event_json).collect()),
                Err(e) => reasons.push(format!("{}: {e}", side.platform)),
            }
        }
        if reasons.is_empty() {
            reasons.push("neither side's connector takes webhooks".into());
        }
        Err(format!("webhook refused: {}", reasons.join("; ")))
    }

    /// Runs one queued job to its end and books the outcome.
    async fn run(self: Arc<Self>, queued: Queued) {
        let sync_id = queued.sync_id.clone();
        let job = match self.load_job(&sync_id) {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(job = %sync_id, "stored job does not parse: {e}");
                return;
            }
        };
        tracing::info!(job = %sync_id, reason = ?queued.reason, "run starting");
        let outcome = sync::run(&job, &self.runtime, &self.state, &self.options(queued.full)).await;
        let (status, report) = match outcome {
            Ok(report) => (
                report.status,
                serde_json::to_value(&report).unwrap_or_default(),
            ),
            Err(e) => {
                let message = format!("{e:#}");
                tracing::error!(job = %sync_id, "run could not start: {message}");
                self.audit("run_error", &sync_id, json!({"error": message}));
                (
                    Status::Failed,
                    json!({"status": "failed", "error": message}),
                )
            }
        };
        self.metrics.record_run(status, &report);
        if let Ok(Some(mut stored)) = self.state.job(&sync_id) {
            stored.last_status = Some(format!("{status:?}").to_lowercase());
            if matches!(status, Status::Queued | Status::Failed) {
                let wait = scheduler::backoff(stored.retries);
                stored.retries += 1;
                stored.retry_at = Some(
                    (chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default())
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                );
                tracing::warn!(job = %sync_id, retry_in_s = wait.as_secs_f64(), "run {status:?}; retrying with backoff");
            } else {
                stored.retries = 0;
                stored.retry_at = None;
            }
            let _ = self.state.put_job(&stored);
        }
        if let Some(url) = &self.config.monitor_url {
            if let Err(e) = self
                .http
                .post(url)
                .json(&json!({"job": sync_id, "report": report}))
                .send()
                .await
            {
                tracing::warn!("monitoring URL {url}: {e}");
            }
        }
        self.scheduler
            .finished(&sync_id, &job.source.platform, &job.target.platform);
        self.wake();
    }

    /// Queues what is due: schedules, retries, and at start what was missed.
    fn tick(&self, starting: bool) {
        let now = chrono::Utc::now();
        let Ok(jobs) = self.state.jobs() else { return };
        for mut stored in jobs {
            let Ok(job) = Job::from_value(stored.spec.clone()) else {
                continue;
            };
            let mut changed = false;
            if let Some(at) = stored.retry_at.as_deref().and_then(parse_time) {
                if at <= now {
                    self.scheduler.enqueue(&job, Reason::Retry, false);
                    stored.retry_at = None;
                    changed = true;
                }
            }
            if !job.schedule.is_manual() {
                match stored.next_run_at.as_deref().and_then(parse_time) {
                    Some(at) if at <= now => {
                        // Missed while down: once, not once per missed tick.
                        self.scheduler.enqueue(
                            &job,
                            if starting {
                                Reason::CatchUp
                            } else {
                                Reason::Schedule
                            },
                            false,
                        );
                        stored.next_run_at = scheduler::next_fire(&job, now);
                        changed = true;
                    }
                    None => {
                        stored.next_run_at = scheduler::next_fire(&job, now);
                        changed = true;
                    }
                    _ => {}
                }
            }
            if changed {
                let _ = self.state.put_job(&stored);
            }
        }
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

fn event_json(e: &ChangeEvent) -> Value {
    json!({"entity": e.entity, "id": e.id, "kind": format!("{:?}", e.kind).to_lowercase(), "at": e.at})
}

/// The API token: made at first start, kept with mode 0600, printed once.
fn token(data: &std::path::Path) -> anyhow::Result<String> {
    let path = data.join("api-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        return Ok(token.trim().to_string());
    }
    let bytes: [u8; 24] = rand::random();
    let token = hex::encode(bytes);
    std::fs::write(&path, &token).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    eprintln!(
        "API token (shown once; kept in {}): {token}",
        path.display()
    );
    Ok(token)
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn serve(config: Config, runtime: Runtime) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data)?;
    std::fs::create_dir_all(&config.connectors)?;
    let state = State::open(&config.data.join("state"))?;
    let token = token(&config.data)?;
    let registry = Registry::new(config.connectors.clone(), runtime.clone());
    let core = Arc::new(Core {
        state,
        runtime: runtime.clone(),
        registry: registry.clone(),
        scheduler: Scheduler::new(config.per_platform),
        metrics: metrics::Metrics::default(),
        token,
        wake: Notify::new(),
        stopping: AtomicBool::new(false),
        http: reqwest::Client::new(),
        config: config.clone(),
    });
    for swap in registry.scan().await {
        core.on_swap(swap);
    }
    core.load_job_files();
    core.tick(true);

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
    // The timer: schedules, retries, job files.
    {
        let core = core.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stop.changed() => return,
                }
                core.load_job_files();
                core.tick(false);
                core.wake();
            }
        });
    }
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
                    tokio::spawn(core.clone().run(queued));
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
    let app = api::router(core.clone());
    let shutdown = {
        let core = core.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: no new runs; waiting for runs in flight");
            core.stopping.store(true, Ordering::Relaxed);
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
    tracing::info!("synchost daemon stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
