//! Pull benchmark (issue 10): prints figures, asserts only that the pull was
//! complete.
//!
//! `cargo bench -p synchost --bench pull -- [N ...] [--dlt PYTHON] [--write-concurrency C] [--sinks LIST]`
//!
//! `--sinks postgres` pulls into a table of the local PostgreSQL server (a
//! database made for it) through the built-in `postgres` side; with `--dlt`,
//! dlt then pulls into PostgreSQL too (`dlt[postgres]`).
//!
//! `--write-concurrency C` sets the job's `write_concurrency` (default: the
//! job's default). `BENCH_WRAPPER=heaptrack` runs `synchost run` under that
//! command (a profiler); the figures printed are then not the plain run's.
//!
//! For each N (default 10000 100000): a Notion simulator in this process,
//! rate limits off, holds N pages; `synchost run` (this build's binary, a
//! child process, as a user runs it) pulls them through the Notion connector
//! into each sink of `--sinks` (default `directus,airtable`): an empty
//! collection of the Directus simulator (the issue's Directus-shaped sink:
//! 100 records a create request) and an empty table of the Airtable
//! simulator (10 records a request, Airtable's documented limit). Figures:
//! wall time of the child, records/s, and its peak resident memory
//! (`VmHWM`; the simulators live in this process and are not counted).
//!
//! With `--dlt PYTHON` (an interpreter with `dlt[duckdb,parquet]` 1.31), dlt's
//! `rest_api` source pulls the same pages from the same server in the same
//! run into duckdb through parquet files, and the ratio is printed. dlt pages
//! through `POST /v1/data_sources/{id}/query` exactly as the connector does
//! (100 a page, `start_cursor` in the body).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use synchost_sim::airtable::{AirtableOptions, AirtableSim};
use synchost_sim::directus::{DirectusOptions, DirectusSim};
use synchost_sim::notion::{NotionOptions, NotionSim};

// The simulators, in this process, use the `synchost` binary's allocator; the
// server is then faster for synchost and dlt alike (BENCHMARKS.md, 2026-12-06).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOTION_TOKEN: &str = "bench-notion";
const AIRTABLE_TOKEN: &str = "bench-airtable";
const DIRECTUS_TOKEN: &str = "bench-directus";

const DLT_SCRIPT: &str = r#"
import sys, time
import dlt
from dlt.sources.rest_api import rest_api_source

base, ds, token, out = sys.argv[1:5]
pg = sys.argv[5] if len(sys.argv) > 5 else None
source = rest_api_source({
    "client": {
        "base_url": base,
        "auth": {"type": "bearer", "token": token},
        "headers": {"Notion-Version": "2025-09-03"},
    },
    "resources": [{
        "name": "pages",
        "endpoint": {
            "path": f"v1/data_sources/{ds}/query",
            "method": "POST",
            "json": {"page_size": 100},
            "data_selector": "results",
            "paginator": {"type": "cursor", "cursor_path": "next_cursor",
                          "cursor_body_path": "start_cursor"},
        },
        "write_disposition": "append",
    }],
})
pipeline = dlt.pipeline(
    pipeline_name="bench", pipelines_dir=out + "/pipelines", dataset_name="notion",
    destination=dlt.destinations.postgres(pg) if pg else dlt.destinations.duckdb(out + "/bench.duckdb"))
started = time.time()
pipeline.run(source, loader_file_format=None if pg else "parquet")
took = time.time() - started
with pipeline.sql_client() as client:
    rows = client.execute_sql("select count(*) from pages")[0][0]
print(f"{rows} {took:.3f}")
"#;

/// Waits for `child`: its wall time since `started` and its peak RSS in KiB
/// (see [`synchost::dev::wait_with_peak`]).
fn waited(child: std::process::Child, started: Instant) -> (Duration, u64) {
    let (status, peak) = synchost::dev::wait_with_peak(child).unwrap();
    assert!(status.success(), "the child failed: {status}");
    (started.elapsed(), peak)
}

struct World {
    notion: NotionSim,
    airtable: AirtableSim,
    directus: DirectusSim,
    db: String,
    base: String,
    /// a PostgreSQL database of its own, with an empty `tasks` table
    /// (`--sinks` with postgres)
    pg: Option<String>,
}

/// The local PostgreSQL server (the project's machines run one).
const PG: &str = "postgres://postgres@127.0.0.1:5432";

async fn pg_client(db: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&format!("{PG}/{db}"), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {PG}/{db}: {e}"));
    tokio::spawn(conn);
    client
}

/// Drops a database the bench made.
async fn pg_drop(name: &str) {
    let admin = pg_client("test").await;
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}

/// A fresh database `name` with the table a pull writes.
async fn pg_database(name: &str) {
    let admin = pg_client("test").await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    pg_client(name)
        .await
        .batch_execute(
            "CREATE TABLE tasks (id bigserial PRIMARY KEY, \"Name\" text, \"Email\" text, \
             \"Status\" text, \"Points\" double precision, \
             updated_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
}

/// Where a pull writes.
#[derive(Clone, Copy, PartialEq)]
enum Sink {
    Directus,
    Airtable,
    Postgres,
}

impl Sink {
    fn parse(name: &str) -> Sink {
        match name {
            "directus" => Sink::Directus,
            "airtable" => Sink::Airtable,
            "postgres" => Sink::Postgres,
            other => panic!("unknown sink `{other}`: directus, airtable or postgres"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Sink::Directus => "Directus",
            Sink::Airtable => "Airtable",
            Sink::Postgres => "a PostgreSQL table",
        }
    }

    /// Records the sink holds.
    async fn count(self, w: &World) -> usize {
        match self {
            Sink::Directus => w.directus.count("tasks"),
            Sink::Airtable => w.airtable.records(&w.base, "Tasks").len(),
            Sink::Postgres => {
                let client = pg_client(w.pg.as_deref().expect("a database")).await;
                let n: i64 = client
                    .query_one("SELECT count(*) FROM tasks", &[])
                    .await
                    .unwrap()
                    .get(0);
                n as usize
            }
        }
    }
}

async fn world(n: usize, pg: Option<String>) -> World {
    if let Some(name) = &pg {
        pg_database(name).await;
    }
    let notion = NotionSim::start(NotionOptions {
        token: NOTION_TOKEN.into(),
        rate_limit: None,
        ..Default::default()
    })
    .await
    .unwrap();
    let airtable = AirtableSim::start(AirtableOptions {
        token: AIRTABLE_TOKEN.into(),
        rate_limit: None,
        ..Default::default()
    })
    .await
    .unwrap();
    let props = [
        ("Name", "title"),
        ("Email", "email"),
        ("Status", "select"),
        ("Points", "number"),
    ];
    let db = notion.create_database("Tasks", &props);
    let base = airtable.create_base();
    let fields = [
        ("Name", "singleLineText"),
        ("Email", "email"),
        ("Status", "singleSelect"),
        ("Points", "number"),
        ("Last Modified", "lastModifiedTime"),
    ];
    airtable.create_table(&base, "Tasks", &fields);
    airtable.set_choices(&base, "Tasks", "Status", &["Todo", "Doing", "Done"]);
    let directus = DirectusSim::start(DirectusOptions {
        token: DIRECTUS_TOKEN.into(),
        rate_limit: None,
        ..Default::default()
    })
    .await
    .unwrap();
    let fields = [
        ("Name", "string"),
        ("Email", "string"),
        ("Status", "string"),
        ("Points", "float"),
    ];
    directus.create_collection("tasks", &fields).unwrap();
    directus
        .set_choices("tasks", "Status", &["Todo", "Doing", "Done"])
        .unwrap();
    for i in 0..n {
        let page = json!({
            "Name": {"title": [{"text": {"content": format!("Task {i}")}}]},
            "Email": {"email": format!("p{i}@example.com")},
            "Status": {"select": {"name": "Todo"}},
            "Points": {"number": i},
        });
        notion.insert_page(&db, page).unwrap();
    }
    World {
        notion,
        airtable,
        directus,
        db,
        base,
        pg,
    }
}

/// `synchost run` of a pull job; returns (wall time, peak RSS KiB).
fn synchost_pull(
    w: &World,
    sink: Sink,
    dir: &Path,
    connectors: &Path,
    cache: &Path,
    in_flight: Option<u32>,
) -> (Duration, u64) {
    let off = json!({"per_second": 1e9, "burst": 1000000});
    let mut job = json!({
        "sync_id": "pull-bench", "mode": "pull", "schedule": "manual",
        "source": {"platform": "Notion", "connector": "notion", "entity": "tasks", "connection": {
            "settings": {"database.tasks": w.db}, "secrets": {"notion_token": "env:BENCH_NOTION_TOKEN"},
            "endpoint_overrides": {"https://api.notion.com": w.notion.base_url()},
            "allow_private_networks": true, "rate_limit": off}},
        "match_key": "Email", "conflict": "source_wins"
    });
    job["target"] = match sink {
        Sink::Airtable => {
            json!({"platform": "Airtable", "connector": "airtable", "entity": "tasks", "connection": {
            "settings": {"base_id": w.base, "table.tasks": "Tasks"}, "secrets": {"airtable_token": "env:BENCH_AIRTABLE_TOKEN"},
            "endpoint_overrides": {"https://api.airtable.com": w.airtable.base_url()},
            "allow_private_networks": true, "rate_limit": off}})
        }
        Sink::Postgres => {
            json!({"platform": "App", "connector": "postgres", "entity": "tasks", "connection": {
            "settings": {"key": "id", "updated_at": "updated_at"},
            "secrets": {"database_url": "env:BENCH_DATABASE_URL"}}})
        }
        Sink::Directus => {
            json!({"platform": "Directus", "connector": "directus", "entity": "tasks", "connection": {
            "settings": {"url": w.directus.base_url(), "collection.tasks": "tasks"},
            "secrets": {"directus_token": "env:BENCH_DIRECTUS_TOKEN"},
            "allow_private_networks": true, "rate_limit": off}})
        }
    };
    if let Some(n) = in_flight {
        job["write_concurrency"] = json!(n);
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let job_file = dir.join("job.json");
    std::fs::write(&job_file, job.to_string()).unwrap();
    let started = Instant::now();
    // `BENCH_WRAPPER=heaptrack` (or any command taking a command line) runs
    // the child under a profiler; its figures are then the profiler's too.
    let mut command = match std::env::var("BENCH_WRAPPER") {
        Ok(wrapper) => {
            let mut c = Command::new(wrapper);
            c.arg(env!("CARGO_BIN_EXE_synchost"));
            c
        }
        Err(_) => Command::new(env!("CARGO_BIN_EXE_synchost")),
    };
    let child = command
        .arg("run")
        .arg(&job_file)
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--connectors")
        .arg(connectors)
        .env("SYNCHOST_CACHE_DIR", cache)
        .env("BENCH_NOTION_TOKEN", NOTION_TOKEN)
        .env("BENCH_AIRTABLE_TOKEN", AIRTABLE_TOKEN)
        .env("BENCH_DIRECTUS_TOKEN", DIRECTUS_TOKEN)
        .env(
            "BENCH_DATABASE_URL",
            format!("{PG}/{}", w.pg.as_deref().unwrap_or("none")),
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    waited(child, started)
}

/// dlt's pull of the same pages; returns (wall time, its own run time, peak
/// RSS KiB).
fn dlt_pull(
    w: &World,
    python: &str,
    dir: &Path,
    n: usize,
    pg: Option<&str>,
) -> (Duration, f64, u64) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let script = dir.join("pull.py");
    std::fs::write(&script, DLT_SCRIPT).unwrap();
    let source = w.notion.data_sources(&w.db).remove(0);
    let out = dir.join("out.txt");
    let started = Instant::now();
    let child = Command::new(python)
        .arg(&script)
        .arg(w.notion.base_url())
        .arg(source)
        .arg(NOTION_TOKEN)
        .arg(dir)
        // dlt insists on a password; the server trusts loopback and ignores it.
        .args(pg.map(|db| format!("postgres://postgres:unused@127.0.0.1:5432/{db}")))
        .env("RUNTIME__LOG_LEVEL", "WARNING")
        .stdout(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    let (took, peak) = waited(child, started);
    let printed = std::fs::read_to_string(&out).unwrap();
    let mut words = printed.split_whitespace().rev();
    let run: f64 = words
        .next()
        .and_then(|v| v.parse().ok())
        .expect("dlt's time");
    let rows: usize = words
        .next()
        .and_then(|v| v.parse().ok())
        .expect("dlt's rows");
    assert_eq!(rows, n, "dlt loaded every page");
    (took, run, peak)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let dlt = flag("--dlt");
    let in_flight: Option<u32> = flag("--write-concurrency").map(|n| n.parse().expect("a number"));
    let sinks: Vec<Sink> = flag("--sinks")
        .unwrap_or_else(|| "directus,airtable".into())
        .split(',')
        .map(Sink::parse)
        .collect();
    let mut sizes: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || !args[i - 1].starts_with("--"))
        .filter_map(|(_, a)| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = vec![10_000, 100_000];
    }
    let tmp = std::env::temp_dir().join(format!("synchost-pull-{}", std::process::id()));
    let connectors = tmp.join("connectors");
    let cache = tmp.join("cache");
    std::fs::create_dir_all(&connectors).unwrap();
    for name in ["notion", "airtable", "directus"] {
        let built = synchost::dev::build_connector(&format!("synchost-connector-{name}")).unwrap();
        std::fs::copy(built, connectors.join(format!("{name}.wasm"))).unwrap();
    }
    println!("| records | engine | wall time | records/s | peak RSS |");
    println!("|---|---|---|---|---|");
    let to_pg = sinks.contains(&Sink::Postgres);
    let pg_name =
        |tag: String| to_pg.then(|| format!("synchost_bench_{tag}_{}", std::process::id()));
    for n in sizes {
        let w = world(n, pg_name(n.to_string())).await;
        // A pull of 10 first, so that no measured run compiles a connector.
        if n > 10 {
            let warm = world(10, pg_name("warm".into())).await;
            let warm_pg = warm.pg.clone();
            for &sink in &sinks {
                synchost_pull(
                    &warm,
                    sink,
                    &tmp.join("warm"),
                    &connectors,
                    &cache,
                    in_flight,
                );
            }
            if let Some(name) = warm_pg {
                pg_drop(&name).await;
            }
        }
        let mut ours = Vec::new();
        for &sink in &sinks {
            let dir = tmp.join(format!("synchost-{n}"));
            let (took, peak) = tokio::task::block_in_place(|| {
                synchost_pull(&w, sink, &dir, &connectors, &cache, in_flight)
            });
            assert_eq!(
                sink.count(&w).await,
                n,
                "every page pulled into {}",
                sink.name()
            );
            let rate = n as f64 / took.as_secs_f64();
            let mib = peak as f64 / 1024.0;
            println!(
                "| {n} | synchost run (pull into {}) | {:.2} s | {rate:.0} | {mib:.0} MiB |",
                sink.name(),
                took.as_secs_f64()
            );
            ours.push((sink, rate));
            let _ = std::fs::remove_dir_all(&dir);
        }
        if let Some(python) = &dlt {
            // dlt into duckdb for the HTTP sinks, into PostgreSQL for the table.
            let mut runs = Vec::new();
            if sinks.iter().any(|s| *s != Sink::Postgres) {
                runs.push(None);
            }
            if to_pg {
                let name = pg_name(format!("dlt_{n}")).expect("postgres");
                pg_database(&name).await;
                runs.push(Some(name));
            }
            for pg in runs {
                let dir = tmp.join(format!("dlt-{n}"));
                let (took, run, peak) =
                    tokio::task::block_in_place(|| dlt_pull(&w, python, &dir, n, pg.as_deref()));
                let theirs = n as f64 / took.as_secs_f64();
                let mib = peak as f64 / 1024.0;
                let into = if pg.is_some() {
                    "PostgreSQL"
                } else {
                    "duckdb, parquet"
                };
                println!(
                    "| {n} | dlt 1.31 rest_api → {into} | {:.2} s ({run:.2} s in pipeline.run) | {theirs:.0} | {mib:.0} MiB |",
                    took.as_secs_f64()
                );
                for (sink, rate) in &ours {
                    if (*sink == Sink::Postgres) == pg.is_some() {
                        println!(
                            "| {n} | ratio synchost (into {}) / dlt | | {:.2}x | |",
                            sink.name(),
                            rate / theirs
                        );
                    }
                }
                let _ = std::fs::remove_dir_all(&dir);
                if let Some(name) = pg {
                    pg_drop(&name).await;
                }
            }
        }
        if let Some(name) = &w.pg {
            pg_drop(name).await;
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
