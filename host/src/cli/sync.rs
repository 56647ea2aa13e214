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
use crate::state::{Resolution, State};
use crate::sync::{self, ConnectorSource, RunOptions, Status};

/// Where state lives, shared by the commands that touch it.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// The state folder (sled)
    #[arg(long, env = "SYNCHOST_DATA", global = true)]
    pub data: Option<PathBuf>,
}

impl DataArgs {
    pub fn open(&self) -> anyhow::Result<State> {
        let dir = self.data.clone().unwrap_or_else(default_data_dir);
        // The state holds every synced record: the user's alone, like the daemon's.
        crate::daemon::files::private_umask();
        crate::daemon::files::private_dir(&dir)?;
        Ok(State::open(&dir)?)
    }
}

fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("synchost")
}

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
pub enum JobCommand {
    /// Print the JSON Schema of a job
    Schema,
    /// Validate a job and print it as understood
    Check { job: PathBuf },
}

/// Exit code of a job that does not validate: nothing was read or written.
const INVALID_JOB: u8 = 2;

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
    let state = args.data.open()?;
    let options = RunOptions {
        full: args.full,
        connectors: ConnectorSource {
            dir: args.connectors.clone(),
            loaded: None,
        },
        progress: std::io::stderr().is_terminal(),
        details: args.details,
    };
    let report = sync::run(&job, runtime, &state, &options).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(match report.status {
        Status::Failed => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

pub fn runs(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let state = args.data.open()?;
    let runs = state.runs(args.limit)?;
    if args.json {
        for run in &runs {
            println!(
                "{}",
                serde_json::json!({"job": run.job, "started_at": run.started_at, "report": run.report})
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<26} {:<24} {:<8} {:>7} {:>9}  {}",
        "started", "job", "status", "synced", "conflicts", "resolution"
    );
    for run in &runs {
        let r = &run.report;
        println!(
            "{:<26} {:<24} {:<8} {:>7} {:>9}  {}",
            run.started_at,
            run.job,
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

pub fn conflicts(cmd: ConflictsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConflictsCommand::List { data, json } => {
            let state = data.open()?;
            let conflicts = state.conflicts()?;
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
            let state = data.open()?;
            let mut conflict = state.conflict(&id)?.ok_or_else(|| {
                anyhow::anyhow!("no conflict with id {id}; `synchost conflicts list` shows them")
            })?;
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
            conflict.resolution = Some(resolution);
            state.put_conflict(&conflict)?;
            state.flush()?;
            println!(
                "conflict {id} resolved; the decision is applied on the next run of job {}",
                conflict.job
            );
            Ok(ExitCode::SUCCESS)
        }
    }
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
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {}: {e}", job.display());
                Ok(ExitCode::from(INVALID_JOB))
            }
        },
    }
}
