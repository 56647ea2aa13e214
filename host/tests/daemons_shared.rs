//! Several daemons on one PostgreSQL state (issue 13): each started as a
//! process with the same `--state`, sharing 20 jobs against the Notion and
//! Airtable simulators. A trigger runs its job once, wherever it lands; a
//! daemon killed with SIGKILL mid-run leaves its jobs to the others once
//! its claims expire, and the end state matches a model: every record of
//! every job's Notion database is in its Airtable table once (0 lost, 0
//! duplicated). `SHARED_KILLS=N` (default 10) and `SHARED_SEED=S` vary the
//! campaign.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::daemon::{blocking, new_version_of, Daemon};
use common::World;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use synchost::state::testing::ScratchDatabase;

const JOBS: usize = 20;

/// One world's simulators, with a Notion database and an Airtable table
/// per job.
struct Jobs {
    w: World,
    dbs: Vec<String>,
}

impl Jobs {
    async fn new(tag: &str, records: usize) -> Jobs {
        let w = World::new(tag, "newest_wins").await;
        let mut dbs = Vec::new();
        for i in 0..JOBS {
            let db = w.notion.create_tasks_database(&format!("Tasks {i}"));
            w.airtable.create_tasks_table(&w.base, &format!("Tasks{i}"));
            dbs.push(db);
        }
        let jobs = Jobs { w, dbs };
        for i in 0..JOBS {
            jobs.add(i, 0..records);
        }
        jobs
    }

    fn id(i: usize) -> String {
        format!("shared-{i}")
    }

    /// Job `i`: its Notion database into its Airtable table, both ways;
    /// Airtable's writes slowed to `per_second`, so that a run lasts.
    fn spec(&self, i: usize, per_second: f64) -> Value {
        let mut job = self.w.job.clone();
        job["sync_id"] = json!(Jobs::id(i));
        job["source"]["connection"]["settings"]["database.tasks"] = json!(self.dbs[i]);
        job["target"]["connection"]["settings"]["table.tasks"] = json!(format!("Tasks{i}"));
        job["target"]["connection"]["rate_limit"] = json!({"per_second": per_second, "burst": 1});
        job
    }

    fn add(&self, i: usize, range: std::ops::Range<usize>) {
        for n in range {
            self.w
                .notion
                .insert_page(
                    &self.dbs[i],
                    json!({
                        "Name": {"title": [{"text": {"content": format!("Task {n}")}}]},
                        "Email": {"email": format!("j{i}-{n}@example.com")},
                        "Status": {"select": {"name": "Todo"}},
                        "Points": {"number": n},
                    }),
                )
                .unwrap();
        }
    }

    /// The emails in job `i`'s Notion database.
    fn notion(&self, i: usize) -> BTreeSet<String> {
        self.w
            .notion
            .pages(&self.dbs[i])
            .iter()
            .filter(|p| p["in_trash"] != true)
            .map(|p| {
                p["properties"]["Email"]["email"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    /// The emails in job `i`'s Airtable table, each with how many records
    /// hold it.
    fn airtable(&self, i: usize) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in self.w.airtable.records(&self.w.base, &format!("Tasks{i}")) {
            let email = r["fields"]["Email"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            *out.entry(email).or_insert(0) += 1;
        }
        out
    }

    /// Every job's Airtable table holds each of its Notion records once.
    fn assert_model(&self) {
        for i in 0..JOBS {
            let want = self.notion(i);
            let got = self.airtable(i);
            let duplicated: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
            assert!(duplicated.is_empty(), "job {i}: duplicated {duplicated:?}");
            let lost: Vec<_> = want.iter().filter(|e| !got.contains_key(*e)).collect();
            assert!(lost.is_empty(), "job {i}: lost {lost:?}");
            assert_eq!(got.len(), want.len(), "job {i}: nothing else");
        }
    }
}

/// Daemons on one database, each with a data folder of its own.
struct Fleet {
    db: ScratchDatabase,
    dir: PathBuf,
    daemons: Vec<Daemon>,
    started: usize,
    lease_secs: f64,
    /// each daemon's `--per-platform` (counted across them)
    per_platform: usize,
}

impl Fleet {
    fn new(tag: &str, n: usize, lease_secs: f64) -> Fleet {
        Fleet::with_slots(tag, n, lease_secs, 8)
    }

    fn with_slots(tag: &str, n: usize, lease_secs: f64, per_platform: usize) -> Fleet {
        let db = ScratchDatabase::new(tag);
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut fleet = Fleet {
            db,
            dir,
            daemons: Vec::new(),
            started: 0,
            lease_secs,
            per_platform,
        };
        for _ in 0..n {
            let d = fleet.start(fleet.daemons.len());
            fleet.daemons.push(d);
        }
        fleet
    }

    /// Starts daemon `slot` (again), under a name it never had.
    fn start(&mut self, slot: usize) -> Daemon {
        self.started += 1;
        let data = self.dir.join(format!("d{slot}"));
        let id = format!("d{slot}-{}", self.started);
        let (lease, slots) = (self.lease_secs.to_string(), self.per_platform.to_string());
        Daemon::start_with(
            &data,
            &[
                "--per-platform",
                &slots,
                "--state",
                &self.db.url,
                "--daemon-id",
                &id,
                "--lease-secs",
                &lease,
            ],
            &[],
        )
    }

    /// Makes `specs` through the first daemon (every daemon sees them),
    /// and triggers each through another daemon in turn.
    fn add_and_trigger(&self, specs: &[Value]) {
        for spec in specs {
            assert_eq!(self.daemons[0].post("/jobs", spec).0, 201);
        }
        for (i, spec) in specs.iter().enumerate() {
            let d = &self.daemons[i % self.daemons.len()];
            let path = format!("/jobs/{}/trigger", spec["sync_id"].as_str().unwrap());
            assert_eq!(d.post(&path, &json!({})).0, 202);
        }
    }

    fn any(&self) -> &Daemon {
        &self.daemons[0]
    }

    fn runs(&self, i: usize) -> Vec<Value> {
        self.any().runs(&Jobs::id(i))
    }

    /// No job owes a run (none queued or running anywhere).
    fn idle(&self) -> bool {
        let jobs = self.any().get("/jobs?limit=1000");
        jobs.as_array()
            .unwrap()
            .iter()
            .all(|j| j["pending"] == false)
    }

    fn wait_idle(&self, within: Duration) {
        let started = Instant::now();
        while !self.idle() {
            assert!(
                started.elapsed() < within,
                "every job done within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn daemon_of(run: &Value) -> String {
    run["report"]["daemon"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_share_twenty_jobs_and_each_trigger_runs_its_job_once() {
    let jobs = Jobs::new("shared-once", 5).await;
    let specs: Vec<Value> = (0..JOBS).map(|i| jobs.spec(i, 20.0)).collect();
    let jobs = blocking(move || {
        let fleet = Fleet::new("shared_once", 3, 5.0);
        // Made through one daemon and seen by all (the jobs are in the
        // state); each triggered through another daemon.
        fleet.add_and_trigger(&specs);
        for d in &fleet.daemons {
            assert_eq!(d.get("/jobs").as_array().map(Vec::len), Some(JOBS));
        }
        fleet.wait_idle(Duration::from_secs(120));
        // Long enough for any second run to start and show.
        std::thread::sleep(Duration::from_secs(3));
        let mut by = BTreeMap::new();
        for i in 0..JOBS {
            let runs = fleet.runs(i);
            assert_eq!(runs.len(), 1, "job {i} ran once: {runs:?}");
            assert_eq!(runs[0]["report"]["status"], "success");
            *by.entry(daemon_of(&runs[0])).or_insert(0) += 1;
        }
        assert!(by.len() >= 2, "the work was shared: {by:?}");
        let health = fleet.daemons[1].get("/healthz");
        assert_eq!(health["daemon"], "d1-2");
        assert_eq!(health["shared_state"], true);
        assert!(fleet.daemons[2]
            .metrics()
            .contains("synchost_daemon_info{daemon=\"d2-3\""));
        jobs
    })
    .await;
    jobs.assert_model();
}

/// The jobs `d` holds a live claim on.
fn leased(d: &Daemon) -> Vec<String> {
    d.get("/healthz")["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["job"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_killed_mid_run_leave_their_jobs_to_the_others_and_nothing_is_lost_or_duplicated() {
    let kills: usize = std::env::var("SHARED_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("SHARED_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(13);
    let jobs = Jobs::new("shared-kill", 20).await;
    // Airtable at 15 requests a second per credential, across the daemons
    // (every job here uses one token, and the rate is shared): 20 first
    // runs of 3 requests each take about 4 s between them.
    let specs: Vec<Value> = (0..JOBS).map(|i| jobs.spec(i, 15.0)).collect();
    let lease = 3.0;
    let jobs = blocking(move || {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut fleet = Fleet::new("shared_kill", 3, lease);
        fleet.add_and_trigger(&specs);
        let mut extra = 20;
        for kill in 0..kills {
            // A daemon holding a job, at a seeded moment.
            std::thread::sleep(Duration::from_millis(rng.random_range(200..1500)));
            let started = Instant::now();
            let (slot, held) = loop {
                let holding: Vec<(usize, Vec<String>)> = (0..3)
                    .map(|s| (s, leased(&fleet.daemons[s])))
                    .filter(|(_, l)| !l.is_empty())
                    .collect();
                if !holding.is_empty() {
                    break holding[rng.random_range(0..holding.len())].clone();
                }
                // Nothing running: more work, and wait for it to start.
                let i = rng.random_range(0..JOBS);
                jobs.add(i, extra..extra + 5);
                extra += 5;
                fleet.daemons[0].post(&format!("/jobs/{}/trigger", Jobs::id(i)), &json!({}));
                assert!(started.elapsed() < Duration::from_secs(30), "nothing runs");
                std::thread::sleep(Duration::from_millis(200));
            };
            let killed_id = fleet.daemons[slot].get("/healthz")["daemon"]
                .as_str()
                .unwrap()
                .to_string();
            let killed_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            fleet.daemons[slot].kill();
            let killed = Instant::now();
            fleet.daemons[slot] = fleet.start(slot);
            // Every job it held runs to its end elsewhere within the
            // claim's lifetime and 10 s.
            for job in &held {
                let within = Duration::from_secs_f64(lease + 10.0);
                loop {
                    let runs = fleet.any().runs(job);
                    let taken = runs.iter().find(|r| {
                        r["started_at"].as_str().unwrap_or_default() > killed_at.as_str()
                            && daemon_of(r) != killed_id
                    });
                    if let Some(run) = taken {
                        eprintln!(
                            "kill {kill}: {killed_id} held {job}; {} finished it after {:?}",
                            daemon_of(run),
                            killed.elapsed()
                        );
                        break;
                    }
                    // Or its run ended between the look and the kill: then
                    // every ask of it is answered, and nothing was left.
                    let pending = fleet.any().get(&format!("/jobs/{job}"))["pending"] == true;
                    if !pending && runs.first().is_some_and(|r| daemon_of(r) == killed_id) {
                        eprintln!("kill {kill}: {killed_id} finished {job} before it died");
                        break;
                    }
                    assert!(
                        killed.elapsed() < within,
                        "kill {kill}: {job} of {killed_id} not finished within {within:?}: \
                         job {}, runs {:?}, daemons {:?}",
                        fleet.any().get(&format!("/jobs/{job}")),
                        fleet.any().runs(job),
                        fleet
                            .daemons
                            .iter()
                            .map(|d| d.get("/healthz"))
                            .collect::<Vec<_>>()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            // More records and asks, on random jobs, between kills.
            for _ in 0..3 {
                let i = rng.random_range(0..JOBS);
                jobs.add(i, extra..extra + 5);
                extra += 5;
                let d = &fleet.daemons[rng.random_range(0..3)];
                d.post(&format!("/jobs/{}/trigger", Jobs::id(i)), &json!({}));
            }
        }
        fleet.wait_idle(Duration::from_secs(180));
        // One last run of each, which must find nothing left to do.
        for i in 0..JOBS {
            fleet.daemons[i % 3].post(&format!("/jobs/{}/trigger", Jobs::id(i)), &json!({}));
        }
        fleet.wait_idle(Duration::from_secs(120));
        for i in 0..JOBS {
            let last = &fleet.runs(i)[0];
            assert_eq!(last["report"]["status"], "success", "job {i}: {last}");
        }
        jobs
    })
    .await;
    jobs.assert_model();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_uploaded_to_one_daemon_serves_the_others_next_runs() {
    let jobs = Jobs::new("shared-connector", 3).await;
    let spec = jobs.spec(0, 20.0);
    blocking(move || {
        let fleet = Fleet::new("shared_connector", 2, 5.0);
        let (a, b) = (&fleet.daemons[0], &fleet.daemons[1]);
        let wasm = std::fs::read(common::connectors().join("airtable.wasm")).unwrap();
        let newer = new_version_of(&wasm);
        let (status, body) = a.put_connector("airtable", newer);
        assert_eq!(status, 200, "{body}");
        let hash = a.connector_hash("airtable");
        let started = Instant::now();
        while b.connector_hash("airtable") != hash {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "b swapped it in"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // A daemon started later serves it from the first.
        let mut fleet = fleet;
        let c = fleet.start(2);
        assert_eq!(c.connector_hash("airtable"), hash);
        // b's next run uses it: b alone is up.
        fleet.daemons[0].kill();
        c.post("/jobs", &spec);
        drop(c);
        let b = &fleet.daemons[1];
        b.post(&format!("/jobs/{}/trigger", Jobs::id(0)), &json!({}));
        let run = b.wait_for_run(&Jobs::id(0), &["success"], Duration::from_secs(60));
        assert_eq!(
            daemon_of(&run),
            b.get("/healthz")["daemon"].as_str().unwrap()
        );
        assert_eq!(
            run["report"]["details"]["target"]["connector_sha256"],
            hash.as_str()
        );
    })
    .await;
}

/// The daily budget of a platform and credential, spent through one daemon,
/// is spent for the next: a daemon started after the first stopped finds
/// it spent (in one process, a budget is counted in memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_budget_spent_through_one_daemon_is_spent_for_all() {
    let jobs = Jobs::new("shared-budget", 12).await;
    // Two jobs on one Airtable token: 4 requests a day between them. The
    // first run reads once and writes twice (12 records, 10 a call).
    let specs: Vec<Value> = (0..2)
        .map(|i| {
            let mut spec = jobs.spec(i, 20.0);
            spec["target"]["connection"]["rate_limit"]["daily_budget"] = json!(4);
            spec
        })
        .collect();
    blocking(move || {
        let mut fleet = Fleet::new("shared_budget", 1, 5.0);
        let a = &fleet.daemons[0];
        for spec in &specs {
            assert_eq!(a.post("/jobs", spec).0, 201);
        }
        a.post(&format!("/jobs/{}/trigger", Jobs::id(0)), &json!({}));
        a.wait_for_run(&Jobs::id(0), &["success"], Duration::from_secs(60));
        fleet.daemons[0].kill();
        let b = fleet.start(1);
        b.post(&format!("/jobs/{}/trigger", Jobs::id(1)), &json!({}));
        let run = b.wait_for_run(
            &Jobs::id(1),
            &["success", "queued", "partial", "failed"],
            Duration::from_secs(60),
        );
        assert_eq!(run["report"]["status"], "queued", "{run}");
        assert!(
            run.to_string().contains("daily budget"),
            "the run says why: {run}"
        );
    })
    .await;
}

/// Tokens are the daemons' together: each one's admin token opens the
/// others, and a project token made for the shared state opens all of them
/// (and, revoked, none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_shared_by_the_daemons() {
    blocking(|| {
        let fleet = Fleet::new("shared_tokens", 2, 5.0);
        let (a, b) = (&fleet.daemons[0], &fleet.daemons[1]);
        assert_ne!(a.token, b.token);
        assert_eq!(
            b.get_as(&a.token, "/jobs").0,
            200,
            "a's admin token opens b"
        );
        assert_eq!(a.get_as(&b.token, "/jobs").0, 200);
        assert_eq!(a.get_as("not-a-token", "/jobs").0, 401);
        let data = a.data.to_str().unwrap();
        let (code, token, err) = common::synchost(&[
            "token",
            "create",
            "--project",
            "pf-test",
            "--data",
            data,
            "--state",
            &fleet.db.url,
        ]);
        assert_eq!(code, 0, "{err}");
        let token = token.trim();
        for d in [a, b] {
            assert_eq!(
                d.get_as(token, "/jobs").0,
                200,
                "the project token opens each"
            );
            assert_eq!(d.get_as(token, "/metrics").0, 403, "within its scope");
        }
        let id = token.split('_').nth(1).unwrap();
        let (code, _, err) = common::synchost(&[
            "token",
            "revoke",
            id,
            "--data",
            data,
            "--state",
            &fleet.db.url,
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(b.get_as(token, "/jobs").0, 401, "revoked on all at once");
    })
    .await;
}

/// A signed webhook delivery sent to every daemon (a platform retrying
/// through a load balancer) is accepted by one, and its job runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_sent_to_every_daemon_runs_its_job_once() {
    let jobs = Jobs::new("shared-hook", 2).await;
    const SECRET: &str = "secret_shared_webhook";
    // SAFETY: set before the daemons are spawned; read by them only.
    unsafe { std::env::set_var("SHARED_NOTION_WEBHOOK", SECRET) };
    let mut spec = jobs.spec(0, 20.0);
    spec["source"]["connection"]["secrets"]["notion_webhook_secret"] =
        json!("env:SHARED_NOTION_WEBHOOK");
    let page = jobs.w.notion.pages(&jobs.dbs[0])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (headers, body) = jobs
        .w
        .notion
        .webhook_delivery(SECRET, "page.properties_updated", &page);
    blocking(move || {
        let fleet = Fleet::new("shared_hook", 3, 5.0);
        assert_eq!(fleet.daemons[0].post("/jobs", &spec).0, 201);
        let answers: Vec<u16> = std::thread::scope(|s| {
            let sent: Vec<_> = fleet
                .daemons
                .iter()
                .map(|d| s.spawn(|| d.post_hook(&Jobs::id(0), &headers, body.clone()).0))
                .collect();
            sent.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut sorted = answers.clone();
        sorted.sort();
        assert_eq!(sorted, [202, 409, 409], "accepted once: {answers:?}");
        fleet.wait_idle(Duration::from_secs(60));
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(fleet.runs(0).len(), 1, "the job ran once");
    })
    .await;
}

/// Priorities hold across daemons: with one slot on a platform, a critical
/// job asked through one daemon runs before a low one asked earlier through
/// another, once the slot is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freed_slot_goes_to_the_highest_job_waiting_on_any_daemon() {
    blocking(|| {
        // One slot on a platform, across both daemons.
        let fleet = Fleet::with_slots("shared_priority", 2, 5.0, 1);
        let (a, b) = (&fleet.daemons[0], &fleet.daemons[1]);
        // The connector whose `slow` entity sleeps: uploaded to one, for both.
        let hostile = synchost::dev::build_connector("synchost-connector-hostile").unwrap();
        let (status, body) = a.put_connector("hostile", std::fs::read(hostile).unwrap());
        assert_eq!(status, 200, "{body}");
        let started = Instant::now();
        while !b.get("/connectors").to_string().contains("\"hostile\"") {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "b has the connector"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let job = |id: &str, ms: u64, priority: &str| {
            let side = json!({
                "platform": "Slow", "connector": "hostile", "entity": "slow",
                "connection": {"settings": {"sleep_ms": ms.to_string()}}
            });
            json!({"sync_id": id, "mode": "pull", "schedule": "manual", "priority": priority,
                   "source": side, "target": side})
        };
        for (id, ms, priority) in [
            ("busy", 2500, "normal"),
            ("low", 200, "low"),
            ("crit", 200, "critical"),
        ] {
            assert_eq!(a.post("/jobs", &job(id, ms, priority)).0, 201);
        }
        a.post("/jobs/busy/trigger", &json!({}));
        let started = Instant::now();
        while leased(a).is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "busy runs on a"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Low first, through a; critical later, through b.
        a.post("/jobs/low/trigger", &json!({}));
        std::thread::sleep(Duration::from_millis(500));
        b.post("/jobs/crit/trigger", &json!({}));
        fleet.wait_idle(Duration::from_secs(60));
        let started_at = |id: &str| a.runs(id)[0]["started_at"].as_str().unwrap().to_string();
        assert!(
            started_at("crit") < started_at("low"),
            "critical ({}) before low ({})",
            started_at("crit"),
            started_at("low")
        );
    })
    .await;
}
