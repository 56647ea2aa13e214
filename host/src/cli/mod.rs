//! The command line: argument parsing and the top of each command. Commands
//! print results on stdout and logs on stderr.

mod connector;
pub mod data;
mod demo;
mod scaffold;
mod sim;
mod state;
mod sync;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::runtime::{Runtime, RuntimeOptions, SecretProvider};

#[derive(Parser, Debug)]
#[command(
    name = "synchost",
    version,
    about = "Keeps your records in step with the platforms your users live in"
)]
pub struct Cli {
    /// More logs on stderr (-v: every HTTP call, -vv: debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    // The optional global settings read their environment variables
    // themselves (see `from_env`): clap shows an argument set from the
    // environment in every usage line, as if it were required.
    /// Where compiled connectors are cached [env: SYNCHOST_CACHE_DIR]
    #[arg(long, global = true)]
    pub cache_dir: Option<PathBuf>,

    /// A JSON file of secret name to value, mode 0600, for `file:KEY` bindings
    /// [env: SYNCHOST_SECRETS_FILE]
    #[arg(long, global = true)]
    pub secrets_file: Option<PathBuf>,

    /// An HTTP proxy for connectors' requests (the environment's HTTP_PROXY,
    /// HTTPS_PROXY and ALL_PROXY are never used for them); destinations are
    /// still checked against the hosts and address rules before they leave
    /// [env: SYNCHOST_PROXY]
    #[arg(long, global = true)]
    pub proxy: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Work with connector components
    #[command(subcommand)]
    Connector(connector::ConnectorCommand),
    /// Start the Notion and Airtable simulators on loopback and read both
    /// through their connectors, built from this source tree
    Demo(demo::DemoArgs),
    /// Run one sync job now and print its report
    Run(sync::RunArgs),
    /// Serve one platform simulator on loopback until stopped, seeded, and
    /// write a connection file for it (no account needed)
    Sim(sim::SimArgs),
    /// List past runs
    Runs(sync::RunsArgs),
    /// Conflicts parked for a person
    #[command(subcommand)]
    Conflicts(sync::ConflictsCommand),
    /// Job files: their schema, and checking one
    #[command(subcommand)]
    Job(sync::JobCommand),
    /// Plans a first run waits on (jobs with `"first_sync": "plan"`)
    #[command(subcommand)]
    Plan(sync::PlanCommand),
    /// A table side's database: the tombstone table and delete trigger
    #[command(subcommand)]
    Table(table::TableCommand),
    /// Run jobs on their schedules, on webhooks and on request, with an HTTP API
    Daemon(DaemonArgs),
    /// The state: move it from a data folder into PostgreSQL
    #[command(subcommand)]
    State(state::StateCommand),
    /// API tokens scoped to one project (the admin token is DATA/api-token)
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a token that sees and touches only one project's jobs, runs and
    /// conflicts; it is printed once and kept only as a hash
    Create {
        /// the project_id the token is scoped to
        #[arg(long)]
        project: String,
        #[command(flatten)]
        at: TokensAt,
    },
    /// List project tokens (id, project, created; never the token)
    List {
        #[command(flatten)]
        at: TokensAt,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a project token by its id; the daemon refuses it at once
    Revoke {
        id: String,
        #[command(flatten)]
        at: TokensAt,
    },
}

/// Where the project tokens are kept.
#[derive(clap::Args, Debug)]
pub struct TokensAt {
    /// the daemon's folder
    #[arg(long, env = "SYNCHOST_DATA")]
    data: PathBuf,
    /// the daemons' shared state (postgres://…), if they share one: the
    /// tokens are kept there, for all of them
    #[arg(long, env = "SYNCHOST_STATE")]
    state: Option<String>,
}

impl TokensAt {
    fn kept(&self) -> anyhow::Result<crate::daemon::access::Kept> {
        use crate::daemon::access::Kept;
        match self.state.as_deref().map(crate::state::Location::parse) {
            Some(crate::state::Location::Postgres(url)) => Ok(Kept::Shared(
                crate::state::State::open_postgres(&url, &self.data.join("state.scratch"))?,
            )),
            _ => Ok(Kept::Folder(self.data.clone())),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct DaemonArgs {
    /// The daemon's folder: state (unless --state), the API token, secrets
    #[arg(long, env = "SYNCHOST_DATA")]
    pub data: PathBuf,
    /// Where the state is: a PostgreSQL URL (postgres://…), which several
    /// daemons may share, or a folder; DATA/state by default
    #[arg(long, env = "SYNCHOST_STATE")]
    pub state: Option<String>,
    /// This daemon's name among those sharing a PostgreSQL state (in
    /// /healthz, /metrics and each run's record); default HOST-PID
    #[arg(long, env = "SYNCHOST_DAEMON_ID")]
    pub daemon_id: Option<String>,
    /// Seconds a claim on a job lasts unless renewed (every third of it):
    /// a daemon killed mid-run leaves its jobs to the others after this
    #[arg(long, default_value_t = 15.0)]
    pub lease_secs: f64,
    /// Connectors, as NAME.wasm; changes are swapped in without a restart
    #[arg(long, env = "SYNCHOST_CONNECTORS")]
    pub connectors: PathBuf,
    /// Address of the HTTP API
    #[arg(long, default_value = "127.0.0.1:8686")]
    pub listen: std::net::SocketAddr,
    /// A folder of job files (*.json), loaded at start and when they change
    #[arg(long)]
    pub jobs: Option<PathBuf>,
    /// Runs at once per platform
    #[arg(long, default_value_t = 2)]
    pub per_platform: usize,
    /// POST each run's report to this URL
    #[arg(long)]
    pub monitor_url: Option<String>,
    /// POST a signed notice here when a run parks a conflict, ends failed or
    /// partial, or a first run waits for its plan (secret: DATA/notify-secret)
    #[arg(long, env = "SYNCHOST_NOTIFY_URL")]
    pub notify_url: Option<String>,
    /// The console's address as people reach it, for links in notices
    /// (default http://LISTEN)
    #[arg(long)]
    pub public_url: Option<String>,
    /// Seconds between scans of the connectors folder
    #[arg(long, default_value_t = 1.0)]
    pub watch_every: f64,
    /// Largest webhook body read, in bytes (larger deliveries get 413)
    #[arg(long, default_value_t = 1 << 20)]
    pub webhook_max_bytes: usize,
    /// Audit entries older than this many days are pruned
    #[arg(long, default_value_t = 30)]
    pub audit_days: u32,
    /// At most this many audit entries are kept; the oldest go first
    #[arg(long, default_value_t = 200_000)]
    pub audit_max_entries: usize,
    /// Runs older than this many days are pruned
    #[arg(long, default_value_t = 30)]
    pub runs_days: u32,
    /// At most this many runs are kept per job; the oldest go first
    #[arg(long, default_value_t = 5_000)]
    pub runs_per_job: usize,
}

/// A flag's value, or else its environment variable's.
fn from_env<T: From<String>>(flag: &Option<T>, var: &str) -> Option<T>
where
    T: Clone,
{
    flag.clone().or_else(|| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .map(T::from)
    })
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(
            from_env(&cli.cache_dir, "SYNCHOST_CACHE_DIR").unwrap_or_else(default_cache_dir),
        ),
        secrets: SecretProvider {
            file: from_env(&cli.secrets_file, "SYNCHOST_SECRETS_FILE"),
        },
        proxy: from_env(&cli.proxy, "SYNCHOST_PROXY"),
        ..Default::default()
    })?;
    match cli.command {
        Command::Connector(cmd) => connector::run(cmd, &runtime).await,
        Command::Demo(args) => demo::run(args, &runtime).await,
        Command::Run(args) => sync::run(args, &runtime).await,
        Command::Sim(args) => sim::run(args).await,
        Command::Runs(args) => sync::runs(args).await,
        Command::Conflicts(cmd) => sync::conflicts(cmd).await,
        Command::Job(cmd) => sync::job(cmd),
        Command::Plan(cmd) => sync::plans(cmd).await,
        Command::Table(cmd) => table::run(cmd, &runtime).await,
        Command::Token(cmd) => token(cmd),
        Command::State(cmd) => state::run(cmd),
        Command::Daemon(args) => {
            let config = crate::daemon::Config {
                state: args.state.as_deref().map(crate::state::Location::parse),
                daemon_id: args.daemon_id,
                lease: std::time::Duration::try_from_secs_f64(args.lease_secs.max(0.3))
                    .unwrap_or(crate::daemon::leases::DEFAULT_TTL),
                data: args.data,
                connectors: args.connectors,
                listen: args.listen,
                jobs_dir: args.jobs,
                per_platform: args.per_platform,
                monitor_url: args.monitor_url,
                notify_url: args.notify_url,
                public_url: args.public_url,
                watch_every: std::time::Duration::try_from_secs_f64(args.watch_every.max(0.05))
                    .unwrap_or(std::time::Duration::from_secs(1)),
                webhook_max_bytes: args.webhook_max_bytes,
                audit_days: args.audit_days,
                audit_max_entries: args.audit_max_entries,
                runs_days: args.runs_days,
                runs_per_job: args.runs_per_job,
            };
            crate::daemon::serve(config, runtime).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    use crate::daemon::access;
    match cmd {
        TokenCommand::Create { project, at } => {
            let (entry, token) = access::create(&at.kept()?, &project)?;
            eprintln!(
                "token {} for project {} (shown once; only its hash is kept):",
                entry.id, entry.project
            );
            println!("{token}");
        }
        TokenCommand::List { at, json } => {
            let tokens = access::list(&at.kept()?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                for t in tokens {
                    println!("{}  {}  {}", t.id, t.project, t.created_at);
                }
            }
        }
        TokenCommand::Revoke { id, at } => {
            if !access::revoke(&at.kept()?, &id)? {
                eprintln!("no token {id}");
                return Ok(ExitCode::from(2));
            }
            eprintln!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("synchost/components")
}

/// Logs to stderr: warnings by default, `-v` adds every HTTP call; `RUST_LOG`
/// wins. The daemon logs JSON lines at info, for log collectors.
pub fn init_logging(verbose: u8, daemon: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug,wasmtime=info,cranelift=warn",
    };
    let default = if daemon && verbose == 0 {
        "info"
    } else {
        default
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if daemon {
        logs.json().init();
    } else {
        logs.init();
    }
}
