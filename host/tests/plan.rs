//! `synchost run --plan`: a preview reads both sides and plans, and writes
//! nothing anywhere: no request that writes reaches a simulator (their
//! request logs), and the state holds the same bytes before and after. What
//! it shows is then checked against what the run it previews does.

mod common;

use common::{connectors, World};
use serde_json::json;
use synchost::sync::preview::{preview, Preview};
use synchost::sync::{ConnectorSource, RunOptions};

/// Requests that may write: anything but a read (Notion and Airtable read
/// with GET, and with POST on their query endpoints: Notion's "Query a data
/// source" and "Search", Airtable's "List records" by POST).
fn writes(requests: &[String]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| {
            !(r.starts_with("GET ")
                || (r.starts_with("POST ")
                    && (r.ends_with("/query")
                        || r.ends_with("/v1/search")
                        || r.ends_with("/listRecords"))))
        })
        .cloned()
        .collect()
}

fn options(full: bool) -> RunOptions {
    RunOptions {
        full,
        connectors: ConnectorSource {
            dir: Some(connectors()),
            loaded: None,
        },
        ..Default::default()
    }
}

/// Previews the world's job, asserting that nothing was written.
async fn previewed(w: &World) -> Preview {
    previewed_with(w, false).await
}

async fn previewed_with(w: &World, full: bool) -> Preview {
    let before = w.state().contents().unwrap();
    let (notion_before, airtable_before) = (w.notion.requests().len(), w.airtable.requests().len());
    let options = options(full);
    let plan = preview(&w.job(), &w.runtime, w.state(), &options, None)
        .await
        .unwrap();
    let notion = w.notion.requests();
    let airtable = w.airtable.requests();
    assert!(notion.len() > notion_before, "the preview read Notion");
    assert!(
        airtable.len() > airtable_before,
        "the preview read Airtable"
    );
    assert_eq!(writes(&notion[notion_before..]), Vec::<String>::new());
    assert_eq!(writes(&airtable[airtable_before..]), Vec::<String>::new());
    assert!(
        before == w.state().contents().unwrap(),
        "the preview changed the state"
    );
    plan
}

fn count(p: &Preview) -> [usize; 6] {
    [
        p.source.creates.len(),
        p.source.updates.len(),
        p.source.deletes.len(),
        p.target.creates.len(),
        p.target.updates.len(),
        p.target.deletes.len(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_is_previewed_and_the_run_does_what_it_showed() {
    let w = World::new("plan-first", "source_wins").await;
    w.seed_notion("n", 0..5);
    w.add_airtable("Only in Airtable", "a@example.com", "Doing", 7.0);
    // In both, by key: matched, and its differences decided by the policy.
    w.add_notion("Shared", "both@example.com", "Todo", 1.0);
    w.add_airtable("Shared, renamed", "both@example.com", "Todo", 1.0);

    let plan = previewed(&w).await;
    assert_eq!(count(&plan), [1, 0, 0, 5, 1, 0], "{}", plan.text());
    assert_eq!(plan.target.read, "full");
    let update = &plan.target.updates[0];
    assert_eq!(update.id, w.airtable_id("both@example.com"));
    assert_eq!(update.changes.len(), 1, "{update:?}");
    let change = &update.changes[0];
    assert_eq!(change.field, "Name");
    assert_eq!(
        serde_json::to_value(&change.old).unwrap(),
        json!({"type": "text", "value": "Shared, renamed"})
    );
    assert_eq!(
        serde_json::to_value(&change.new).unwrap(),
        json!({"type": "text", "value": "Shared"})
    );
    assert_eq!(plan.conflicts.len(), 1);
    assert_eq!(plan.conflicts[0].decision, "source wins");
    let text = plan.text();
    assert!(
        text.contains("Name: \"Shared, renamed\" -> \"Shared\""),
        "{text}"
    );
    // Lists bounded, counts whole.
    let short = preview(&w.job(), &w.runtime, w.state(), &options(false), Some(2))
        .await
        .unwrap();
    assert_eq!(short.target.creates.len(), 2);
    assert_eq!(short.target.counts.creates, 5);
    assert_eq!(short.writes(), plan.writes());
    assert!(short.text().contains("… and 3 more"), "{}", short.text());
    // Previewed twice: the same plan (nothing moved).
    let again = previewed(&w).await;
    assert_eq!(count(&again), count(&plan));

    let report = w.sync().await;
    assert_eq!(report.synced_items as usize, plan.writes(), "{report:?}");
    assert_eq!(w.notion_rows(), w.airtable_rows());
    // In step: the preview of the next run is empty.
    let after = previewed(&w).await;
    assert_eq!(after.writes(), 0, "{}", after.text());
}

/// Both sides change `Name` after a sync; the target's edit is the later.
async fn same_field_conflict(policy: &str) -> World {
    let w = World::new(&format!("plan-{policy}"), policy).await;
    w.add_notion("Original", "bob@example.com", "Todo", 1.0);
    w.add_notion("Deleted soon", "gone@example.com", "Todo", 2.0);
    w.sync().await;
    w.tick();
    w.notion
        .update_page(
            &w.notion_id("bob@example.com"),
            json!({"Name": {"title": [{"text": {"content": "From Notion"}}]}}),
        )
        .unwrap();
    w.notion
        .trash_page(&w.notion_id("gone@example.com"))
        .unwrap();
    w.tick();
    w.airtable
        .update(
            &w.base,
            "Tasks",
            &w.airtable_id("bob@example.com"),
            json!({"Name": "From Airtable", "Points": 5}),
        )
        .unwrap();
    w.add_airtable("New in Airtable", "new@example.com", "Done", 3.0);
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_policy_is_previewed_as_its_run_decides_it() {
    for (policy, decision) in [
        ("source_wins", "source wins"),
        ("target_wins", "target wins"),
        ("newest_wins", "target wins"),
        ("manual", "parked for a person"),
    ] {
        let w = same_field_conflict(policy).await;
        // Full reads: a page in Notion's trash is not in an incremental read.
        let plan = previewed_with(&w, true).await;
        let text = plan.text();
        assert_eq!(plan.conflicts.len(), 1, "{policy}: {text}");
        let conflict = &plan.conflicts[0];
        assert_eq!(conflict.decision, decision, "{policy}: {text}");
        assert_eq!(conflict.conflict.field, "Name");
        assert_eq!(conflict.source_id, w.notion_id("bob@example.com"));
        // The Notion page trashed: its Airtable record is deleted.
        assert_eq!(plan.target.deletes.len(), 1, "{policy}: {text}");
        // The new Airtable record is created in Notion.
        assert_eq!(plan.source.creates.len(), 1, "{policy}: {text}");
        if policy == "manual" {
            // Parked: neither side of the pair is written.
            assert!(plan.source.updates.is_empty() && plan.target.updates.is_empty());
        } else {
            // Points changed on Airtable only: it reaches Notion whatever the policy.
            let points = plan
                .source
                .updates
                .iter()
                .flat_map(|u| &u.changes)
                .find(|c| c.field == "Points");
            assert!(points.is_some(), "{policy}: {text}");
        }
        let report = w.sync_with(true).await;
        assert_eq!(
            report.synced_items as usize,
            plan.writes(),
            "{policy}: {report:?}\n{text}"
        );
        assert_eq!(report.conflicts_detected as usize, plan.conflicts.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_refuses_a_job_with_writes_left_by_a_crash_and_writes_nothing() {
    let mut w = World::new("plan-crash", "source_wins").await;
    w.seed_notion("c", 0..6);
    w.state.take();
    assert_eq!(w.run_binary(Some(2)), 99, "the fault switch stops the run");
    w.state = Some(synchost::state::State::open(&w.dir.join("state")).unwrap());
    let before = w.state().contents().unwrap();
    let requests = w.airtable.requests().len();
    let options = options(false);
    let refused = preview(&w.job(), &w.runtime, w.state(), &options, None)
        .await
        .unwrap_err();
    let message = format!("{refused:#}");
    assert!(
        message.contains("left by a run that did not finish") && message.contains("synchost run"),
        "{message}"
    );
    assert!(before == w.state().contents().unwrap());
    assert_eq!(w.airtable.requests().len(), requests, "not even read");
}

/// The command: text and JSON, from a data folder with no state yet (which
/// it does not create), and from one a run left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_plan_prints_the_plan_and_creates_no_state() {
    let mut w = World::new("plan-cli", "newest_wins").await;
    w.seed_notion("p", 0..3);
    w.state.take();
    let _ = std::fs::remove_dir_all(w.dir.join("state"));
    let job = w.job_file();
    let (job, data, dir) = (job.to_str().unwrap(), w.dir.to_str().unwrap(), connectors());
    let base = [
        "run",
        job,
        "--data",
        data,
        "--connectors",
        dir.to_str().unwrap(),
    ];
    let (code, out, err) = common::synchost(&[&base[..], &["--plan"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("3 write(s), 0 conflict(s); nothing was written")
            && out.contains("target: Airtable")
            && out.contains("3 create(s)"),
        "{out}"
    );
    assert!(!w.dir.join("state").exists(), "a preview made a state");
    assert!(writes(&w.airtable.requests()).is_empty());

    let (code, out, err) = common::synchost(&[&base[..], &["--plan", "--json"]].concat());
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["target"]["creates"].as_array().unwrap().len(), 3);
    assert_eq!(plan["job"], "sync-plan-cli");

    let (code, _, err) = common::synchost(&base);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = common::synchost(&[&base[..], &["--plan"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 write(s)"), "{out}");
    let (code, _, err) = common::synchost(&[&base[..], &["--json"]].concat());
    assert_ne!(code, 0);
    assert!(err.contains("--plan"), "{err}");
}

/// `"first_sync": "plan"` on the daemon: the first run is previewed and
/// parked, writes nothing, and goes ahead once the plan is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_parks_a_first_sync_until_its_plan_is_accepted() {
    use common::daemon::{blocking, Daemon};
    use std::time::{Duration, Instant};
    let w = World::new("plan-daemon", "newest_wins").await;
    w.seed_notion("d", 0..3);
    let mut job = w.job.clone();
    job["first_sync"] = json!("plan");
    let data = w.dir.join("daemon");
    let airtable = w.airtable.clone();
    blocking(move || {
        let d = Daemon::start(&data, 2);
        assert_eq!(d.post("/jobs", &job).0, 201);
        let id = "sync-plan-daemon";
        assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
        let started = Instant::now();
        while d.get(&format!("/jobs/{id}"))["last_status"] != "awaiting_plan" {
            assert!(started.elapsed() < Duration::from_secs(20), "not parked");
            std::thread::sleep(Duration::from_millis(100));
        }
        let waiting = d.get(&format!("/jobs/{id}/plan"));
        assert_eq!(waiting["target"]["creates"].as_array().unwrap().len(), 3);
        assert!(d.runs(id).is_empty(), "a parked first run is not a run");
        assert!(writes(&airtable.requests()).is_empty());
        // Asked again, the run parks again: still nothing written.
        assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
        // A preview on demand, once that run is over (409 while it runs).
        let started = Instant::now();
        let (status, fresh) = loop {
            let (status, body) = d.post(&format!("/jobs/{id}/plan"), &json!({}));
            if status != 409 || started.elapsed() > Duration::from_secs(20) {
                break (status, body);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(status, 200, "{fresh}");
        assert_eq!(fresh["target"]["creates"].as_array().unwrap().len(), 3);
        let data_arg = data.to_str().unwrap();
        // `run --plan` on a folder the daemon holds asks the daemon.
        let job_file = data.join("job.json");
        std::fs::write(&job_file, job.to_string()).unwrap();
        let (code, out, err) = common::synchost(&[
            "run",
            job_file.to_str().unwrap(),
            "--plan",
            "--data",
            data_arg,
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("target: Airtable") && out.contains("3 create(s)"),
            "{out}"
        );
        let (code, out, err) = common::synchost(&["plan", "show", id, "--data", data_arg]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("3 create(s)"), "{out}");
        // Another project's token does not see it.
        let (code, other, err) =
            common::synchost(&["token", "create", "--project", "other", "--data", data_arg]);
        assert_eq!(code, 0, "{err}");
        let (status, _) = d.get_as(other.trim(), &format!("/jobs/{id}/plan"));
        assert_eq!(status, 404);
        let (status, _) = d.send_as(
            other.trim(),
            "POST",
            &format!("/jobs/{id}/plan/accept"),
            &json!({}),
        );
        assert_eq!(status, 404);
        assert!(writes(&airtable.requests()).is_empty());

        let (code, out, err) = common::synchost(&["plan", "accept", id, "--data", data_arg]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("queued on the daemon"), "{out}");
        let run = d.wait_for_run(id, &["success"], Duration::from_secs(20));
        assert_eq!(run["report"]["synced_items"], 3);
        let audit = d.get("/audit?limit=1000");
        let kinds: Vec<&str> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["job"] == id)
            .filter_map(|e| e["kind"].as_str())
            .collect();
        assert!(
            kinds.contains(&"plan_waiting") && kinds.contains(&"plan_accepted"),
            "{kinds:?}"
        );
    })
    .await;
    assert_eq!(w.airtable_rows().len(), 3);
}

/// `synchost run` honours it too: the first run waits, then goes once accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchost_run_waits_for_an_accepted_first_plan() {
    let mut w = World::new("plan-cli-first", "newest_wins").await;
    w.seed_notion("f", 0..2);
    w.job["first_sync"] = json!("plan");
    w.state.take();
    let job = w.job_file();
    let (job, data, dir) = (job.to_str().unwrap(), w.dir.to_str().unwrap(), connectors());
    let base = [
        "run",
        job,
        "--data",
        data,
        "--connectors",
        dir.to_str().unwrap(),
    ];
    let (code, _, err) = common::synchost(&base);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("synchost plan accept sync-plan-cli-first"),
        "{err}"
    );
    assert!(writes(&w.airtable.requests()).is_empty());
    let (code, _, err) =
        common::synchost(&["plan", "accept", "sync-plan-cli-first", "--data", data]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = common::synchost(&base);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"synced_items\": 2"), "{out}");
}
