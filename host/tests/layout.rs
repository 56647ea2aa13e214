//! One state for one `--data` folder (issue 9, item 4): the CLI once opened
//! `DATA` while the daemon opened `DATA/state`, so each silently saw an empty
//! database of the other's, and a CLI run against stale state undid edits.

mod common;

use common::daemon::{blocking, Daemon};
use common::World;
use serde_json::json;

fn synchost(args: &[&str], data: &std::path::Path) -> (i32, String, String) {
    let mut args = args.to_vec();
    let data = data.to_str().unwrap();
    args.extend(["--data", data]);
    common::synchost(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_daemon_share_one_state() {
    let mut w = World::new("layout", "newest_wins").await;
    w.add_notion("Shared", "s@example.com", "Todo", 1.0);
    w.state.take();
    let data = w.dir.join("daemon");
    let job_file = w.job_file();
    let job = w.job.clone();
    let connectors = common::connectors();
    blocking(move || {
        // A run from the CLI, then the daemon on the same folder sees it.
        let (code, _, stderr) = synchost(
            &[
                "run",
                job_file.to_str().unwrap(),
                "--connectors",
                connectors.to_str().unwrap(),
            ],
            &data,
        );
        assert_eq!(code, 0, "{stderr}");
        let d = Daemon::start(&data, 2);
        assert_eq!(
            d.runs("sync-layout").len(),
            1,
            "the daemon sees the CLI's run"
        );

        // While the daemon holds the folder, the CLI reads through it.
        let (code, out, stderr) = synchost(&["runs"], &data);
        assert_eq!(code, 0, "{stderr}");
        assert!(out.contains("sync-layout"), "{out}");
        let (code, out, _) = synchost(&["conflicts", "list"], &data);
        assert_eq!(code, 0);
        assert!(out.contains("no conflicts"), "{out}");

        // `run` of a job the daemon does not have: refused, naming the daemon.
        let (code, _, stderr) = synchost(&["run", job_file.to_str().unwrap()], &data);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("daemon") && stderr.contains("sync-layout"),
            "{stderr}"
        );
        assert!(!stderr.contains("lock"), "no raw sled error: {stderr}");

        // Of a job it has: triggered there, its report printed.
        assert_eq!(d.post("/jobs", &job).0, 201);
        let (code, out, stderr) = synchost(&["run", job_file.to_str().unwrap()], &data);
        assert_eq!(code, 0, "{stderr}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["status"], "success", "{out}");
        assert_eq!(d.runs("sync-layout").len(), 2);
    })
    .await;
}

#[test]
fn commands_that_read_never_create_a_database() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("layout-empty");
    let _ = std::fs::remove_dir_all(&dir);
    let (code, out, stderr) = synchost(&["runs"], &dir);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("no runs"), "{out}");
    assert!(stderr.contains("no state"), "{stderr}");
    assert!(!dir.join("state").exists(), "nothing created");
    let (code, _, _) = synchost(&["conflicts", "list"], &dir);
    assert_eq!(code, 0);
    assert!(!dir.join("state").exists());
}

/// A folder in the old flat layout (sled's files in DATA itself) moves into
/// DATA/state at first use, its runs intact.
#[test]
fn the_old_flat_layout_moves_into_state() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("layout-flat");
    let _ = std::fs::remove_dir_all(&dir);
    {
        let state = synchost::state::State::open(&dir).unwrap();
        state
            .put_run(&synchost::state::RunRecord {
                id: 1,
                job: "old-job".into(),
                started_at: "2026-01-01T00:00:00Z".into(),
                report: json!({"status": "success"}),
            })
            .unwrap();
        state.flush().unwrap();
    }
    let (code, out, stderr) = synchost(&["runs"], &dir);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("old-job"), "{out}");
    assert!(dir.join("state").join("conf").exists());
    assert!(!dir.join("conf").exists());
}
