//! `synchost connector inspect | read`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::runtime::{json, Connection, Descriptor, EntitySchema, ReadRequest, Runtime};

#[derive(Subcommand, Debug)]
pub enum ConnectorCommand {
    /// Print a connector's descriptor and the schema of each entity
    Inspect(InspectArgs),
    /// Read every page of one entity and print the records as JSON lines
    Read(ReadArgs),
    /// Run the acceptance suite against a platform: any, named by a connection
    /// file, or a simulator, or a recorded run
    Test(TestArgs),
    /// Start a new connector from the SDK's template
    New {
        name: String,
        #[arg(long, default_value = "rust")]
        lang: String,
        /// Where to create it
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build a connector project (Rust, Python or JavaScript) to NAME.wasm
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Args, Debug)]
#[command(group(
    clap::ArgGroup::new("against")
        .required(true)
        .args(["connection", "simulator", "cassette"])
))]
pub struct TestArgs {
    /// The connector component (.wasm)
    pub file: PathBuf,
    /// The platform to test against: notion, airtable, hubspot, salesforce or
    /// items (simulated on loopback), or directus (a real instance named by
    /// DIRECTUS_URL and DIRECTUS_TOKEN)
    #[arg(long)]
    pub simulator: Option<String>,
    /// Any platform, real or simulated: a connection file as in a job
    /// (settings, secrets, endpoint_overrides, allow_private_networks);
    /// the suite writes only records of its own and removes them at the end
    #[arg(long, value_name = "CONN.json", requires = "entity")]
    pub connection: Option<PathBuf>,
    /// The entity to test, with --connection
    #[arg(long, value_name = "NAME")]
    pub entity: Option<String>,
    /// Write nothing (an account where writing is not allowed): the write
    /// checks are reported as skipped
    #[arg(long)]
    pub read_only: bool,
    /// Save every HTTP exchange of the run into DIR, secrets redacted
    #[arg(long, value_name = "DIR", conflicts_with = "cassette")]
    pub record: Option<PathBuf>,
    /// Replay a recorded run from DIR, offline, without credentials
    #[arg(long, value_name = "DIR")]
    pub cassette: Option<PathBuf>,
    /// Print the results as JSON
    #[arg(long)]
    pub json: bool,
    /// Accept checks that could not test what they name (a capability the
    /// connector lacks, no request made); without it they fail the run
    #[arg(long)]
    pub allow_skips: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The connector component (.wasm)
    pub file: PathBuf,
    /// A connection (JSON) to fetch schemas with; without one only the descriptor is shown
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Entities to show schemas of (default: those the descriptor lists)
    #[arg(long = "entity")]
    pub entities: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub entity: String,
    /// The connection (JSON): settings, secret bindings, overrides
    #[arg(long)]
    pub config: PathBuf,
    /// Only records changed since this checkpoint (an incremental read)
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub page_size: u32,
}

pub async fn run(cmd: ConnectorCommand, runtime: &Runtime) -> anyhow::Result<ExitCode> {
    match cmd {
        ConnectorCommand::Inspect(args) => inspect(args, runtime).await,
        ConnectorCommand::Read(args) => read(args, runtime).await,
        ConnectorCommand::Test(args) => test(args, runtime).await,
        ConnectorCommand::New { name, lang, dir } => super::scaffold::new(&name, &lang, &dir),
        ConnectorCommand::Build { dir } => super::scaffold::build(&dir),
    }
}

async fn inspect(args: InspectArgs, runtime: &Runtime) -> anyhow::Result<ExitCode> {
    let connector = runtime.load(&args.file).await?;
    let mut schemas: Vec<Result<EntitySchema, String>> = Vec::new();
    if let Some(config) = &args.config {
        let conn = Connection::from_file(config)?;
        let mut session = runtime.session(&connector, &conn).await?;
        let mut entities = args.entities.clone();
        if entities.is_empty() {
            entities = connector.descriptor.entities.clone();
        }
        if entities.is_empty() {
            entities = conn
                .settings
                .keys()
                .filter_map(|k| k.split_once('.').map(|(_, e)| e.to_string()))
                .collect();
        }
        for entity in entities {
            schemas.push(
                session
                    .schema(&entity)
                    .await
                    .map_err(|e| format!("{entity}: {e}")),
            );
        }
    }
    let d = &connector.descriptor;
    if args.json {
        let out = serde_json::json!({
            "descriptor": json::descriptor(d),
            "contract": connector.contract,
            "sha256": connector.hash,
            "schemas": schemas.iter().map(|s| match s { Ok(s) => json::schema(s), Err(e) => serde_json::json!({"error": e}) }).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", descriptor_table(d, &connector.hash));
    for schema in &schemas {
        match schema {
            Ok(s) => print!("\n{}", schema_table(s)),
            Err(e) => println!("\nschema unavailable: {e}"),
        }
    }
    if args.config.is_none() {
        println!("\n(pass --config CONN.json to fetch the schemas)");
    }
    Ok(ExitCode::SUCCESS)
}

fn descriptor_table(d: &Descriptor, hash: &str) -> String {
    let rate = d.rate.as_ref().map_or("none".into(), |r| {
        format!(
            "{}/s, burst {}{}",
            r.per_second,
            r.burst,
            r.daily_budget
                .map_or(String::new(), |b| format!(", {b}/day"))
        )
    });
    let auth = match &d.auth {
        crate::runtime::AuthScheme::None => "none".to_string(),
        crate::runtime::AuthScheme::Bearer(s) => format!("bearer token from secret `{s}`"),
        crate::runtime::AuthScheme::Header((h, s)) => format!("header {h} from secret `{s}`"),
        crate::runtime::AuthScheme::Basic(b) => format!(
            "basic, user from secret `{}`, password from secret `{}`",
            b.user_secret, b.password_secret
        ),
        crate::runtime::AuthScheme::ClientCredentials(cc) => format!(
            "OAuth 2.0 client credentials at {} (client id from secret `{}`, client secret from secret `{}`)",
            cc.token_url, cc.client_id_secret, cc.client_secret_secret
        ),
    };
    let mut rows = vec![
        ("name", d.name.clone()),
        ("version", d.version.clone()),
        ("contract", d.contract.clone()),
        (
            "capabilities",
            json::capability_names(d.capabilities).join(", "),
        ),
        (
            "entities",
            if d.entities.is_empty() {
                "(from settings)".into()
            } else {
                d.entities.join(", ")
            },
        ),
        ("hosts", d.hosts.join(", ")),
        ("auth", auth),
        ("rate limit", rate),
        (
            "checkpoints",
            json::checkpoint_kind(d.checkpoint).to_string(),
        ),
        (
            "max batch",
            d.max_batch.map_or("(host chooses)".to_string(), |n| {
                format!("{n} ops a write call")
            }),
        ),
        ("sha-256", hash.to_string()),
    ];
    for s in &d.settings {
        rows.push((
            "setting",
            format!(
                "{}{}: {}",
                s.name,
                if s.required { " (required)" } else { "" },
                s.description
            ),
        ));
    }
    rows.iter().map(|(k, v)| format!("{k:<13} {v}\n")).collect()
}

fn schema_table(s: &EntitySchema) -> String {
    let width = s
        .fields
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!(
        "entity {}\n  {:<width$}  {:<12}  notes\n",
        s.entity, "field", "type"
    );
    for f in &s.fields {
        let mut notes = Vec::new();
        if f.read_only {
            notes.push("read-only".to_string());
        }
        if !f.options.is_empty() {
            notes.push(format!("options: {}", f.options.join(", ")));
        }
        out.push_str(&format!(
            "  {:<width$}  {:<12}  {}\n",
            f.name,
            json::type_name(f.kind),
            notes.join("; ")
        ));
    }
    out
}

async fn read(args: ReadArgs, runtime: &Runtime) -> anyhow::Result<ExitCode> {
    let connector = runtime.load(&args.file).await?;
    let conn = Connection::from_file(&args.config)?;
    let mut session = runtime.session(&connector, &conn).await?;
    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut cursor, mut pages, mut records) = (None, 0u64, 0u64);
    let checkpoint = loop {
        let req = ReadRequest {
            entity: args.entity.clone(),
            cursor: cursor.clone(),
            since: args.since.clone(),
            page_size: args.page_size,
        };
        let page = session
            .read(&req)
            .await
            .with_context(|| format!("reading page {} of {}", pages + 1, args.entity))?;
        pages += 1;
        for record in &page.records {
            serde_json::to_writer(&mut out, &json::record(record))?;
            out.write_all(b"\n")?;
        }
        records += page.records.len() as u64;
        progress.set_message(format!(
            "{} {}: {pages} pages, {records} records",
            connector.name, args.entity
        ));
        progress.tick();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break page.checkpoint,
        }
    };
    out.flush()?;
    progress.finish_and_clear();
    eprintln!(
        "read {records} records in {pages} pages from {} {}; checkpoint {}",
        connector.name,
        args.entity,
        checkpoint.as_deref().unwrap_or("(none)")
    );
    Ok(ExitCode::SUCCESS)
}

async fn test(args: TestArgs, runtime: &Runtime) -> anyhow::Result<ExitCode> {
    let opts = crate::acceptance::Options {
        simulator: args.simulator.clone(),
        connection: args.connection.clone(),
        entity: args.entity.clone(),
        read_only: args.read_only,
        record: args.record.clone(),
        cassette: args.cassette.clone(),
    };
    let checks = crate::acceptance::run_opts(runtime, &args.file, &opts).await?;
    let failed = checks.iter().filter(|c| c.failed()).count();
    let skipped = checks.iter().filter(|c| c.skipped).count();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            match (&c.failure, &c.skip_reason) {
                (Some(why), _) => println!("FAIL  {}: {why}", c.name),
                (None, Some(why)) => println!("skip  {} ({why})", c.name),
                (None, None) => println!("ok    {}", c.name),
            }
        }
        let passed = checks.len() - failed - skipped;
        if skipped == 0 {
            println!("\nchecks: {passed} passed, {failed} failed");
        } else {
            println!(
                "\nchecks: {passed} passed, {failed} failed, {skipped} skipped{}",
                if args.allow_skips {
                    " (allowed)"
                } else {
                    " (a skipped check tested nothing: it counts as not passed; --allow-skips accepts it)"
                }
            );
        }
        if let Some(dir) = &args.record {
            println!(
                "recorded into {} (replay with --cassette {})",
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(if failed == 0 && (skipped == 0 || args.allow_skips) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
