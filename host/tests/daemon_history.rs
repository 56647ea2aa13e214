//! History that does not grow for ever, lists that page, runs that cannot
//! start that are seen, ids that read well (issue 16).

mod common;

use std::time::Duration;

use common::daemon::{blocking, hostile_data_dir, Daemon};
use serde_json::{json, Value};

/// A job that runs in a moment (the hostile connector's `slow` entity, 10 ms).
fn quick_job(id: &str) -> Value {
    let side = json!({
        "platform": "Quick", "connector": "hostile", "entity": "slow",
        "connection": {"settings": {"sleep_ms": "10"}}
    });
    json!({"sync_id": id, "mode": "pull", "schedule": "manual", "source": side, "target": side})
}

/// Triggers `job` and waits for its run to be recorded.
fn run_to_end(d: &Daemon, job: &str) {
    let newest = |d: &Daemon| d.runs(job).first().map(|r| r["id"].clone());
    let before = newest(d);
    assert_eq!(d.post(&format!("/jobs/{job}/trigger"), &json!({})).0, 202);
    let started = std::time::Instant::now();
    while newest(d) == before {
        assert!(started.elapsed() < Duration::from_secs(20), "{job} ran");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn link_next(d: &Daemon, path: &str) -> (Vec<Value>, Option<String>) {
    let resp = Daemon::client()
        .get(format!("{}{path}", d.url))
        .bearer_auth(&d.token)
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    let next = resp
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix('<'))
        .and_then(|v| v.split_once('>'))
        .map(|(url, _)| url.to_string());
    (resp.json::<Vec<Value>>().unwrap(), next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_kept_per_job_paged_and_numbered_one_by_one() {
    let data = hostile_data_dir("history-runs");
    blocking(move || {
        let mut d = Daemon::start_with(&data, &["--runs-per-job", "3"], &[]);
        assert_eq!(d.post("/jobs", &quick_job("q")).0, 201);
        for _ in 1..=5 {
            run_to_end(&d, "q");
        }
        // Kept: the 3 newest, numbered one after the other.
        let runs = d.runs("q");
        let ids: Vec<u64> = runs.iter().map(|r| r["id"].as_u64().unwrap()).collect();
        assert_eq!(ids.len(), 3, "{runs:?}");
        assert_eq!(ids, [ids[0], ids[0] - 1, ids[0] - 2], "ids read one by one");
        assert_eq!(ids[0], 5);
        // By id, without reading the others.
        assert_eq!(d.get(&format!("/runs/{}", ids[1]))["id"], ids[1]);
        // Pages: a limit, and a next link that continues where it stopped.
        let (first, next) = link_next(&d, "/runs?job=q&limit=2");
        assert_eq!(first.len(), 2);
        let next = next.expect("a next page");
        let (second, after) = link_next(&d, &next);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0]["id"], ids[2]);
        assert!(after.is_none());
        // A limit past the cap is the cap.
        let (all, _) = link_next(&d, "/runs?limit=100000");
        assert!(all.len() <= 500);
        // Ids go on after a restart, without a jump.
        d.kill();
        let d = Daemon::start_with(&data, &["--runs-per-job", "3"], &[]);
        run_to_end(&d, "q");
        assert_eq!(d.runs("q")[0]["id"], 6);
        // The audit log pages too.
        let (entries, next) = link_next(&d, "/audit?limit=3");
        assert_eq!(entries.len(), 3);
        let (more, _) = link_next(&d, &next.expect("more audit"));
        assert!(!more.is_empty());
        assert_ne!(more[0], entries[0]);
    })
    .await;
}

/// A job that cannot start: every attempt is a recorded run with its
/// reason, and the daemon says it is degraded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_cannot_start_is_seen() {
    let data = hostile_data_dir("history-broken");
    blocking(move || {
        let d = Daemon::start(&data, 2);
        let mut job = quick_job("broken");
        job["source"]["connector"] = json!("no-such-connector");
        assert_eq!(d.post("/jobs", &job).0, 201);
        for _ in 0..synchost::daemon::FAILING_AFTER {
            let before = d.runs("broken").len();
            assert_eq!(d.post("/jobs/broken/trigger", &json!({})).0, 202);
            let started = std::time::Instant::now();
            while d.runs("broken").len() == before {
                assert!(started.elapsed() < Duration::from_secs(20));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let runs = d.runs("broken");
        assert!(runs.len() >= 3, "{runs:?}");
        for run in &runs {
            assert_eq!(run["report"]["status"], "failed");
            let error = run["report"]["details"]["error"]
                .as_str()
                .unwrap_or_default();
            assert!(error.contains("no-such-connector"), "{error}");
        }
        // The last run's record is written before the run has finished
        // updating its job (`/healthz` lists it as running until then).
        let started = std::time::Instant::now();
        let health = loop {
            let health = d.get("/healthz");
            if health["status"] != "ok" || started.elapsed() > Duration::from_secs(20) {
                break health;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(health["status"], "degraded", "{health}");
        assert_eq!(health["failing"][0]["job"], "broken");
        assert!(d.metrics().contains("synchost_jobs_failing 1"));
    })
    .await;
}
