//! The daemon against an unauthenticated caller, a hostile connector and a
//! careless job file (issue 8): each test performs the attack over HTTP on a
//! real daemon process.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::daemon::{blocking, Daemon};
use common::World;
use serde_json::{json, Value};
use synchost::state::{State, StoredJob};

/// The tests of this file run one at a time: one of them measures the API's
/// latency, which another's 16 uploads of 60 MB would disturb.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn dir(tag: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hardening-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stored(sync_id: &str, spec: Value) -> StoredJob {
    serde_json::from_value(json!({
        "sync_id": sync_id, "spec": spec, "created_at": "2026-01-01T00:00:00Z",
        "next_run_at": "2026-01-01T00:00:00Z", "retry_at": null, "retries": 0,
        "last_status": null,
    }))
    .unwrap()
}

fn manual_job(sync_id: &str, project: &str) -> Value {
    json!({
        "sync_id": sync_id, "project_id": project, "mode": "pull", "schedule": "manual",
        "source": {"platform": "Notion", "connector": "notion", "entity": "tasks"},
        "target": {"platform": "Airtable", "connector": "airtable", "entity": "tasks"},
    })
}

/// A day-of-week field like `1-2-3` panicked the parser: `POST /jobs` lost
/// its connection, a job file killed the timer, and a stored one made the
/// daemon exit at every start. Now each is refused or skipped, named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_cron_never_stops_the_daemon() {
    let data = dir("cron");
    blocking(move || {
        let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        // A stored job whose schedule no longer parses, beside a good one.
        {
            let state = State::open(&data.join("state")).unwrap();
            let mut bad = manual_job("bad-cron", "p");
            bad["schedule"] = json!("0 0 * * 1-2-3");
            state.put_job(&stored("bad-cron", bad)).unwrap();
            state
                .put_job(&stored("good", manual_job("good", "p")))
                .unwrap();
            state.flush().unwrap();
        }
        let jobs_dir = data.join("jobs");
        std::fs::create_dir_all(&jobs_dir).unwrap();
        let mut file_job = manual_job("file-cron", "p");
        file_job["schedule"] = json!("0 0 * * 0-0-0");
        std::fs::write(jobs_dir.join("bad.json"), file_job.to_string()).unwrap();

        let d = Daemon::start_with(&data, &["--jobs", jobs_dir.to_str().unwrap()], &[]);
        let jobs = d.get("/jobs");
        let bad = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["sync_id"] == "bad-cron")
            .expect("the bad job is listed");
        assert!(bad["error"].as_str().unwrap().contains("schedule"), "{bad}");
        assert!(jobs
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["sync_id"] == "good"));
        assert!(
            !jobs.to_string().contains("file-cron"),
            "the bad file is not loaded"
        );
        let audit = d.get("/audit");
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "job_invalid" && e["job"] == "bad-cron"),
            "{audit}"
        );
        // Through the API: refused, naming the field, the connection kept.
        let (status, body) = d.post(
            "/jobs",
            &json!({
                "sync_id": "api-cron", "mode": "pull", "schedule": "0 0 * * 1-2-3",
                "source": {"platform": "Notion", "connector": "notion", "entity": "tasks"},
                "target": {"platform": "Airtable", "connector": "airtable", "entity": "tasks"},
            }),
        );
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("`schedule`"),
            "{body}"
        );
        // The timer still ticks: a good job still runs when asked.
        assert_eq!(d.post("/jobs/good/trigger", &json!({})).0, 202);
        d.wait_for_run(
            "good",
            &["failed", "success", "partial", "queued"],
            Duration::from_secs(20),
        );
    })
    .await;
}

/// The hostile connector, in the daemon's connectors folder.
fn with_hostile(data: &Path) {
    let connectors = data.join("connectors");
    std::fs::create_dir_all(&connectors).unwrap();
    let hostile = synchost::dev::build_connector("synchost-connector-hostile").unwrap();
    std::fs::copy(hostile, connectors.join("hostile.wasm")).unwrap();
}

fn hostile_job(sync_id: &str, entity: &str) -> Value {
    let side = |entity: &str| {
        json!({"platform": format!("Hostile-{sync_id}"), "connector": "hostile", "entity": entity,
               "connection": {"limits": {"call_timeout": 12, "memory_bytes": 1u64 << 30}}})
    };
    json!({"sync_id": sync_id, "mode": "pull", "schedule": "manual",
           "source": side(entity), "target": side("wasi")})
}

/// Two connectors loop and one allocates while a client polls `/healthz`
/// every 50 ms: connector calls run on threads of their own, so no answer
/// takes 100 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_within_100ms_while_connectors_loop_and_allocate() {
    let data = dir("loops");
    with_hostile(&data);
    blocking(move || {
        let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let d = Daemon::start_with(&data, &["--per-platform", "4"], &[]);
        for (id, entity) in [("loop-1", "loop"), ("loop-2", "loop"), ("hog", "memory")] {
            assert_eq!(d.post("/jobs", &hostile_job(id, entity)).0, 201);
        }
        for id in ["loop-1", "loop-2", "hog"] {
            assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let started = Instant::now();
        let (mut slowest, mut saw_running) = (Duration::ZERO, 0usize);
        while started.elapsed() < Duration::from_secs(8) {
            let asked = Instant::now();
            let health: Value = client
                .get(format!("{}/healthz", d.url))
                .send()
                .unwrap()
                .json()
                .unwrap();
            slowest = slowest.max(asked.elapsed());
            saw_running = saw_running.max(health["running"].as_array().unwrap().len());
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            saw_running >= 2,
            "the connectors were running: {saw_running}"
        );
        assert!(
            slowest < Duration::from_millis(100),
            "/healthz took {slowest:?}"
        );
        // And they were stopped by their limits, reported as failed runs.
        d.wait_for_run("loop-1", &["failed"], Duration::from_secs(30));
    })
    .await;
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The token was written, then chmod-ed; an existing 0644 token file was
/// kept; the state files were 0644. Now: a private data folder, a private
/// token from its first byte, private state files, and an open token file
/// narrowed with a warning.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_state_are_private_from_the_first_byte() {
    use std::os::unix::fs::PermissionsExt;
    let data = dir("files").join("data");
    blocking(move || {
        let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut d = Daemon::start(&data, 2);
        assert_eq!(mode(&data), 0o700, "data folder");
        assert_eq!(mode(&data.join("api-token")), 0o600, "token");
        let mut files = 0;
        for entry in walk(&data.join("state")) {
            files += 1;
            assert_eq!(
                mode(&entry) & 0o077,
                0,
                "{} is readable by others",
                entry.display()
            );
        }
        assert!(files > 0);
        d.kill();
        // Someone opened things up while it was down.
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(
            data.join("api-token"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let _d = Daemon::start(&data, 2);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("api-token")), 0o600);
    })
    .await;
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

fn notion_hook_job(w: &World, secret_var: &str) -> Value {
    let mut job = w.job.clone();
    job["source"]["connection"]["secrets"]["notion_webhook_secret"] =
        json!(format!("env:{secret_var}"));
    job
}

/// (a) Notion's unsigned verification handshake queued a run; (b) a signed
/// delivery was accepted again and again; (c) large bodies were read whole;
/// (d) every bad delivery was an audit entry kept for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_bounded_before_any_work_is_done() {
    let w = World::new("d-hooks", "newest_wins").await;
    w.add_notion("Hooked", "h@example.com", "Todo", 1.0);
    const SECRET: &str = "secret_webhook_verification_token";
    // SAFETY: set before the daemon process is spawned; read by it only.
    unsafe { std::env::set_var("HARDENING_NOTION_WEBHOOK", SECRET) };
    let job = notion_hook_job(&w, "HARDENING_NOTION_WEBHOOK");
    let data = w.dir.join("daemon");
    let notion = w.notion.clone();
    let page = w.notion_id("h@example.com");
    blocking(move || {
        let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let d = Daemon::start(&data, 2);
        assert_eq!(d.post("/jobs", &job).0, 201);
        let json_type = [("content-type".to_string(), "application/json".to_string())];

        // (a) The handshake verifies nothing and queues nothing.
        let (status, reply) = d.post_hook(
            "sync-d-hooks",
            &json_type,
            br#"{"verification_token":"x"}"#.to_vec(),
        );
        assert_ne!(status, 202, "{reply}");
        assert_eq!(reply["queued"], json!(false), "{reply}");
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            d.runs("sync-d-hooks").is_empty(),
            "the handshake ran nothing"
        );

        // (b) A signed delivery runs once; the same bytes again are a replay.
        let (headers, body) = notion.webhook_delivery(SECRET, "page.properties_updated", &page);
        let (status, reply) = d.post_hook("sync-d-hooks", &headers, body.clone());
        assert_eq!(status, 202, "{reply}");
        let (status, reply) = d.post_hook("sync-d-hooks", &headers, body);
        assert_eq!(status, 409, "{reply}");

        // (c) 16 bodies of 60 MB at once: refused before they are read.
        let before = d.peak_rss();
        let big = vec![b' '; 60 << 20];
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (url, big) = (format!("{}/hooks/sync-d-hooks", d.url), big.clone());
                std::thread::spawn(move || {
                    Daemon::client()
                        .post(url)
                        .body(big)
                        .send()
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            })
            .collect();
        for t in threads {
            let status = t.join().unwrap();
            assert!(matches!(status, 413 | 429 | 0), "a 60 MB body got {status}");
        }
        let grown = d.peak_rss().saturating_sub(before);
        assert!(grown < 100 << 20, "the daemon grew {} MB", grown >> 20);

        // (d) 2,000 forged deliveries: counted, a handful of audit entries.
        let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
        for i in 0..2000 {
            let (status, _) = d.post_hook(
                "sync-d-hooks",
                &json_type,
                format!("{{\"n\":{i}}}").into_bytes(),
            );
            *statuses.entry(status).or_default() += 1;
        }
        assert!(
            statuses.get(&429).copied().unwrap_or(0) > 0,
            "rate limited: {statuses:?}"
        );
        assert_eq!(statuses.get(&202), None, "{statuses:?}");
        let audit = d.get("/audit");
        let refused = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "webhook_refused")
            .count();
        assert!(
            (1..=3).contains(&refused),
            "{refused} audit entries for 2,000 bad deliveries"
        );
        let metrics = d.metrics();
        let counted: u64 = metrics
            .lines()
            .filter(|l| l.starts_with("synchost_webhooks_total{job=\"sync-d-hooks\""))
            .filter(|l| l.contains("refused") || l.contains("rate_limited"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert!(counted >= 2000, "{metrics}");
    })
    .await;
}

/// The audit log keeps what it is told to keep, and no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_bounded() {
    let data = dir("audit");
    blocking(move || {
        let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let d = Daemon::start_with(&data, &["--audit-max-entries", "200"], &[]);
        for i in 0..300 {
            let id = format!("churn-{i}");
            assert_eq!(d.post("/jobs", &manual_job(&id, "p")).0, 201);
            let resp = Daemon::client()
                .delete(format!("{}/jobs/{id}", d.url))
                .bearer_auth(&d.token)
                .send()
                .unwrap();
            assert_eq!(resp.status(), 204);
        }
        let kept = d.get("/audit").as_array().unwrap().len();
        assert!(kept <= 220, "{kept} audit entries kept with a bound of 200");
        assert!(kept >= 100, "{kept}");
    })
    .await;
}

/// Engine Control: a token scoped to a project sees and touches only that
/// project's jobs, runs, conflicts and audit entries, uploads no connector,
/// and reaches no other project's secrets. Tokens are made and revoked with
/// the CLI while the daemon runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_token_sees_and_touches_only_its_project() {
    let data = dir("scoped");
    blocking(move || {
        let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        // A parked conflict of each project, as a run would have left it.
        {
            let state = State::open(&data.join("state")).unwrap();
            for (id, job) in [("c-a", "job-a"), ("c-b", "job-b")] {
                let conflict: synchost::state::ParkedConflict = serde_json::from_value(json!({
                    "id": id, "job": job, "source_id": "s", "target_id": "t",
                    "base_source": {}, "base_target": {}, "source": {}, "target": {},
                    "fields": [], "parked_at": "2026-01-01T00:00:00Z"
                }))
                .unwrap();
                state.put_conflict(&conflict).unwrap();
            }
            state.flush().unwrap();
        }
        let d = Daemon::start(&data, 2);
        let data_arg = data.to_str().unwrap();
        let (code, token_a, _) =
            common::synchost(&["token", "create", "--project", "A", "--data", data_arg]);
        assert_eq!(code, 0);
        let token_a = token_a.trim().to_string();
        let (_, token_b, _) =
            common::synchost(&["token", "create", "--project", "B", "--data", data_arg]);
        let token_b = token_b.trim().to_string();
        let (_, listed, _) = common::synchost(&["token", "list", "--data", data_arg]);
        assert!(
            listed.contains(" A ") && !listed.contains(&token_a),
            "{listed}"
        );

        assert_eq!(d.post("/jobs", &manual_job("job-a", "A")).0, 201);
        assert_eq!(d.post("/jobs", &manual_job("job-b", "B")).0, 201);
        for id in ["job-a", "job-b"] {
            assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
            d.wait_for_run(
                id,
                &["failed", "success", "partial", "queued"],
                Duration::from_secs(20),
            );
        }

        // Jobs: A's only.
        let (status, jobs) = d.get_as(&token_a, "/jobs");
        assert_eq!(status, 200);
        let ids: Vec<&str> = jobs
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["sync_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["job-a"]);
        assert_eq!(d.get_as(&token_a, "/jobs/job-a").0, 200);
        assert_eq!(d.get_as(&token_a, "/jobs/job-b").0, 404);
        assert_eq!(
            d.send_as(&token_a, "POST", "/jobs/job-b/trigger", &json!({}))
                .0,
            404
        );
        assert_eq!(
            d.send_as(&token_a, "DELETE", "/jobs/job-b", &json!({})).0,
            404
        );
        assert!(
            d.get("/jobs/job-b")["sync_id"] == "job-b",
            "B's job is untouched"
        );
        // Creating: only its own project, only its own secrets, no private networks.
        assert_eq!(
            d.send_as(&token_a, "POST", "/jobs", &manual_job("new-b", "B"))
                .0,
            403
        );
        assert_eq!(
            d.send_as(&token_a, "POST", "/jobs", &manual_job("job-b", "A"))
                .0,
            403,
            "B's id"
        );
        let mut env_secret = manual_job("new-a", "A");
        env_secret["source"]["connection"] = json!({"secrets": {"notion_token": "env:HOME"}});
        let (status, body) = d.send_as(&token_a, "POST", "/jobs", &env_secret);
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("secrets.notion_token"),
            "{body}"
        );
        let mut private = manual_job("new-a", "A");
        private["target"]["connection"] = json!({"allow_private_networks": true});
        assert_eq!(d.send_as(&token_a, "POST", "/jobs", &private).0, 403);
        // A table side reaches the daemon's own databases and files.
        let mut table = manual_job("new-a", "A");
        table["target"] = json!({"platform": "App", "connector": "sqlite", "entity": "tasks",
            "connection": {"settings": {"path": "/etc/passwd"}}});
        let (status, body) = d.send_as(&token_a, "POST", "/jobs", &table);
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("built-in table side"),
            "{body}"
        );
        let (status, body) = d.put_connector("sqlite", b"\0asm".to_vec());
        assert_eq!(status, 409, "the built-in's name: {body}");
        let mut own = manual_job("new-a", "A");
        own["source"]["connection"] = json!({"secrets": {"notion_token": "file:notion"}});
        let (status, body) = d.send_as(&token_a, "POST", "/jobs", &own);
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["owner"], "project:A");

        // Runs: A's only, listed and by id.
        let (_, runs) = d.get_as(&token_a, "/runs");
        assert!(
            runs.as_array().unwrap().iter().all(|r| r["job"] == "job-a"),
            "{runs}"
        );
        assert!(!runs.as_array().unwrap().is_empty());
        let b_run = d.runs("job-b")[0]["id"].as_u64().unwrap();
        assert_eq!(d.get_as(&token_a, &format!("/runs/{b_run}")).0, 404);
        assert_eq!(d.get_as(&token_b, &format!("/runs/{b_run}")).0, 200);

        // Conflicts: A's only; B's cannot be resolved by A.
        let (_, conflicts) = d.get_as(&token_a, "/conflicts");
        let ids: Vec<&str> = conflicts
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["c-a"]);
        let take = json!({"take": "source"});
        assert_eq!(
            d.send_as(&token_a, "POST", "/conflicts/c-b/resolve", &take)
                .0,
            404
        );
        assert_eq!(
            d.send_as(&token_a, "POST", "/conflicts/c-a/resolve", &take)
                .0,
            200
        );

        // Audit: A's only. Connectors: listed, never uploaded. Metrics: admin's.
        let (_, audit) = d.get_as(&token_a, "/audit");
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["job"] == "job-a" || e["job"] == "new-a"),
            "{audit}"
        );
        assert_eq!(d.get_as(&token_a, "/connectors").0, 200);
        let resp = Daemon::client()
            .put(format!("{}/connectors/evil", d.url))
            .bearer_auth(&token_a)
            .body(vec![0u8; 16])
            .send()
            .unwrap();
        assert_eq!(resp.status(), 403);
        assert_eq!(d.get_as(&token_a, "/metrics").0, 403);

        // Every refusal is in the (admin's) audit log.
        let refusals = d
            .get("/audit")
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "access_refused")
            .count();
        assert!(refusals >= 8, "{refusals} refusals audited");

        // Revoked: refused at once.
        let id = listed
            .lines()
            .find(|l| l.contains(" A "))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        assert_eq!(
            common::synchost(&["token", "revoke", &id, "--data", data_arg]).0,
            0
        );
        assert_eq!(d.get_as(&token_a, "/jobs").0, 401);
        assert_eq!(d.get_as(&token_b, "/jobs").0, 200);
    })
    .await;
}
