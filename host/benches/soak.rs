//! Daemon soak (issue 16): prints figures, asserts only correctness.
//!
//! `cargo bench -p synchost --bench soak -- [--jobs 50] [--minutes 20]`
//!
//! One Notion and one Airtable simulator in this process; JOBS databases and
//! tables of 200 records (120 on each side, 40 of them on both); the real
//! `synchost daemon` (this build) on loopback with low retention bounds,
//! running JOBS two-way jobs every minute at mixed priorities. Every minute,
//! at :30, a third of the jobs get edits on both sides. Meanwhile a client
//! polls the API every 200 ms (latencies kept) and every 10 s the daemon's RSS
//! and its data folder's size are sampled. After MINUTES the edits stop; once
//! every job has run after the last edit, every run must have been `success`
//! and both sides of every job must hold the same records. Then SIGTERM.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use synchost_sim::airtable::{AirtableOptions, AirtableRateLimit, AirtableSim};
use synchost_sim::notion::{NotionOptions, NotionSim, RateLimit};

const NOTION_TOKEN: &str = "secret_soak_notion";
const AIRTABLE_TOKEN: &str = "pat_soak_airtable";
/// Low enough to apply within minutes: at a run a minute, a job passes 10
/// runs after 10 minutes, and the first syncs alone write ~170 audit entries
/// a job. Days cannot go below 1, so they never apply here.
const RETENTION: [(&str, &str); 4] = [
    ("--runs-per-job", "10"),
    ("--runs-days", "1"),
    ("--audit-max-entries", "1000"),
    ("--audit-days", "1"),
];
const PRIORITIES: [&str; 4] = ["critical", "high", "normal", "low"];

/// Kills the daemon, by its pid, when the bench ends without stopping it.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A xorshift: the edits need spread, not quality, and a seed to print.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

struct Api {
    url: String,
    token: String,
    client: Client,
}

impl Api {
    fn get(&self, path: &str) -> reqwest::Result<reqwest::blocking::Response> {
        let req = self.client.get(format!("{}{path}", self.url));
        req.bearer_auth(&self.token).send()?.error_for_status()
    }

    fn json(&self, path: &str) -> Value {
        let body = self.get(path).and_then(|r| r.json());
        body.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Every item of a paged list, following its `Link: rel="next"`.
    fn all(&self, path: &str) -> Vec<Value> {
        let (mut items, mut next) = (Vec::new(), Some(path.to_string()));
        while let Some(path) = next.take() {
            let resp = self
                .get(&path)
                .unwrap_or_else(|e| panic!("GET {path}: {e}"));
            next = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok()?.strip_prefix('<')?.split_once('>'))
                .map(|(u, _)| u.strip_prefix(&self.url).unwrap_or(u).to_string());
            items.extend(resp.json::<Vec<Value>>().unwrap());
        }
        items
    }
}

#[derive(Clone)]
struct RunSeen {
    job: String,
    status: String,
    started: DateTime<Utc>,
    /// the report's `last_sync`: when the run ended
    ended: DateTime<Utc>,
    report: Value,
}

struct Sample {
    /// seconds from the start of the window (negative before it)
    t: f64,
    rss_kib: u64,
    data_bytes: u64,
    runs_kept: usize,
    audit_kept: usize,
}

#[derive(Default)]
struct Shared {
    latencies: Mutex<BTreeMap<&'static str, Vec<Duration>>>,
    errors: Mutex<Vec<String>>,
    runs: Mutex<BTreeMap<u64, RunSeen>>,
    max_queued: Mutex<usize>,
    samples: Mutex<Vec<Sample>>,
}

fn rss_kib(pid: u32) -> u64 {
    synchost::dev::status_kib(pid, "VmRSS").unwrap_or(0)
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0, // sled removes segment files while we walk
        })
        .sum()
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// `| count | p50 | p99 | max |` in milliseconds.
fn latency_row(l: &[Duration]) -> String {
    let mut l = l.to_vec();
    l.sort();
    let at = |p: f64| {
        let i = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len().max(1)) - 1;
        l.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let (p50, p99, max) = (at(0.5), at(0.99), at(1.0));
    format!("| {} | {p50:.1} ms | {p99:.1} ms | {max:.1} ms |", l.len())
}

/// Least-squares slope of `points` (x, y), per unit of x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let cov: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    cov / points.iter().map(|(x, _)| (x - mx).powi(2)).sum::<f64>()
}

/// A job's rows as email -> (name, status, points), and the emails seen twice.
type Rows = BTreeMap<String, (String, String, f64)>;

fn rows(items: impl Iterator<Item = (String, (String, String, f64))>) -> (Rows, Vec<String>) {
    let (mut rows, mut dups) = (Rows::new(), Vec::new());
    for (email, row) in items {
        if rows.insert(email.clone(), row).is_some() {
            dups.push(email);
        }
    }
    (rows, dups)
}

fn notion_rows(notion: &NotionSim, db: &str) -> (Rows, Vec<String>) {
    rows(
        notion
            .pages(db)
            .into_iter()
            .filter(|p| p["in_trash"] != true)
            .map(|page| {
                let p = &page["properties"];
                let title = p["Name"]["title"].as_array().into_iter().flatten();
                let name = title.filter_map(|t| t["plain_text"].as_str()).collect();
                let status = p["Status"]["select"]["name"].as_str().unwrap_or_default();
                let points = p["Points"]["number"].as_f64().unwrap_or(0.0);
                let email = p["Email"]["email"].as_str().unwrap_or_default();
                (email.into(), (name, status.into(), points))
            }),
    )
}

fn airtable_rows(airtable: &AirtableSim, base: &str) -> (Rows, Vec<String>) {
    rows(airtable.records(base, "Tasks").into_iter().map(|r| {
        let f = &r["fields"];
        let text = |k: &str| f[k].as_str().unwrap_or_default().to_string();
        let points = f["Points"].as_f64().unwrap_or(0.0);
        (text("Email"), (text("Name"), text("Status"), points))
    }))
}

fn job_spec(i: usize, db: &str, base: &str, notion: &str, airtable: &str) -> Value {
    json!({
        "sync_id": format!("soak-{i:03}"), "project_id": "pf-soak", "mode": "bidirectional",
        "schedule": "* * * * *", "priority": PRIORITIES[i % PRIORITIES.len()],
        "source": {"platform": "Notion", "connector": "notion", "entity": "tasks", "connection": {
            "settings": {"database.tasks": db}, "secrets": {"notion_token": "env:SOAK_NOTION_TOKEN"},
            "endpoint_overrides": {"https://api.notion.com": notion}, "allow_private_networks": true,
            "rate_limit": {"per_second": 400.0, "burst": 100}}},
        "target": {"platform": "Airtable", "connector": "airtable", "entity": "tasks", "connection": {
            "settings": {"base_id": base, "table.tasks": "Tasks"}, "secrets": {"airtable_token": "env:SOAK_AIRTABLE_TOKEN"},
            "endpoint_overrides": {"https://api.airtable.com": airtable}, "allow_private_networks": true,
            "rate_limit": {"per_second": 200.0, "burst": 50}}},
        "match_key": "Email", "conflict": "newest_wins"
    })
}

/// Both simulators and, per job, a Notion database and an Airtable table.
struct World {
    notion: NotionSim,
    airtable: AirtableSim,
    sides: Vec<(String, String)>,
}

/// Generous rate limits; each pair seeded Notion 0..120, Airtable 80..200.
fn world(rt: &tokio::runtime::Runtime, jobs: usize) -> World {
    let (notion, airtable) = rt.block_on(async {
        let notion = NotionSim::start(NotionOptions {
            token: NOTION_TOKEN.into(),
            rate_limit: Some(RateLimit {
                per_second: 1000.0,
                burst: 500,
            }),
            ..Default::default()
        });
        let airtable = AirtableSim::start(AirtableOptions {
            token: AIRTABLE_TOKEN.into(),
            rate_limit: Some(AirtableRateLimit {
                per_second: 500,
                penalty: Duration::from_secs(1),
            }),
            ..Default::default()
        });
        (notion.await.unwrap(), airtable.await.unwrap())
    });
    let notion_props = [
        ("Name", "title"),
        ("Email", "email"),
        ("Status", "select"),
        ("Points", "number"),
    ];
    let airtable_fields = [
        ("Name", "singleLineText"),
        ("Email", "email"),
        ("Status", "singleSelect"),
        ("Points", "number"),
        ("Last Modified", "lastModifiedTime"),
    ];
    let mut sides = Vec::new();
    for _ in 0..jobs {
        let db = notion.create_database("Tasks", &notion_props);
        let base = airtable.create_base();
        airtable.create_table(&base, "Tasks", &airtable_fields);
        airtable.set_choices(&base, "Tasks", "Status", &["Todo", "Doing", "Done"]);
        for i in 0..120 {
            notion.insert_page(&db, json!({
                "Name": {"title": [{"text": {"content": format!("Task {i}")}}]}, "Email": {"email": format!("p{i}@example.com")},
                "Status": {"select": {"name": "Todo"}}, "Points": {"number": i}})).unwrap();
        }
        for i in 80..200 {
            let fields = json!({"Name": format!("Task {i}"), "Email": format!("p{i}@example.com"), "Status": "Todo", "Points": i});
            airtable.insert(&base, "Tasks", fields).unwrap();
        }
        sides.push((db, base));
    }
    World {
        notion,
        airtable,
        sides,
    }
}

/// Starts `synchost daemon` on loopback with the retention flags; its
/// stderr (JSON logs at warn) goes to `log`.
fn start_daemon(data: &Path, connectors: &Path, tmp: &Path, log: &Path) -> (Guard, Api) {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_synchost"));
    cmd.args(["daemon", "--listen", &format!("127.0.0.1:{port}"), "--data"]);
    cmd.arg(data).arg("--connectors").arg(connectors);
    for (flag, value) in RETENTION {
        cmd.args([flag, value]);
    }
    let child = cmd
        .env("SYNCHOST_CACHE_DIR", tmp.join("soak-cache"))
        .env("SOAK_NOTION_TOKEN", NOTION_TOKEN)
        .env("SOAK_AIRTABLE_TOKEN", AIRTABLE_TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut daemon = Guard(child);
    let client = Client::new(); // its requests time out after 30 s
    let url = format!("http://127.0.0.1:{port}");
    let waited = Instant::now();
    while client.get(format!("{url}/healthz")).send().is_err() {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the daemon did not start"
        );
        let exited = daemon.0.try_wait().unwrap();
        assert!(
            exited.is_none(),
            "the daemon exited ({exited:?}); see {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let token = std::fs::read_to_string(data.join("api-token")).unwrap();
    let token = token.trim().to_string();
    (daemon, Api { url, token, client })
}

/// Two updates on each side and one new record, on `n` random jobs.
fn edit(w: &World, rng: &mut Rng, n: usize, minute: usize) {
    let (notion, airtable, sides) = (&w.notion, &w.airtable, &w.sides);
    let statuses = ["Todo", "Doing", "Done"];
    let mut picked = BTreeSet::new();
    while picked.len() < n.min(sides.len()) {
        picked.insert(rng.below(sides.len()));
    }
    for &j in &picked {
        let (db, base) = &sides[j];
        let pages = notion.pages(db);
        for _ in 0..2 {
            let id = id_of(&pages[rng.below(pages.len())]);
            let props = json!({"Status": {"select": {"name": statuses[rng.below(3)]}}, "Points": {"number": rng.below(1000)}});
            notion.update_page(&id, props).unwrap();
        }
        let records = airtable.records(base, "Tasks");
        for k in 0..2 {
            let id = id_of(&records[rng.below(records.len())]);
            let fields =
                json!({"Name": format!("Edited m{minute} #{k}"), "Points": rng.below(1000)});
            airtable.update(base, "Tasks", &id, fields).unwrap();
        }
        let name = format!("New m{minute}");
        let email = format!("new-m{minute}-j{j}@example.com");
        if rng.below(2) == 0 {
            notion.insert_page(db, json!({"Name": {"title": [{"text": {"content": name}}]}, "Email": {"email": email},
                "Status": {"select": {"name": "Todo"}}, "Points": {"number": minute}})).unwrap();
        } else {
            let fields = json!({"Name": name, "Email": email, "Status": "Todo", "Points": minute});
            airtable.insert(base, "Tasks", fields).unwrap();
        }
    }
}

/// Every 200 ms: /healthz, /jobs, /runs and /audit, each timed. Runs are
/// collected here, since retention drops them from the API later.
fn poll(api: &Api, shared: &Shared, stop: &AtomicBool) {
    let paths = ["/healthz", "/jobs", "/runs?limit=200", "/audit?limit=100"];
    while !stop.load(Ordering::Relaxed) {
        let cycle = Instant::now();
        for path in paths {
            let started = Instant::now();
            let body = api.get(path).and_then(|r| r.json::<Value>());
            let took = started.elapsed();
            let body = match body {
                Ok(body) => body,
                Err(e) => {
                    let mut errors = shared.errors.lock().unwrap();
                    errors.push(format!("GET {path}: {e}"));
                    continue;
                }
            };
            let mut latencies = shared.latencies.lock().unwrap();
            latencies.entry(path).or_default().push(took);
            drop(latencies);
            if path == "/healthz" {
                let queued = body["queued"].as_array().map_or(0, |q| q.len());
                let mut max = shared.max_queued.lock().unwrap();
                *max = (*max).max(queued);
            }
            if path.starts_with("/runs") {
                let mut runs = shared.runs.lock().unwrap();
                for r in body.as_array().into_iter().flatten() {
                    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
                    let time = |v: &Value| {
                        let t = DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default());
                        t.map_or(DateTime::<Utc>::MIN_UTC, |t| t.to_utc())
                    };
                    let seen = RunSeen {
                        job: text(&r["job"]),
                        status: text(&r["report"]["status"]),
                        started: time(&r["started_at"]),
                        ended: time(&r["report"]["last_sync"]),
                        report: r["report"].clone(),
                    };
                    runs.entry(r["id"].as_u64().unwrap_or(0)).or_insert(seen);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200).saturating_sub(cycle.elapsed()));
    }
}

/// Every 10 s: the daemon's RSS, the data folder's size, and how many runs
/// and audit entries the API still lists (retention at work).
fn sample(api: &Api, pid: u32, data: &Path, t0: DateTime<Utc>, shared: &Shared, stop: &AtomicBool) {
    loop {
        let s = Sample {
            t: (Utc::now() - t0).num_milliseconds() as f64 / 1e3,
            rss_kib: rss_kib(pid),
            data_bytes: dir_bytes(data),
            runs_kept: api.all("/runs?limit=500").len(),
            audit_kept: api.all("/audit?limit=10000").len(),
        };
        shared.samples.lock().unwrap().push(s);
        for _ in 0..50 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

fn sleep_until(t: DateTime<Utc>) {
    if let Ok(d) = (t - Utc::now()).to_std() {
        std::thread::sleep(d);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`: unknown arguments are ignored.
    let flag = |name: &str, default: usize| -> usize {
        let at = args.iter().position(|a| a == name);
        let value = at.and_then(|i| args.get(i + 1));
        value.map_or(default, |v| v.parse().expect(name))
    };
    let (jobs, minutes) = (flag("--jobs", 50), flag("--minutes", 20));
    assert!(
        jobs > 0 && minutes > 1,
        "--jobs 1 or more, --minutes 2 or more"
    );
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let data = tmp.join(format!("soak-{}", std::process::id()));
    let log = tmp.join(format!("soak-{}-daemon.log", std::process::id()));
    let connectors = tmp.join("soak-connectors");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&connectors).unwrap();
    let seed = Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64 | 1;
    let mut rng = Rng(seed);
    println!("soak: {jobs} jobs, {minutes} minutes, edit seed {seed}");

    let setup = Instant::now();
    for name in ["notion", "airtable"] {
        let package = format!("synchost-connector-{name}");
        let built = synchost::dev::build_connector(&package).unwrap();
        std::fs::copy(built, connectors.join(format!("{name}.wasm"))).unwrap();
    }
    // The simulators' servers live on this runtime; everything else blocks.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = world(&rt, jobs);
    let (mut daemon, api) = start_daemon(&data, &connectors, &tmp, &log);
    let pid = daemon.0.id();
    let flags: Vec<String> = RETENTION.iter().map(|(f, v)| format!("{f} {v}")).collect();
    let flags = flags.join(" ");
    let (url, folder) = (&api.url, data.display());
    println!(
        "daemon: pid {pid}, {url}, data {folder}, log {}",
        log.display()
    );
    println!("daemon flags: {flags} (--per-platform 2, the default)");
    let (notion_url, airtable_url) = (w.notion.base_url(), w.airtable.base_url());
    for (i, (db, base)) in w.sides.iter().enumerate() {
        let spec = job_spec(i, db, base, &notion_url, &airtable_url);
        let req = api.client.post(format!("{url}/jobs"));
        let resp = req.bearer_auth(&api.token).json(&spec).send().unwrap();
        let status = resp.status().as_u16();
        assert_eq!(status, 201, "POST /jobs: {}", resp.text().unwrap());
    }
    let t_setup = setup.elapsed().as_secs_f64();
    println!("setup (connectors, seeding, jobs): {t_setup:.1} s");

    // The window: whole minutes from the first tick after the jobs exist.
    let now = Utc::now().with_nanosecond(0).unwrap();
    let t0 = now.with_second(0).unwrap() + chrono::Duration::minutes(1);
    let t_end = t0 + chrono::Duration::minutes(minutes as i64);
    let shared = Arc::new(Shared::default());
    let stop = Arc::new(AtomicBool::new(false));
    let api = Arc::new(api);
    let threads = [0, 1].map(|k| {
        let (api, shared, stop) = (api.clone(), shared.clone(), stop.clone());
        let data = data.clone();
        std::thread::spawn(move || match k {
            0 => poll(&api, &shared, &stop),
            _ => sample(&api, pid, &data, t0, &shared, &stop),
        })
    });
    let mut last_edit = t0;
    let per_minute = jobs.div_ceil(3);
    for m in 0..minutes {
        // At :30, away from the ticks at :00.
        sleep_until(t0 + chrono::Duration::seconds(60 * m as i64 + 30));
        edit(&w, &mut rng, per_minute, m);
        last_edit = Utc::now();
        let runs = shared.runs.lock().unwrap().len();
        println!("minute {m}: edits on {per_minute} jobs; {runs} runs so far");
    }
    sleep_until(t_end);

    // Settle: a run of each job that starts after the last edit must bring
    // both sides together.
    let settle = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    let job_ids: Vec<String> = (0..jobs).map(|i| format!("soak-{i:03}")).collect();
    loop {
        let runs = shared.runs.lock().unwrap().clone();
        let ran = |j: &String| runs.values().any(|r| &r.job == j && r.started > last_edit);
        let pending: Vec<&String> = job_ids.iter().filter(|j| !ran(j)).collect();
        if pending.is_empty() {
            break;
        }
        if settle.elapsed() > Duration::from_secs(300) {
            failures.push(format!("no run after the last edit in 5 min: {pending:?}"));
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let settled = settle.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }

    // Correctness through the API, before the daemon stops.
    let runs = shared.runs.lock().unwrap().clone();
    for r in runs.values().filter(|r| r.status != "success") {
        let (job, at, status) = (&r.job, r.started, &r.status);
        failures.push(format!("run of {job} at {at} was {status}: {}", r.report));
    }
    for job in &job_ids {
        for r in api.all(&format!("/runs?job={job}&limit=500")) {
            let status = &r["report"]["status"];
            if status != "success" {
                failures.push(format!("GET /runs?job={job}: {} is {status}", r["id"]));
            }
        }
    }
    let metrics = api.get("/metrics").unwrap().text().unwrap();
    let prefix = "synchost_runs_total{status=\"";
    let by_status: Vec<(String, u64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix(prefix)?.split_once("\"} "))
        .map(|(s, n)| (s.to_string(), n.trim().parse().unwrap_or(0)))
        .collect();
    let total: u64 = by_status.iter().map(|(_, n)| n).sum();
    for (status, n) in by_status.iter().filter(|(s, n)| s != "success" && *n > 0) {
        failures.push(format!("/metrics: {n} runs {status}"));
    }
    let max_id = runs.keys().max().copied().unwrap_or(0);
    let unseen = (1..=max_id).filter(|id| !runs.contains_key(id)).count();
    let health = api.json("/healthz");
    if health["status"] != "ok" {
        failures.push(format!("/healthz at the end: {health}"));
    }

    // SIGTERM, and how long the daemon takes to stop.
    let stopping = Instant::now();
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let exit = loop {
        match daemon.0.try_wait().unwrap() {
            Some(status) => break Some(status),
            None if stopping.elapsed() > Duration::from_secs(120) => break None,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let stopped = stopping.elapsed().as_secs_f64();
    if !exit.is_some_and(|s| s.success()) {
        failures.push(format!("after SIGTERM, within 120 s, the daemon: {exit:?}"));
    }
    drop(daemon);

    // Both sides of every job: the same records, by email.
    let mut records = 0;
    for (i, (db, base)) in w.sides.iter().enumerate() {
        let (n, nd) = notion_rows(&w.notion, db);
        let (a, ad) = airtable_rows(&w.airtable, base);
        records += n.len();
        if !nd.is_empty() || !ad.is_empty() {
            failures.push(format!("soak-{i:03}: duplicates: {nd:?} (Notion), {ad:?}"));
        }
        let keys: BTreeSet<&String> = n.keys().chain(a.keys()).collect();
        let differ: Vec<String> = keys
            .into_iter()
            .filter(|k| n.get(*k) != a.get(*k))
            .map(|k| format!("{k}: Notion {:?} / Airtable {:?}", n.get(k), a.get(k)))
            .collect();
        if !differ.is_empty() {
            let (count, rows) = (differ.len(), differ.join("; "));
            failures.push(format!("soak-{i:03}: {count} rows differ: {rows}"));
        }
    }

    // Figures.
    let window = |r: &&RunSeen| r.started >= t0 && r.started < t_end;
    let in_window: Vec<&RunSeen> = runs.values().filter(window).collect();
    let slot = |r: &&RunSeen| (r.job.clone(), (r.started - t0).num_minutes());
    let slots: BTreeSet<(String, i64)> = in_window.iter().map(slot).collect();
    let mut by_minute = vec![0; minutes];
    for (_, m) in &slots {
        by_minute[*m as usize] += 1;
    }
    let (from, to) = (t0.format("%H:%M"), t_end.format("%H:%M"));
    println!("\n## figures\n\njobs {jobs}, minutes {minutes} ({from} .. {to} UTC)");
    println!("edits: every minute on {per_minute} jobs (2 updates a side, 1 create)");
    let seen = runs.len();
    println!(
        "runs: {seen} seen (ids 1..{max_id}, {unseen} unseen); /metrics {total}: {by_status:?}"
    );
    let (n, rate) = (in_window.len(), in_window.len() as f64 / minutes as f64);
    println!("runs in the window: {n} = {rate:.1} per minute (expected {jobs})");
    let (ran, all) = (slots.len(), jobs * minutes);
    let fraction = ran as f64 / all as f64;
    println!("(job, minute) slots that ran: {ran}/{all} = {fraction:.3}");
    println!("jobs that ran, by minute of the window: {by_minute:?}");
    // How long runs took, and how long after their minute's tick they began.
    let ms = |d: chrono::TimeDelta| d.to_std().unwrap_or_default();
    let took: Vec<Duration> = in_window.iter().map(|r| ms(r.ended - r.started)).collect();
    let late = |r: &&RunSeen| ms(r.started - t0 - chrono::Duration::minutes(slot(r).1));
    let delays: Vec<Duration> = in_window.iter().map(late).collect();
    println!("\n| runs in the window | count | p50 | p99 | max |\n|---|---|---|---|---|");
    println!(
        "| run time (started_at to last_sync) {}",
        latency_row(&took)
    );
    println!("| start after the minute's tick {}", latency_row(&delays));
    let queued = *shared.max_queued.lock().unwrap();
    println!("most jobs queued at once (/healthz): {queued}");
    println!("settled {settled:.1} s after the window; exit {stopped:.1} s after SIGTERM");
    println!("records at the end: {records} a side over all jobs");
    let latencies = shared.latencies.lock().unwrap();
    println!("\n| API request | count | p50 | p99 | max |\n|---|---|---|---|---|");
    for (path, l) in latencies.iter() {
        println!("| GET {path} {}", latency_row(l));
    }
    let every: Vec<Duration> = latencies.values().flatten().copied().collect();
    println!("| all {}", latency_row(&every));
    let errors = shared.errors.lock().unwrap();
    let first: Vec<&String> = errors.iter().take(3).collect();
    println!("API errors: {} {first:?}", errors.len());

    let samples = shared.samples.lock().unwrap();
    let rss: Vec<f64> = samples.iter().map(|s| s.rss_kib as f64 / 1024.0).collect();
    let max_rss = rss.iter().copied().fold(0.0, f64::max);
    let (first, last) = (rss.first().unwrap_or(&0.0), rss.last().unwrap_or(&0.0));
    println!("\nRSS: start {first:.0} MiB (jobs created), max {max_rss:.0} MiB, end {last:.0} MiB");
    println!("\n| minute | RSS | data folder | runs listed | audit entries listed |");
    println!("|---|---|---|---|---|");
    for (k, s) in samples.iter().enumerate() {
        // The first sample, then the last of each minute.
        let minute = (s.t / 60.0).floor();
        let next = samples.get(k + 1).map(|n| (n.t / 60.0).floor());
        if k == 0 || next != Some(minute) {
            let (rss, size) = (s.rss_kib as f64 / 1024.0, mib(s.data_bytes as f64));
            let (t, runs, audit) = (s.t, s.runs_kept, s.audit_kept);
            println!("| {minute} ({t:+.0} s) | {rss:.0} MiB | {size:.2} MiB | {runs} | {audit} |");
        }
    }
    // Once retention holds both lists at their caps (the first sample from
    // which neither grows again), to the window's end.
    let runs_cap = samples.iter().map(|s| s.runs_kept).max().unwrap_or(0);
    let audit_cap = samples.iter().map(|s| s.audit_kept).max().unwrap_or(0);
    let capped = samples
        .iter()
        .position(|s| s.runs_kept == runs_cap && s.audit_kept == audit_cap);
    let from = capped.map_or(f64::MAX, |k| samples[k].t);
    let after = |s: &&Sample| s.t >= from && s.t <= minutes as f64 * 60.0;
    let late: Vec<&Sample> = samples.iter().filter(after).collect();
    if late.len() >= 2 {
        let size: Vec<(f64, f64)> = late.iter().map(|s| (s.t, s.data_bytes as f64)).collect();
        let rss: Vec<(f64, f64)> = late
            .iter()
            .map(|s| (s.t, s.rss_kib as f64 * 1024.0))
            .collect();
        let (size, rss) = (mib(slope(&size) * 86400.0), mib(slope(&rss) * 86400.0));
        let n = late.len();
        println!("\nonce retention holds (from {from:+.0} s, {n} samples), least squares extrapolated to a day:");
        println!("data folder {size:+.1} MiB/day, RSS {rss:+.1} MiB/day");
    } else {
        println!("\nretention did not hold both lists at their caps for two samples: run longer");
    }
    println!("daemon flags: {flags}");

    if !failures.is_empty() {
        println!(
            "\ndata folder kept: {folder}; daemon log: {}",
            log.display()
        );
        panic!("{} failures:\n{}", failures.len(), failures.join("\n"));
    }
    let _ = std::fs::remove_dir_all(&data);
    println!("\ncorrect: every run success, both sides of every job identical");
}
