//! `synchost run | runs | conflicts | job`, as a user runs them.

mod common;

use std::process::{Command, Output};

use common::World;

fn synchost(w: &World) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_synchost"));
    cmd.env(
        "SYNCHOST_CACHE_DIR",
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sync-cache"),
    )
    .env("SYNCHOST_DATA", &w.dir)
    .env("SYNCHOST_CONNECTORS", common::connectors())
    .env_remove("SYNCHOST_FAULT_EXIT_AFTER_WRITES");
    cmd
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_prints_the_report_and_runs_lists_it() {
    let mut w = World::new("cli-run", "newest_wins").await;
    w.state.take();
    w.add_notion("A", "a@example.com", "Todo", 1.0);
    w.add_airtable("B", "b@example.com", "Done", 2.0);
    let report: serde_json::Value = serde_json::from_str(&stdout(
        &synchost(&w).arg("run").arg(w.job_file()).output().unwrap(),
    ))
    .unwrap();
    assert_eq!(report["status"], "success");
    assert_eq!(report["synced_items"], 2);
    assert_eq!(report["conflicts_detected"], 0);
    assert_eq!(report["conflict_resolution"], "none");
    assert!(report["last_sync"].as_str().unwrap().ends_with('Z'));
    assert!(
        report.get("details").is_none(),
        "details only with --details"
    );

    let detailed: serde_json::Value = serde_json::from_str(&stdout(
        &synchost(&w)
            .arg("run")
            .arg(w.job_file())
            .arg("--details")
            .output()
            .unwrap(),
    ))
    .unwrap();
    assert_eq!(detailed["synced_items"], 0);
    assert_eq!(detailed["details"]["source"]["read"], "incremental");
    assert_eq!(detailed["details"]["target"]["platform"], "Airtable");

    let runs = stdout(&synchost(&w).arg("runs").output().unwrap());
    assert_eq!(
        runs.lines().filter(|l| l.contains("sync-cli-run")).count(),
        2,
        "{runs}"
    );
    let json_runs = stdout(&synchost(&w).args(["runs", "--json"]).output().unwrap());
    let newest: serde_json::Value =
        serde_json::from_str(json_runs.lines().next().unwrap()).unwrap();
    assert_eq!(newest["report"]["synced_items"], 0, "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_job_exits_2_naming_the_field_and_touches_nothing() {
    let mut w = World::new("cli-invalid", "newest_wins").await;
    w.state.take();
    w.add_notion("A", "a@example.com", "Todo", 1.0);
    for (patch, needle) in [
        (serde_json::json!({"mode": "sideways"}), "mode"),
        (
            serde_json::json!({"schedule": "every_61_seconds"}),
            "schedule",
        ),
        (serde_json::json!({"schedule": "61 * * * *"}), "schedule"),
        (serde_json::json!({"colour": "blue"}), "colour"),
    ] {
        let mut job = w.job.clone();
        for (k, v) in patch.as_object().unwrap() {
            job[k] = v.clone();
        }
        let path = w.dir.join("bad.json");
        std::fs::write(&path, job.to_string()).unwrap();
        let requests = w.notion.request_count();
        let out = synchost(&w).arg("run").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{patch}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{patch}: {err}");
        assert_eq!(w.notion.request_count(), requests, "nothing is read");
    }
    // The bare spec shape parses but cannot run: the missing field is named.
    let path = w.dir.join("spec.json");
    std::fs::write(&path, r#"{"sync_id":"sync_7744","project_id":"pf-701","source":"Notion","target":"TasksTable","mode":"bidirectional","schedule":"every_hour"}"#).unwrap();
    let out = synchost(&w).arg("run").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("source.entity"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = synchost(&w)
        .args(["job", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let schema: serde_json::Value = serde_json::from_str(&stdout(
        &synchost(&w).args(["job", "schema"]).output().unwrap(),
    ))
    .unwrap();
    assert!(schema["properties"]["schedule"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_listed_and_resolved_from_the_command_line() {
    let mut w = World::new("cli-conflicts", "manual").await;
    w.state.take();
    w.add_notion("Original", "c@example.com", "Todo", 1.0);
    stdout(&synchost(&w).arg("run").arg(w.job_file()).output().unwrap());
    w.tick();
    w.notion
        .update_page(
            &w.notion_id("c@example.com"),
            serde_json::json!({"Points": {"number": 5}}),
        )
        .unwrap();
    w.airtable
        .update(
            &w.base,
            "Tasks",
            &w.airtable_id("c@example.com"),
            serde_json::json!({"Points": 7}),
        )
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&stdout(
        &synchost(&w).arg("run").arg(w.job_file()).output().unwrap(),
    ))
    .unwrap();
    assert_eq!(report["conflict_resolution"], "manual_review");

    let list = stdout(&synchost(&w).args(["conflicts", "list"]).output().unwrap());
    assert!(
        list.contains("Points") && list.contains("waiting"),
        "{list}"
    );
    let parked: serde_json::Value = serde_json::from_str(
        stdout(
            &synchost(&w)
                .args(["conflicts", "list", "--json"])
                .output()
                .unwrap(),
        )
        .lines()
        .next()
        .unwrap(),
    )
    .unwrap();
    let id = parked["id"].as_str().unwrap();

    let out = synchost(&w)
        .args(["conflicts", "resolve", id])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a resolution must say how");
    let merge = w.dir.join("merge.json");
    std::fs::write(&merge, r#"{"Name": {"type": "text", "value": "Merged"}, "Email": {"type": "text", "value": "c@example.com"}, "Status": {"type": "select", "value": "Done"}, "Points": {"type": "number", "value": 6}}"#).unwrap();
    stdout(
        &synchost(&w)
            .args(["conflicts", "resolve", id, "--merge"])
            .arg(&merge)
            .output()
            .unwrap(),
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(
        &synchost(&w).arg("run").arg(w.job_file()).output().unwrap(),
    ))
    .unwrap();
    assert_eq!(report["status"], "success");
    let expected = ("Merged".to_string(), "Done".to_string(), 6.0);
    assert_eq!(w.notion_rows()["c@example.com"], expected);
    assert_eq!(w.airtable_rows()["c@example.com"], expected);
    assert!(
        stdout(&synchost(&w).args(["conflicts", "list"]).output().unwrap())
            .contains("no conflicts")
    );
}
