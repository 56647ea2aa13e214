//! Sync benchmark: prints figures, asserts only that the sync was right.
//!
//! `cargo bench -p synchost --bench sync -- [RECORDS] [--linked LINKED]`
//!
//! - initial two-way sync of RECORDS (default 100,000) per side, 20% of them
//!   on both sides already (matched by email), rate limits off;
//! - no-op re-sync of those RECORDS, incremental and full;
//! - incremental re-sync with 0.1% of the records changed;
//! - with `--linked N`: a no-op re-sync of N linked records (N = 1,000,000 for
//!   the figure), both sides seeded alike and linked by a first sync;
//! - with `--state postgres`: the state in a PostgreSQL database (made and
//!   dropped on the local server) instead of the embedded store.
//!
//! Peak memory is the growth of the process's resident set during a phase
//! (sampled every 20 ms), above what the simulators already held.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use synchost::job::Job;
use synchost::runtime::{Runtime, RuntimeOptions};
use synchost::state::State;
use synchost::sync::{self, ConnectorSource, Report, RunOptions};
use synchost_sim::airtable::{AirtableOptions, AirtableSim};
use synchost_sim::notion::{NotionOptions, NotionSim};

// The allocator of the `synchost` binary, which this bench runs in process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_kib() -> u64 {
    synchost::dev::status_kib("self", "VmRSS").unwrap_or(0)
}

/// Runs `f`, returning its value, its time and the peak RSS growth (MiB).
async fn measured<T>(f: impl std::future::Future<Output = T>) -> (T, Duration, f64) {
    let base = rss_kib();
    let peak = Arc::new(AtomicU64::new(base));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    let value = f.await;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    peak.fetch_max(rss_kib(), Ordering::Relaxed);
    (
        value,
        elapsed,
        (peak.load(Ordering::Relaxed).saturating_sub(base)) as f64 / 1024.0,
    )
}

struct Bench {
    notion: NotionSim,
    airtable: AirtableSim,
    db: String,
    base: String,
    runtime: Runtime,
    state: State,
    job: Job,
    options: RunOptions,
    /// the database of a PostgreSQL state, dropped with the bench
    _db: Option<synchost::state::testing::ScratchDatabase>,
}

impl Bench {
    async fn new(tag: &str) -> Bench {
        unsafe {
            std::env::set_var("BENCH_NOTION_TOKEN", "bench-notion");
            std::env::set_var("BENCH_AIRTABLE_TOKEN", "bench-airtable");
        }
        let notion = NotionSim::start(NotionOptions {
            token: "bench-notion".into(),
            rate_limit: None,
            ..Default::default()
        })
        .await
        .unwrap();
        let airtable = AirtableSim::start(AirtableOptions {
            token: "bench-airtable".into(),
            rate_limit: None,
            ..Default::default()
        })
        .await
        .unwrap();
        let db = notion.create_tasks_database("Tasks");
        let base = airtable.create_base();
        airtable.create_tasks_table(&base, "Tasks");
        let off = json!({"per_second": 1e9, "burst": 1000000});
        let job = Job::from_value(json!({
            "sync_id": tag, "mode": "bidirectional", "schedule": "manual", "page_size": 100,
            "source": {"platform": "Notion", "connector": "notion", "entity": "tasks", "connection": {
                "settings": {"database.tasks": db}, "secrets": {"notion_token": "env:BENCH_NOTION_TOKEN"},
                "endpoint_overrides": {"https://api.notion.com": notion.base_url()}, "allow_private_networks": true, "rate_limit": off}},
            "target": {"platform": "Airtable", "connector": "airtable", "entity": "tasks", "connection": {
                "settings": {"base_id": base, "table.tasks": "Tasks"}, "secrets": {"airtable_token": "env:BENCH_AIRTABLE_TOKEN"},
                "endpoint_overrides": {"https://api.airtable.com": airtable.base_url()}, "allow_private_networks": true, "rate_limit": off}},
            "match_key": "Email", "conflict": "newest_wins"
        }))
        .unwrap();
        let dir = std::env::temp_dir().join(format!("synchost-bench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runtime = Runtime::new(RuntimeOptions {
            cache_dir: Some(std::env::temp_dir().join("synchost-bench-cache")),
            ..Default::default()
        })
        .unwrap();
        let connectors = std::env::temp_dir().join("synchost-bench-connectors");
        std::fs::create_dir_all(&connectors).unwrap();
        for name in ["notion", "airtable"] {
            let built =
                synchost::dev::build_connector(&format!("synchost-connector-{name}")).unwrap();
            std::fs::copy(built, connectors.join(format!("{name}.wasm"))).unwrap();
        }
        let options = RunOptions {
            full: false,
            connectors: ConnectorSource {
                dir: Some(connectors),
                loaded: None,
            },
            progress: false,
            details: true,
            batch: None,
            daemon: None,
        };
        let pg = std::env::args()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w[0] == "--state" && w[1] == "postgres");
        let (state, _db) = if pg {
            let db = synchost::state::testing::ScratchDatabase::new(tag);
            let state = State::open_postgres(&db.url, &dir.with_extension("scratch")).unwrap();
            (state, Some(db))
        } else {
            (State::open(&dir).unwrap(), None)
        };
        Bench {
            notion,
            airtable,
            db,
            base,
            runtime,
            state,
            job,
            options,
            _db,
        }
    }

    fn seed_notion(&self, range: std::ops::Range<usize>) {
        for i in range {
            self.notion
                .insert_page(
                    &self.db,
                    json!({
                        "Name": {"title": [{"text": {"content": format!("Task {i}")}}]},
                        "Email": {"email": format!("p{i}@example.com")},
                        "Status": {"select": {"name": "Todo"}},
                        "Points": {"number": i},
                    }),
                )
                .unwrap();
        }
    }

    fn seed_airtable(&self, range: std::ops::Range<usize>) {
        for i in range {
            self.airtable.insert(&self.base, "Tasks", json!({"Name": format!("Task {i}"), "Email": format!("p{i}@example.com"), "Status": "Todo", "Points": i})).unwrap();
        }
    }

    fn tick(&self) {
        self.notion.clock().advance(chrono::Duration::minutes(10));
        self.airtable.clock().advance(chrono::Duration::minutes(10));
    }

    async fn sync(&self, full: bool) -> (Report, Duration, f64) {
        let options = RunOptions {
            full,
            ..self.options.clone()
        };
        let (report, elapsed, mib) =
            measured(sync::run(&self.job, &self.runtime, &self.state, &options)).await;
        let report = report.unwrap();
        assert_eq!(report.status, sync::Status::Success, "{report:?}");
        (report, elapsed, mib)
    }
}

fn row(what: &str, records: usize, r: &Report, t: Duration, mib: f64) {
    let d = r.details.as_ref().unwrap();
    println!(
        "| {what} | {records} | {} | {} + {} | {:.2} s | {:.0} | {:.0} MiB |",
        r.synced_items,
        d.source.records_read,
        d.target.records_read,
        t.as_secs_f64(),
        records as f64 / t.as_secs_f64(),
        mib
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let linked: Option<usize> = args
        .iter()
        .position(|a| a == "--linked")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());

    println!("| phase | records per side | writes | records read (Notion + Airtable) | time | records/s | peak memory growth |");
    println!("|---|---|---|---|---|---|---|");
    let b = Bench::new("bench").await;
    // Notion holds 0..60%, Airtable 40..100%: 20% on both, 100% in the union.
    let (notion_end, airtable_start) = (n * 3 / 5, n * 2 / 5);
    b.seed_notion(0..notion_end);
    b.seed_airtable(airtable_start..n);
    let (r, t, mib) = b.sync(false).await;
    row("initial two-way sync", n, &r, t, mib);
    assert_eq!(
        r.synced_items as usize,
        (n - notion_end) + airtable_start,
        "one create per record missing on a side"
    );
    b.tick();
    // The first incremental read after a sync sees that sync's own writes
    // (made after its reads began) once: their echo, equal to the shadows.
    let (r, t, mib) = b.sync(false).await;
    row(
        "re-sync, nothing changed, incremental (reads the last run's writes back)",
        n,
        &r,
        t,
        mib,
    );
    assert_eq!(r.synced_items, 0);
    b.tick();
    let (r, t, mib) = b.sync(false).await;
    row(
        "re-sync, nothing changed, incremental (steady state)",
        n,
        &r,
        t,
        mib,
    );
    assert_eq!(r.synced_items, 0);
    b.tick();
    let (r, t, mib) = b.sync(true).await;
    row("re-sync, nothing changed, full scan", n, &r, t, mib);
    assert_eq!(r.synced_items, 0);
    b.tick();
    let changed = (n / 1000).max(1);
    let ids: std::collections::HashMap<String, String> = b
        .notion
        .pages(&b.db)
        .into_iter()
        .map(|p| {
            (
                p["properties"]["Email"]["email"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut picked = std::collections::BTreeSet::new();
    for i in 0..changed {
        picked.insert(format!("p{}@example.com", i * 997 % notion_end));
    }
    for email in &picked {
        b.notion
            .update_page(&ids[email], json!({"Points": {"number": -1}}))
            .unwrap();
    }
    let changed = picked.len();
    let (r, t, mib) = b.sync(false).await;
    row(
        &format!("re-sync, {changed} changed (0.1%), incremental"),
        n,
        &r,
        t,
        mib,
    );
    assert_eq!(r.synced_items as usize, changed, "writes equal changes");
    drop(b);

    if let Some(linked) = linked {
        let b = Bench::new("bench-linked").await;
        b.seed_notion(0..linked);
        b.seed_airtable(0..linked);
        let (r, t, mib) = b.sync(false).await;
        row(
            "first sync, all records on both sides (links made)",
            linked,
            &r,
            t,
            mib,
        );
        assert_eq!(r.synced_items, 0);
        b.tick();
        let (r, t, mib) = b.sync(false).await;
        row(
            "re-sync of linked records, nothing changed, incremental",
            linked,
            &r,
            t,
            mib,
        );
        assert_eq!(r.synced_items, 0);
        b.tick();
        let (r, t, mib) = b.sync(true).await;
        row(
            "re-sync of linked records, nothing changed, full scan",
            linked,
            &r,
            t,
            mib,
        );
        assert_eq!(r.synced_items, 0);
    }
}
