//! `synchost run`, `synchost runs`, `synchost conflicts`, `synchost job`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::core::merge::Side;
use crate::core::value::Fields;
use crate::job::Job;
use crate::runtime::Runtime;
use crate::state::Resolution;
use crate::sync::preview::{preview, Preview};
use crate::sync::{self, ConnectorSource, RunOptions, Status};

pub use super::data::DataArgs;
use super::data::{DaemonLink, Opened};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The job (JSON)
    pub job: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// A folder of NAME.wasm connectors (default: build them from this source tree)
    #[arg(long, env = "SYNCHOST_CONNECTORS")]
    pub connectors: Option<PathBuf>,
    /// Read both sides in full, not from the checkpoints
    #[arg(long)]
    pub full: bool,
    /// Add per-side counts, conflicts and skipped records to the report
    #[arg(long)]
    pub details: bool,
    /// Read both sides and print every write the run would make and how each
    /// conflict would be decided; write nothing (no platform, outbox or checkpoint)
    #[arg(long)]
    pub plan: bool,
    /// With --plan: the plan as JSON
    #[arg(long, requires = "plan")]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RunsArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// One JSON object a line instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ConflictsCommand {
    /// Conflicts waiting for a person
    List {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        json: bool,
    },
    /// Decide a conflict; the decision is applied on the job's next run
    Resolve {
        id: String,
        /// Keep one side's version
        #[arg(long, value_parser = ["source", "target"], conflicts_with = "merge")]
        take: Option<String>,
        /// A JSON object of canonical field values to put on both sides
        #[arg(long)]
        merge: Option<PathBuf>,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum PlanCommand {
    /// Show the plan a job's first run waits on
    Show {
        sync_id: String,
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        json: bool,
    },
    /// Accept it: the first run goes ahead (now, on a daemon)
    Accept {
        sync_id: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// Print the JSON Schema of a job
    Schema,
    /// Validate a job and print it as understood
    Check { job: PathBuf },
}

/// Exit code of a job that does not validate: nothing was read or written.
const INVALID_JOB: u8 = 2;
/// Exit code of a first run that waits for its plan to be accepted.
const WAITS_FOR_PLAN: u8 = 3;

fn load_job(path: &Path) -> Result<Job, ExitCode> {
    match Job::from_file(path).and_then(|job| job.ensure_runnable().map(|_| job)) {
        Ok(job) => Ok(job),
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            Err(ExitCode::from(INVALID_JOB))
        }
    }
}

pub async fn run(args: RunArgs, runtime: &Runtime) -> anyhow::Result<ExitCode> {
    let job = match load_job(&args.job) {
        Ok(job) => job,
        Err(code) => return Ok(code),
    };
    if args.plan {
        return plan(&args, &job, runtime).await;
    }
    let state = match args.data.open(true)? {
        Opened::Local(state) if sync::preview::waits_for_plan(&job, &state)? => {
            eprintln!(
                "job `{id}` waits for its first plan to be accepted (\"first_sync\": \"plan\"): \
                 `synchost run {file} --plan` shows it, `synchost plan accept {id}` accepts it",
                id = job.sync_id,
                file = args.job.display()
            );
            return Ok(ExitCode::from(WAITS_FOR_PLAN));
        }
        Opened::Local(state) => state,
        Opened::Daemon(daemon) => return run_on_daemon(&daemon, &job, &args).await,
        Opened::Empty(_) => unreachable!("opened to create"),
    };
    // Daemons may share this state: the job is claimed as a daemon claims
    // it, so that it never runs twice at once anywhere.
    let _claim = match crate::state::leases::Held::take(&state, &job.sync_id)? {
        Some(claim) => claim,
        None => anyhow::bail!(
            "job `{}` is running on a daemon that shares this state: wait for it (GET /healthz \
             lists each daemon's leases)",
            job.sync_id
        ),
    };
    let report = sync::run(&job, runtime, &state, &run_options(&args)).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(exit_code(report.status))
}

fn run_options(args: &RunArgs) -> RunOptions {
    RunOptions {
        full: args.full,
        connectors: ConnectorSource {
            dir: args.connectors.clone(),
            loaded: None,
        },
        progress: std::io::stderr().is_terminal(),
        details: args.details,
        batch: None,
        daemon: None,
    }
}

/// `run --plan`: the preview, from the state here, the daemon's, or (no run
/// yet) an empty one made for it and thrown away.
async fn plan(args: &RunArgs, job: &Job, runtime: &Runtime) -> anyhow::Result<ExitCode> {
    let preview: Preview = match args.data.open(false)? {
        Opened::Local(state) => preview(job, runtime, &state, &run_options(args), None).await?,
        Opened::Daemon(daemon) => {
            let full = if args.full { "?full=true" } else { "" };
            let path = format!("/jobs/{}/plan{full}", job.sync_id);
            serde_json::from_value(daemon.post(&path, &serde_json::json!({})).await?)
                .context("the daemon's plan")?
        }
        Opened::Empty(_) => {
            let dir = std::env::temp_dir().join(format!(
                "synchost-plan-{}-{}",
                std::process::id(),
                job.sync_id
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let state = crate::state::State::open(&dir.join("state"))?;
            let preview = preview(job, runtime, &state, &run_options(args), None).await;
            drop(state);
            let _ = std::fs::remove_dir_all(&dir);
            preview?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&preview)?);
    } else {
        print!("{}", preview.text());
    }
    Ok(ExitCode::SUCCESS)
}

fn exit_code(status: Status) -> ExitCode {
    match status {
        Status::Failed => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    }
}

/// The daemon holds the state: its job of the same id is triggered there
/// (two processes must never sync one job at once), and its report printed.
async fn run_on_daemon(daemon: &DaemonLink, job: &Job, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let id = &job.sync_id;
    if daemon.get(&format!("/jobs/{id}")).await.is_err() {
        eprintln!(
            "error: {} is held by {}, which has no job `{id}`: add the job to the daemon \
             (POST /jobs, or its --jobs folder) and trigger it there",
            args.data.dir().display(),
            daemon.describe()
        );
        return Ok(ExitCode::from(INVALID_JOB));
    }
    let latest = |runs: &serde_json::Value| runs[0]["id"].as_u64().unwrap_or(0);
    let before = latest(&daemon.get(&format!("/runs?job={id}&limit=1")).await?);
    let full = if args.full { "?full=true" } else { "" };
    daemon
        .post(&format!("/jobs/{id}/trigger{full}"), &serde_json::json!({}))
        .await?;
    eprintln!(
        "{} holds this data folder: job `{id}` triggered there",
        daemon.describe()
    );
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let runs = daemon.get(&format!("/runs?job={id}&limit=1")).await?;
        if latest(&runs) > before {
            let report = runs[0]["report"].clone();
            println!("{}", serde_json::to_string_pretty(&report)?);
            let status: Status =
                serde_json::from_value(report["status"].clone()).unwrap_or(Status::Failed);
            return Ok(exit_code(status));
        }
    }
}

pub async fn runs(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let runs: Vec<(String, String, serde_json::Value)> = match args.data.open(false)? {
        Opened::Local(state) => state
            .runs(args.limit)?
            .into_iter()
            .map(|r| (r.job, r.started_at, r.report))
            .collect(),
        Opened::Daemon(daemon) => daemon
            .get(&format!("/runs?limit={}", args.limit))
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                (s("job"), s("started_at"), r["report"].clone())
            })
            .collect(),
        Opened::Empty(dir) => {
            eprintln!("no state in {} yet: no run has used it", dir.display());
            Vec::new()
        }
    };
    if args.json {
        for (job, started_at, report) in &runs {
            println!(
                "{}",
                serde_json::json!({"job": job, "started_at": started_at, "report": report})
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<26} {:<24} {:<8} {:>7} {:>9}  {}",
        "started", "job", "status", "synced", "conflicts", "resolution"
    );
    for (job, started_at, r) in &runs {
        println!(
            "{:<26} {:<24} {:<8} {:>7} {:>9}  {}",
            started_at,
            job,
            r["status"].as_str().unwrap_or("?"),
            r["synced_items"],
            r["conflicts_detected"],
            r["conflict_resolution"].as_str().unwrap_or("")
        );
    }
    if runs.is_empty() {
        println!("(no runs yet)");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn conflicts(cmd: ConflictsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConflictsCommand::List { data, json } => {
            let conflicts: Vec<crate::state::ParkedConflict> = match data.open(false)? {
                Opened::Local(state) => state.conflicts()?,
                Opened::Daemon(daemon) => serde_json::from_value(daemon.get("/conflicts").await?)?,
                Opened::Empty(_) => Vec::new(),
            };
            for c in &conflicts {
                if json {
                    println!("{}", serde_json::to_string(c)?);
                    continue;
                }
                let status = match &c.resolution {
                    None => "waiting".to_string(),
                    Some(Resolution::Take(side)) => {
                        format!("take {} (applied next run)", side.as_str())
                    }
                    Some(Resolution::Merge(_)) => "merge (applied next run)".to_string(),
                };
                println!(
                    "{}  job {}  source {}  target {}  {status}",
                    c.id, c.job, c.source_id, c.target_id
                );
                for f in &c.fields {
                    println!(
                        "    {}: base {}  source {}  target {}",
                        f.field,
                        show(&f.base),
                        show(&f.source),
                        show(&f.target)
                    );
                }
            }
            if conflicts.is_empty() && !json {
                println!("(no conflicts waiting)");
            }
            Ok(ExitCode::SUCCESS)
        }
        ConflictsCommand::Resolve {
            id,
            take,
            merge,
            data,
        } => {
            let resolution = match (take.as_deref(), merge) {
                (Some("source"), None) => Resolution::Take(Side::Source),
                (Some("target"), None) => Resolution::Take(Side::Target),
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let fields: Fields = serde_json::from_str(&text).with_context(|| {
                        format!("{} is not a JSON object of field values like {{\"Name\": {{\"type\": \"text\", \"value\": \"Ada\"}}}}", path.display())
                    })?;
                    Resolution::Merge(fields)
                }
                _ => anyhow::bail!(
                    "say how to resolve it: --take source, --take target, or --merge FILE"
                ),
            };
            let job = match data.open(false)? {
                Opened::Local(state) => {
                    let mut conflict = state.conflict(&id)?.ok_or_else(|| no_conflict(&id))?;
                    conflict.resolution = Some(resolution);
                    state.put_conflict(&conflict)?;
                    state.flush()?;
                    conflict.job
                }
                Opened::Daemon(daemon) => {
                    let body = match resolution {
                        Resolution::Take(side) => serde_json::json!({"take": side}),
                        Resolution::Merge(fields) => serde_json::json!({"merge": fields}),
                    };
                    daemon
                        .post(&format!("/conflicts/{id}/resolve"), &body)
                        .await?;
                    let all: Vec<crate::state::ParkedConflict> =
                        serde_json::from_value(daemon.get("/conflicts").await?)?;
                    all.into_iter()
                        .find(|c| c.id == id)
                        .map(|c| c.job)
                        .unwrap_or_default()
                }
                Opened::Empty(_) => return Err(no_conflict(&id)),
            };
            println!(
                "conflict {id} resolved; the decision is applied on the next run of job {job}"
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn plans(cmd: PlanCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PlanCommand::Show {
            sync_id,
            data,
            json,
        } => {
            let plan = match data.open(false)? {
                Opened::Local(state) => state.waiting_plan(&sync_id)?,
                Opened::Daemon(daemon) => daemon.get(&format!("/jobs/{sync_id}/plan")).await.ok(),
                Opened::Empty(_) => None,
            };
            let Some(plan) = plan else {
                eprintln!("job `{sync_id}` has no plan waiting");
                return Ok(ExitCode::from(INVALID_JOB));
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                let plan: Preview = serde_json::from_value(plan).context("the stored plan")?;
                print!("{}", plan.text());
            }
            Ok(ExitCode::SUCCESS)
        }
        PlanCommand::Accept { sync_id, data } => {
            match data.open(true)? {
                Opened::Local(state) => {
                    state.accept_plan(&sync_id, &sync::now())?;
                    state.audit(&crate::state::AuditEntry {
                        at: sync::now(),
                        job: sync_id.clone(),
                        kind: "plan_accepted".into(),
                        detail: serde_json::json!({"by": "cli"}),
                    })?;
                    state.flush()?;
                    println!("plan of job {sync_id} accepted: its first run may go ahead");
                }
                Opened::Daemon(daemon) => {
                    daemon
                        .post(
                            &format!("/jobs/{sync_id}/plan/accept"),
                            &serde_json::json!({}),
                        )
                        .await?;
                    println!(
                        "plan of job {sync_id} accepted: its first run is queued on the daemon"
                    );
                }
                Opened::Empty(_) => unreachable!("opened to create"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn no_conflict(id: &str) -> anyhow::Error {
    anyhow::anyhow!("no conflict with id {id}; `synchost conflicts list` shows them")
}

fn show(v: &Option<crate::core::value::Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    }
}

pub fn job(cmd: JobCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        JobCommand::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::job::json_schema())?
            );
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Check { job } => match Job::from_file(&job) {
            Ok(parsed) => {
                if let Err(e) = parsed.ensure_runnable() {
                    println!("valid job `{}`, but it cannot run yet: {e}", parsed.sync_id);
                    return Ok(ExitCode::from(INVALID_JOB));
                }
                println!(
                    "valid job `{}`: {} {} -> {} {}, {}, schedule {}",
                    parsed.sync_id,
                    parsed.source.platform,
                    parsed.source.entity.as_deref().unwrap_or("?"),
                    parsed.target.platform,
                    parsed.target.entity.as_deref().unwrap_or("?"),
                    parsed.mode.as_str(),
                    parsed.schedule
                );
                let newest = parsed.conflict.policy == crate::job::Policy::NewestWins
                    || parsed
                        .conflict
                        .fields
                        .values()
                        .any(|p| *p == crate::job::Policy::NewestWins);
                if newest && parsed.mode == crate::job::Mode::Bidirectional {
                    eprintln!(
                        "note: newest_wins compares the platforms' own modification times; where a \
                         connector reports none (Airtable without its `modified_field`, say), a \
                         conflict is decided by when synchost first saw each change, or parked for \
                         a person when both were first seen in the same run"
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {}: {e}", job.display());
                Ok(ExitCode::from(INVALID_JOB))
            }
        },
    }
}
