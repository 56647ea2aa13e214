//! The daemon as a process on loopback, beside the simulators: schedules,
//! retries while a platform is down, SIGKILL and restart, hot-swapped
//! connectors, priorities, and the API's token.

mod common;

use std::time::{Duration, Instant};

use common::daemon::{blocking, new_version_of, Daemon};
use common::World;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_calls_without_the_token() {
    let w = World::new("d-auth", "newest_wins").await;
    let data = w.dir.join("daemon");
    blocking(move || {
        let d = Daemon::start(&data, 2);
        let client = Daemon::client();
        assert_eq!(
            client
                .get(format!("{}/jobs", d.url))
                .send()
                .unwrap()
                .status(),
            401
        );
        assert_eq!(
            client
                .get(format!("{}/jobs", d.url))
                .bearer_auth("wrong")
                .send()
                .unwrap()
                .status(),
            401
        );
        assert_eq!(
            client
                .get(format!("{}/metrics", d.url))
                .send()
                .unwrap()
                .status(),
            401
        );
        assert_eq!(
            client
                .get(format!("{}/healthz", d.url))
                .send()
                .unwrap()
                .status(),
            200
        );
        let openapi: Value = client
            .get(format!("{}/openapi.json", d.url))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(openapi["paths"]["/jobs"]["post"].is_object());
        // Every documented route exists: an unknown route is axum's bare 404,
        // a known one answers with JSON (even when its ids are unknown).
        for (method, path, _, _) in synchost::daemon::openapi::ROUTES {
            assert!(
                openapi["paths"][*path][*method].is_object(),
                "{method} {path} documented"
            );
            let url = format!(
                "{}{}",
                d.url,
                path.replace("{sync_id}", "nope")
                    .replace("{id}", "1")
                    .replace("{name}", "nope")
            );
            let resp = client
                .request(method.to_uppercase().parse().unwrap(), &url)
                .bearer_auth(&d.token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().unwrap();
            assert!(
                !(status == 404 && body.is_empty()) && status != 405,
                "{method} {path} is routed: {status}"
            );
        }
        assert_eq!(d.get("/jobs"), json!([]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.data.join("api-token"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_runs_happen_on_time() {
    let w = World::new("d-schedule", "newest_wins").await;
    w.add_notion("Scheduled", "s@example.com", "Todo", 1.0);
    let mut job = w.job.clone();
    job["schedule"] = json!("*/2 * * * * *");
    let data = w.dir.join("daemon");
    blocking(move || {
        let d = Daemon::start(&data, 2);
        let (status, body) = d.post("/jobs", &job);
        assert_eq!(status, 201, "{body}");
        let first = d.wait_for_run("sync-d-schedule", &["success"], Duration::from_secs(10));
        assert_eq!(first["report"]["synced_items"], 1);
        let started = Instant::now();
        while d.runs("sync-d-schedule").len() < 3 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "runs every 2 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let metrics = d.metrics();
        assert!(
            metrics.contains("synchost_runs_total{status=\"success\"}"),
            "{metrics}"
        );
        assert!(
            metrics.contains("synchost_http_calls_total{connector=\"notion\",status=\"200\"}"),
            "{metrics}"
        );
    })
    .await;
    assert_eq!(w.airtable_rows().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_that_is_down_leaves_the_run_queued_and_a_retry_converges() {
    let w = World::new("d-down", "newest_wins").await;
    w.seed_notion("t", 0..20);
    // Airtable answers 503 to everything for a while.
    w.airtable.fail_next(40, 503);
    let job = w.job.clone();
    let data = w.dir.join("daemon");
    let airtable = w.airtable.clone();
    blocking(move || {
        let d = Daemon::start(&data, 2);
        assert_eq!(d.post("/jobs", &job).0, 201);
        assert_eq!(d.post("/jobs/sync-d-down/trigger", &json!({})).0, 202);
        let queued = d.wait_for_run("sync-d-down", &["queued"], Duration::from_secs(20));
        assert_eq!(queued["report"]["synced_items"], 0);
        let stored = d.get("/jobs/sync-d-down");
        assert!(
            stored["retry_at"].is_string(),
            "a retry is planned: {stored}"
        );
        // Airtable comes back (its faults run out); the retry with backoff converges.
        airtable.fail_next(0, 503);
        d.wait_for_run("sync-d-down", &["success"], Duration::from_secs(60));
    })
    .await;
    assert_eq!(w.notion_rows(), w.airtable_rows());
    assert_eq!(w.airtable_rows().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_run_and_restarted_converges_without_duplicates() {
    let w = World::new("d-kill", "newest_wins").await;
    w.seed_notion("k", 0..150);
    let mut job = w.job.clone();
    // Slow writes, so that the kill lands mid-run.
    job["target"]["connection"]["rate_limit"] = json!({"per_second": 4.0, "burst": 1});
    let data = w.dir.join("daemon");
    let airtable = w.airtable.clone();
    let base = w.base.clone();
    blocking(move || {
        let mut d = Daemon::start(&data, 2);
        assert_eq!(d.post("/jobs", &job).0, 201);
        d.post("/jobs/sync-d-kill/trigger", &json!({}));
        let started = Instant::now();
        while airtable.records(&base, "Tasks").len() < 20 {
            assert!(started.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(50));
        }
        d.kill();
        let written = airtable.records(&base, "Tasks").len();
        assert!(written < 150, "killed mid-run: {written} of 150 written");
        let d = Daemon::start(&data, 2);
        d.post("/jobs/sync-d-kill/trigger", &json!({}));
        d.wait_for_run("sync-d-kill", &["success"], Duration::from_secs(120));
    })
    .await;
    assert_eq!(
        w.airtable_rows().len(),
        150,
        "nothing duplicated, nothing lost"
    );
    assert_eq!(w.notion_rows(), w.airtable_rows());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_swapped_mid_run_serves_the_next_run_and_a_broken_one_is_refused() {
    let w = World::new("d-swap", "newest_wins").await;
    w.seed_notion("w", 0..60);
    let mut job = w.job.clone();
    job["target"]["connection"]["rate_limit"] = json!({"per_second": 3.0, "burst": 1});
    let data = w.dir.join("daemon");
    blocking(move || {
        let d = Daemon::start(&data, 2);
        let old_hash = d.connector_hash("airtable");
        assert_eq!(d.post("/jobs", &job).0, 201);
        d.post("/jobs/sync-d-swap/trigger", &json!({}));
        std::thread::sleep(Duration::from_millis(700));
        assert!(
            d.get("/healthz")["running"].as_array().unwrap().len() == 1,
            "the run is in flight"
        );
        // Swap the Airtable connector while the run is writing.
        let wasm = std::fs::read(d.connectors.join("airtable.wasm")).unwrap();
        let (status, body) = d.put_connector("airtable", new_version_of(&wasm));
        assert_eq!(status, 200, "{body}");
        let new_hash = d.connector_hash("airtable");
        assert_ne!(old_hash, new_hash);
        let first = d.wait_for_run("sync-d-swap", &["success"], Duration::from_secs(60));
        assert_eq!(
            first["report"]["details"]["target"]["connector_sha256"],
            old_hash.as_str(),
            "the run in flight finished on the old version"
        );
        assert_eq!(first["report"]["synced_items"], 60);

        // A broken upload is refused; the new version keeps serving.
        let (status, body) = d.put_connector("airtable", b"\0asm broken".to_vec());
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("previous version keeps serving"),
            "{body}"
        );
        // One line a person can read in a terminal, not `\n`s escaped in JSON.
        assert!(!body["error"].as_str().unwrap().contains('\n'), "{body}");
        // And so is a file dropped in the folder.
        std::fs::write(d.connectors.join("airtable.wasm"), b"not wasm").unwrap();
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(d.connector_hash("airtable"), new_hash);
        d.post("/jobs/sync-d-swap/trigger", &json!({}));
        let started = Instant::now();
        let second = loop {
            let runs = d.runs("sync-d-swap");
            if runs.len() >= 2 {
                break runs[0].clone();
            }
            assert!(started.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(second["report"]["status"], "success", "{second}");
        assert_eq!(
            second["report"]["details"]["target"]["connector_sha256"],
            new_hash.as_str(),
            "the next run uses the new version"
        );
        let audit = d.get("/audit");
        let kinds: Vec<&str> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["kind"].as_str())
            .collect();
        assert!(
            kinds.contains(&"connector_loaded") && kinds.contains(&"connector_rejected"),
            "{kinds:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_jobs_queued_behind_a_busy_platform_run_first() {
    let w = World::new("d-prio", "newest_wins").await;
    w.seed_notion("p", 0..40);
    let mut busy = w.job.clone();
    busy["sync_id"] = json!("busy");
    busy["target"]["connection"]["rate_limit"] = json!({"per_second": 3.0, "burst": 1});
    let mut low = w.job.clone();
    low["sync_id"] = json!("low");
    low["priority"] = json!("low");
    let mut critical = w.job.clone();
    critical["sync_id"] = json!("critical");
    critical["priority"] = json!("critical");
    let data = w.dir.join("daemon");
    blocking(move || {
        // One run at a time per platform: the three jobs share Notion and Airtable.
        let d = Daemon::start(&data, 1);
        for job in [&busy, &low, &critical] {
            assert_eq!(d.post("/jobs", job).0, 201);
        }
        d.post("/jobs/busy/trigger", &json!({}));
        std::thread::sleep(Duration::from_millis(500));
        d.post("/jobs/low/trigger", &json!({}));
        d.post("/jobs/critical/trigger", &json!({}));
        assert_eq!(
            d.get("/healthz")["queued"],
            json!(["critical", "low"]),
            "critical ahead of low"
        );
        d.wait_for_run("low", &["success", "partial"], Duration::from_secs(90));
        let all: Vec<Value> = d.get("/runs?limit=100").as_array().unwrap().clone();
        let started = |job: &str| {
            all.iter().find(|r| r["job"] == job).unwrap()["started_at"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert!(
            started("busy") < started("critical") && started("critical") < started("low"),
            "{all:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_syncs_the_change_within_a_second_and_a_bad_one_is_refused() {
    let w = World::new("d-hook", "newest_wins").await;
    w.add_notion("Hooked", "h@example.com", "Todo", 1.0);
    const NOTION_SECRET: &str = "secret_webhook_verification_token";
    const AIRTABLE_MAC: &[u8] = b"\x01\x02binary-mac-key\xff";
    // SAFETY: set before the daemon process is spawned; read by it, not by this one.
    unsafe {
        std::env::set_var("SYNC_TEST_NOTION_WEBHOOK", NOTION_SECRET);
        std::env::set_var("SYNC_TEST_AIRTABLE_MAC", base64_encode(AIRTABLE_MAC));
    }
    let mut job = w.job.clone();
    job["source"]["connection"]["secrets"]["notion_webhook_secret"] =
        json!("env:SYNC_TEST_NOTION_WEBHOOK");
    job["target"]["connection"]["secrets"]["airtable_webhook_mac"] =
        json!("env:SYNC_TEST_AIRTABLE_MAC#base64");
    let data = w.dir.join("daemon");
    let (notion, airtable, base) = (w.notion.clone(), w.airtable.clone(), w.base.clone());
    let page = w.notion_id("h@example.com");
    blocking(move || {
        let d = Daemon::start(&data, 2);
        assert_eq!(d.post("/jobs", &job).0, 201);
        d.post("/jobs/sync-d-hook/trigger", &json!({}));
        d.wait_for_run("sync-d-hook", &["success"], Duration::from_secs(20));
        let runs_before = d.runs("sync-d-hook").len();

        // A forged delivery: refused, nothing runs.
        let (headers, body) =
            notion.webhook_delivery(NOTION_SECRET, "page.properties_updated", &page);
        let mut forged = body.clone();
        forged.extend_from_slice(b" ");
        let (status, reply) = d.post_hook("sync-d-hook", &headers, forged);
        assert_eq!(status, 401, "{reply}");
        let (status, _) = d.post_hook(
            "sync-d-hook",
            &[("content-type".into(), "application/json".into())],
            body.clone(),
        );
        assert_eq!(status, 401, "no signature at all");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            d.runs("sync-d-hook").len(),
            runs_before,
            "a refused webhook runs nothing"
        );

        // A real edit and its signed delivery: synced within a second.
        notion.clock().advance(chrono::Duration::minutes(3));
        airtable.clock().advance(chrono::Duration::minutes(3));
        notion
            .update_page(&page, json!({"Points": {"number": 77}}))
            .unwrap();
        let (headers, body) =
            notion.webhook_delivery(NOTION_SECRET, "page.properties_updated", &page);
        let sent = Instant::now();
        let (status, reply) = d.post_hook("sync-d-hook", &headers, body);
        assert_eq!(status, 202, "{reply}");
        assert_eq!(reply["events"][0]["id"], page.as_str());
        loop {
            let points = airtable
                .records(&base, "Tasks")
                .iter()
                .find(|r| r["fields"]["Email"] == "h@example.com")
                .and_then(|r| r["fields"]["Points"].as_f64());
            if points == Some(77.0) {
                break;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(1),
                "the change reached Airtable within a second"
            );
            std::thread::sleep(Duration::from_millis(20));
        }

        // Airtable's notifications carry a MAC over a binary key.
        let (headers, body) = airtable.webhook_notification(&base, AIRTABLE_MAC);
        let (status, reply) = d.post_hook("sync-d-hook", &headers, body.clone());
        assert_eq!(status, 202, "{reply}");
        let (status, _) = d.post_hook(
            "sync-d-hook",
            &[("X-Airtable-Content-MAC".into(), "hmac-sha256=00".into())],
            body,
        );
        assert_eq!(status, 401);
    })
    .await;
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_missed_while_down_runs_once_at_start() {
    let w = World::new("d-missed", "newest_wins").await;
    w.add_notion("Missed", "m@example.com", "Todo", 1.0);
    let mut job = w.job.clone();
    job["schedule"] = json!("hourly");
    let data = w.dir.join("daemon");
    blocking(move || {
        let mut d = Daemon::start(&data, 2);
        assert_eq!(d.post("/jobs", &job).0, 201);
        d.kill();
        // Down for three hours: three ticks missed.
        let state = synchost::state::State::open(&data.join("state")).unwrap();
        let mut stored = state.job("sync-d-missed").unwrap().unwrap();
        stored.next_run_at = Some((chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339());
        state.put_job(&stored).unwrap();
        state.flush().unwrap();
        drop(state);
        let d = Daemon::start(&data, 2);
        d.wait_for_run("sync-d-missed", &["success"], Duration::from_secs(10));
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            d.runs("sync-d-missed").len(),
            1,
            "once, not once per missed tick"
        );
        let next = d.get("/jobs/sync-d-missed")["next_run_at"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            chrono::DateTime::parse_from_rfc3339(&next).unwrap() > chrono::Utc::now(),
            "the schedule moves on: {next}"
        );
    })
    .await;
}
