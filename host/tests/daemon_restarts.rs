//! The daemon across restarts (issue 16): runs asked for and not finished
//! when the daemon stops (queued, or running), by SIGTERM or SIGKILL, run
//! once when it comes back; and after SIGTERM no run starts at all.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::daemon::{blocking, hostile_data_dir, Daemon};
use serde_json::{json, Value};
use synchost::state::State;

/// A job whose run takes about `ms` on each side (the hostile connector's
/// `slow` entity), all on one platform so that they wait for each other.
fn slow_job(id: &str, ms: u64, schedule: &str) -> Value {
    let side = json!({
        "platform": "Slow", "connector": "hostile", "entity": "slow",
        "connection": {"settings": {"sleep_ms": ms.to_string()}}
    });
    json!({"sync_id": id, "mode": "pull", "schedule": schedule, "source": side, "target": side})
}

fn running(d: &Daemon) -> Vec<String> {
    d.get("/healthz")["running"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs per job, read from the state of a stopped daemon.
fn runs_on_disk(data: &Path) -> std::collections::BTreeMap<String, usize> {
    let state = State::open(&data.join("state")).unwrap();
    let mut runs = std::collections::BTreeMap::new();
    for r in state.runs(usize::MAX).unwrap() {
        *runs.entry(r.job).or_insert(0) += 1;
    }
    runs
}

/// Starts a daemon with one slot per platform, adds jobs a, b and c,
/// triggers all three, and returns once `a` runs while b and c wait.
/// `a_ms` is how long `a` takes on each side: long enough that what the
/// test does while it runs is done before it ends, even on a loaded machine.
fn busy_daemon(data: &Path, a_ms: u64) -> Daemon {
    let d = Daemon::start_with(data, &["--per-platform", "1"], &[]);
    for (id, ms) in [("a", a_ms), ("b", 1500), ("c", 1500)] {
        assert_eq!(d.post("/jobs", &slow_job(id, ms, "manual")).0, 201);
    }
    for id in ["a", "b", "c"] {
        assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
    }
    wait_until("a runs", Duration::from_secs(20), || running(&d) == ["a"]);
    assert_eq!(d.get("/healthz")["queued"], json!(["b", "c"]));
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_nothing_starts_and_what_was_queued_runs_at_the_next_start() {
    let data = hostile_data_dir("restarts-term");
    blocking(move || {
        let mut d = busy_daemon(&data, 1500);
        // SIGTERM: `a` finishes, nothing else starts.
        unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) };
        let status = d.child.wait().unwrap();
        assert!(status.success(), "a clean stop: {status}");
        let runs = runs_on_disk(&data);
        assert_eq!(
            runs.get("a"),
            Some(&1),
            "the run in flight finished: {runs:?}"
        );
        assert_eq!(
            runs.get("b"),
            None,
            "no run starts after shutdown began: {runs:?}"
        );
        assert_eq!(runs.get("c"), None, "{runs:?}");

        // Back up: b and c, owed, run once; a is not run again.
        let d = Daemon::start_with(&data, &["--per-platform", "1"], &[]);
        for id in ["b", "c"] {
            d.wait_for_run(id, &["success"], Duration::from_secs(30));
        }
        std::thread::sleep(Duration::from_secs(2));
        for (id, n) in [("a", 1), ("b", 1), ("c", 1)] {
            assert_eq!(d.runs(id).len(), n, "{id}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_every_run_owed_runs_once_at_the_next_start() {
    let data = hostile_data_dir("restarts-kill");
    blocking(move || {
        let mut d = busy_daemon(&data, 6000);
        // A scheduled job, due every 2 s: its tick comes while the platform is busy.
        assert_eq!(d.post("/jobs", &slow_job("d", 100, "*/2 * * * * *")).0, 201);
        wait_until("d is queued", Duration::from_secs(10), || {
            d.get("/healthz")["queued"]
                .as_array()
                .unwrap()
                .contains(&json!("d"))
        });
        d.kill(); // SIGKILL, with `a` running and b, c, d queued
        let runs = runs_on_disk(&data);
        assert!(runs.is_empty(), "killed before any run finished: {runs:?}");

        let d = Daemon::start_with(&data, &["--per-platform", "1"], &[]);
        for id in ["a", "b", "c", "d"] {
            d.wait_for_run(id, &["success"], Duration::from_secs(40));
        }
        // Once each for what was owed (d goes on ticking every 2 s, so it
        // is not counted further).
        for id in ["a", "b", "c"] {
            assert_eq!(d.runs(id).len(), 1, "{id} ran once");
        }
    })
    .await;
}
