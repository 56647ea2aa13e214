//! One daemon against several on one PostgreSQL state: jobs done per
//! minute on N jobs, each between a Notion and an Airtable simulator of its
//! own (its own integration and base: its own credentials, each rate-limited
//! as the platform documents it, Notion ~3 requests/s per integration and
//! Airtable 5 per base), for a fixed time. A job is asked again as soon as
//! it is done, each time with 5 new Notion records to carry over, so that
//! every run reads and writes.
//!
//! ```sh
//! cargo bench -p synchost --bench fleet -- [--jobs 30] [--seconds 60] [--daemons 1,3]
//! ```
//!
//! Prints, per fleet size: runs done in the window, jobs done per minute,
//! the mean run's seconds, and the daemons' peak RSS. Needs the PostgreSQL
//! the project's machines run (127.0.0.1:5432, user `postgres`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use synchost::state::testing::ScratchDatabase;
use synchost_sim::airtable::{AirtableOptions, AirtableRateLimit, AirtableSim};
use synchost_sim::notion::{NotionOptions, NotionSim, RateLimit};

struct Platforms {
    notion: NotionSim,
    airtable: AirtableSim,
    db: String,
    base: String,
}

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

async fn platforms(i: usize) -> Platforms {
    let notion = NotionSim::start(NotionOptions {
        token: format!("secret_fleet_{i}"),
        // Notion: an average of three requests per second per integration.
        rate_limit: Some(RateLimit::default()),
        ..Default::default()
    })
    .await
    .unwrap();
    let airtable = AirtableSim::start(AirtableOptions {
        token: format!("pat_fleet_{i}"),
        // Airtable: five requests per second per base, 30 s after a 429.
        rate_limit: Some(AirtableRateLimit {
            per_second: 5,
            penalty: Duration::from_secs(30),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let db = notion.create_tasks_database("Tasks");
    let base = airtable.create_base();
    airtable.create_tasks_table(&base, "Tasks");
    Platforms {
        notion,
        airtable,
        db,
        base,
    }
}

fn add(p: &Platforms, i: usize, from: usize, n: usize) {
    for k in from..from + n {
        p.notion
            .insert_page(
                &p.db,
                json!({
                    "Name": {"title": [{"text": {"content": format!("Task {k}")}}]},
                    "Email": {"email": format!("j{i}-{k}@example.com")},
                    "Status": {"select": {"name": "Todo"}},
                    "Points": {"number": k},
                }),
            )
            .unwrap();
    }
}

fn job(i: usize, p: &Platforms) -> Value {
    json!({
        "sync_id": format!("fleet-{i}"), "mode": "bidirectional", "schedule": "manual",
        "source": {"platform": "Notion", "connector": "notion", "entity": "tasks", "connection": {
            "settings": {"database.tasks": p.db},
            "secrets": {"notion_token": format!("env:FLEET_NOTION_{i}")},
            "endpoint_overrides": {"https://api.notion.com": p.notion.base_url()},
            "allow_private_networks": true,
            "rate_limit": {"per_second": 2.5, "burst": 3}}},
        "target": {"platform": "Airtable", "connector": "airtable", "entity": "tasks", "connection": {
            "settings": {"base_id": p.base, "table.tasks": "Tasks"},
            "secrets": {"airtable_token": format!("env:FLEET_AIRTABLE_{i}")},
            "endpoint_overrides": {"https://api.airtable.com": p.airtable.base_url()},
            "allow_private_networks": true,
            "rate_limit": {"per_second": 4.5, "burst": 1}}},
        "match_key": "Email", "conflict": {"policy": "newest_wins"}
    })
}

struct Daemon {
    child: Child,
    url: String,
    token: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, connectors: &Path, state: &str, id: &str, slots: usize) -> Daemon {
    std::fs::create_dir_all(data).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_synchost"))
        .args(["daemon", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .arg("--connectors")
        .arg(connectors)
        .args(["--state", state, "--daemon-id", id])
        .args(["--per-platform", &slots.to_string()])
        .env(
            "SYNCHOST_CACHE_DIR",
            std::env::temp_dir().join("synchost-fleet-cache"),
        )
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::blocking::get(format!("{url}/healthz")).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "daemon {id} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let token = std::fs::read_to_string(data.join("api-token")).unwrap();
    Daemon { child, url, token }
}

fn call(d: &Daemon, method: &str, path: &str, body: Option<&Value>) -> Value {
    let client = reqwest::blocking::Client::new();
    let mut req = client
        .request(method.parse().unwrap(), format!("{}{path}", d.url))
        .bearer_auth(d.token.trim());
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().unwrap().json().unwrap_or(Value::Null)
}

fn peak_rss_mib(d: &Daemon) -> f64 {
    synchost::dev::status_kib(d.child.id(), "VmHWM").unwrap_or(0) as f64 / 1024.0
}

/// Runs `n` daemons on `jobs` for `window`; returns (runs done, mean run s,
/// peak RSS of each daemon).
fn measure(
    n: usize,
    all: &[Platforms],
    connectors: &Path,
    window: Duration,
    dir: &Path,
) -> (usize, f64, Vec<f64>) {
    let db = ScratchDatabase::new(&format!("fleet{n}"));
    let daemons: Vec<Daemon> = (0..n)
        .map(|k| {
            let data = dir.join(format!("n{n}-d{k}"));
            let _ = std::fs::remove_dir_all(&data);
            start(&data, connectors, &db.url, &format!("d{k}"), all.len())
        })
        .collect();
    for (i, p) in all.iter().enumerate() {
        call(&daemons[0], "POST", "/jobs", Some(&job(i, p)));
    }
    // Whether each job (by number) owes a run.
    let pending = |d: &Daemon| -> Vec<bool> {
        let mut out = vec![false; all.len()];
        for j in call(d, "GET", "/jobs?limit=1000", None).as_array().unwrap() {
            let i: usize = j["sync_id"].as_str().unwrap()["fleet-".len()..]
                .parse()
                .unwrap();
            out[i] = j["pending"] == true;
        }
        out
    };
    // The first runs (the seeded records) before the window.
    for i in 0..all.len() {
        call(
            &daemons[i % n],
            "POST",
            &format!("/jobs/fleet-{i}/trigger"),
            Some(&json!({})),
        );
    }
    while pending(&daemons[0]).iter().any(|p| *p) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let t0 = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let started = Instant::now();
    let mut added = vec![20usize; all.len()];
    while started.elapsed() < window {
        // Each job done is asked again, with new records to carry.
        for (i, pending) in pending(&daemons[0]).into_iter().enumerate() {
            if !pending {
                add(&all[i], i, added[i], 5);
                added[i] += 5;
                call(
                    &daemons[i % n],
                    "POST",
                    &format!("/jobs/fleet-{i}/trigger"),
                    Some(&json!({})),
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let t1 = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let runs: Vec<Value> = (0..all.len())
        .flat_map(|i| {
            let runs = call(
                &daemons[0],
                "GET",
                &format!("/runs?job=fleet-{i}&limit=1000"),
                None,
            );
            runs.as_array().cloned().unwrap_or_default()
        })
        .collect();
    let done: Vec<&Value> = runs
        .iter()
        .filter(|r| {
            let (s, e) = (
                r["started_at"].as_str().unwrap_or(""),
                r["report"]["last_sync"].as_str().unwrap_or(""),
            );
            s >= t0.as_str() && e <= t1.as_str() && r["report"]["status"] == "success"
        })
        .collect();
    let mean = done
        .iter()
        .filter_map(|r| r["report"]["details"]["seconds"].as_f64())
        .sum::<f64>()
        / done.len().max(1) as f64;
    let rss = daemons.iter().map(peak_rss_mib).collect();
    (done.len(), mean, rss)
}

fn main() {
    let jobs: usize = arg("--jobs", "30").parse().unwrap();
    let seconds: u64 = arg("--seconds", "60").parse().unwrap();
    let sizes: Vec<usize> = arg("--daemons", "1,3")
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let connectors: PathBuf = std::env::temp_dir().join("synchost-fleet-connectors");
    std::fs::create_dir_all(&connectors).unwrap();
    for name in ["notion", "airtable"] {
        let built = synchost::dev::build_connector(&format!("synchost-connector-{name}")).unwrap();
        std::fs::copy(built, connectors.join(format!("{name}.wasm"))).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("synchost-fleet-{}", std::process::id()));
    println!(
        "{jobs} jobs, each with its own rate-limited Notion integration and Airtable base; \
         {seconds} s per fleet; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for n in sizes {
        // Fresh platforms for each fleet: the same work from the same start.
        let all: Vec<Platforms> = (0..jobs)
            .map(|i| {
                // SAFETY: set before the daemons are spawned; read by them only.
                unsafe {
                    std::env::set_var(format!("FLEET_NOTION_{i}"), format!("secret_fleet_{i}"));
                    std::env::set_var(format!("FLEET_AIRTABLE_{i}"), format!("pat_fleet_{i}"));
                }
                let p = runtime.block_on(platforms(i));
                add(&p, i, 0, 20);
                p
            })
            .collect();
        let (done, mean, rss) = measure(n, &all, &connectors, Duration::from_secs(seconds), &dir);
        let per_minute = done as f64 * 60.0 / seconds as f64;
        println!(
            "{n} daemon(s): {done} runs in {seconds} s = {per_minute:.1} jobs done per minute; \
             mean run {mean:.2} s; peak RSS per daemon {} MiB",
            rss.iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        drop(all);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
