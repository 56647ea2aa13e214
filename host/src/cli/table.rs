//! `synchost table prepare`: what a table side needs to find every delete
//! between full scans (a tombstone table and a trigger), shown first and
//! applied only when asked.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::job::Job;
use crate::runtime::table::{self, Kind};
use crate::runtime::Runtime;

#[derive(Subcommand, Debug)]
pub enum TableCommand {
    /// Show (and with --apply, install) the tombstone table and the delete
    /// trigger for a job's table side
    Prepare(PrepareArgs),
}

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// The job (JSON) whose side is a `postgres` or `sqlite` table
    pub job: PathBuf,
    /// Which side is the table (default: the one that is)
    #[arg(long, value_parser = ["source", "target"])]
    pub side: Option<String>,
    /// The tombstone table to make
    #[arg(long, default_value = "synchost_tombstones")]
    pub tombstones: String,
    /// Install it now, in one transaction (without: only print it)
    #[arg(long)]
    pub apply: bool,
}

pub async fn run(cmd: TableCommand, runtime: &Runtime) -> anyhow::Result<ExitCode> {
    let TableCommand::Prepare(args) = cmd;
    let job =
        Job::from_file(&args.job).map_err(|e| anyhow::anyhow!("{}: {e}", args.job.display()))?;
    let sides = [("source", &job.source), ("target", &job.target)];
    let kind_of = |spec: &crate::job::SideSpec| spec.connector.as_deref().and_then(Kind::named);
    let (name, spec) = sides
        .into_iter()
        .find(|(name, spec)| {
            args.side.as_deref().is_none_or(|s| s == *name) && kind_of(spec).is_some()
        })
        .with_context(|| {
            format!(
                "{}: no side is a `postgres` or `sqlite` table{}",
                args.job.display(),
                args.side
                    .as_deref()
                    .map(|s| format!(" (looked at the {s})"))
                    .unwrap_or_default()
            )
        })?;
    let kind = kind_of(spec).expect("found above");
    let entity = spec
        .entity
        .as_deref()
        .context("the table side names no entity")?;
    let settings = &spec.connection.settings;
    let key = settings.get("key").map_or("id", String::as_str);
    let sql = table::prepare_sql(kind, entity, key, &args.tombstones);
    println!(
        "-- the {name} side: {} `{entity}`, key `{key}`\n{sql}",
        kind.name()
    );
    if !args.apply {
        eprintln!("nothing applied: run again with --apply to install it");
        return Ok(ExitCode::SUCCESS);
    }
    let at = match kind {
        Kind::Sqlite => settings
            .get("path")
            .cloned()
            .context("the connection has no `path` setting (the SQLite file)")?,
        Kind::Postgres => runtime
            .resolve_secrets("postgres", &spec.connection)?
            .get("database_url")
            .map(str::to_string)
            .context("the connection has no `database_url` secret")?,
    };
    table::apply_sql(kind, &at, &sql)
        .await
        .map_err(|e| anyhow::anyhow!("{}", crate::runtime::describe_error(&e)))?;
    eprintln!(
        "installed; now add \"tombstones\": \"{}\" to the {name} connection's settings",
        args.tombstones
    );
    Ok(ExitCode::SUCCESS)
}
