//! No write lost, duplicated or undone (issue 9): a person editing between
//! our read and our write, answers that prove nothing, a delete made after a
//! crash. Each test injects the fault through the fault proxy (or the crash
//! switch) on a real two-way sync between the Notion and Airtable simulators.

mod common;

use std::sync::Arc;

use common::World;
use serde_json::json;
use synchost_sim::fault::{Fault, Rule};

fn title(text: &str) -> serde_json::Value {
    json!({"Name": {"title": [{"text": {"content": text}}]}})
}

/// Between the host's read and its write, someone edits the same field of
/// the target record. The write carries the version it was planned from, the
/// platform refuses it as stale, and the pair is re-read and merged again
/// with the job's policy, in the same run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_edit_is_decided_by_the_policy_not_overwritten() {
    for (policy, winner) in [
        ("source_wins", Some("From Notion")),
        ("target_wins", Some("From Airtable")),
        ("newest_wins", Some("From Airtable")),
        ("manual", None),
    ] {
        let mut w = World::new(&format!("cc-{policy}"), policy).await;
        w.with_airtable_versions();
        let proxy = w.proxy("target").await;
        let page = w.add_notion("Task A", "a@example.com", "Todo", 1.0);
        w.sync().await;
        let record = w.airtable_id("a@example.com");

        w.tick();
        w.notion.update_page(&page, title("From Notion")).unwrap();
        // The person's edit lands just before the host's write reaches the record.
        let (airtable, base, id) = (w.airtable.clone(), w.base.clone(), record.clone());
        proxy.add(Rule::new(
            Some("GET"),
            &format!("/{record}"),
            Fault::Before(Arc::new(move || {
                airtable.clock().advance(chrono::Duration::seconds(5));
                airtable
                    .update(&base, "Tasks", &id, json!({"Name": "From Airtable"}))
                    .unwrap();
            })),
        ));
        let report = w.sync().await;
        assert!(!proxy.fired().is_empty(), "the concurrent edit happened");
        assert_eq!(report.conflicts_detected, 1, "{policy}: {report:?}");
        let (notion, at) = (w.notion_rows(), w.airtable_rows());
        match winner {
            Some(name) => {
                assert_eq!(notion["a@example.com"].0, name, "{policy}: Notion");
                assert_eq!(at["a@example.com"].0, name, "{policy}: Airtable");
                let again = w.sync().await;
                assert_eq!(
                    again.synced_items, 0,
                    "{policy}: a quiet run after: {again:?}"
                );
            }
            None => {
                // Parked: neither side is touched until a person decides.
                assert_eq!(notion["a@example.com"].0, "From Notion");
                assert_eq!(at["a@example.com"].0, "From Airtable");
                assert_eq!(w.state().conflicts().unwrap().len(), 1);
            }
        }
    }
}

/// A concurrent edit to another field merges: both edits are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_edit_to_another_field_merges() {
    let mut w = World::new("cc-merge", "source_wins").await;
    w.with_airtable_versions();
    let proxy = w.proxy("target").await;
    let page = w.add_notion("Task B", "b@example.com", "Todo", 1.0);
    w.sync().await;
    let record = w.airtable_id("b@example.com");
    w.tick();
    w.notion.update_page(&page, title("Renamed")).unwrap();
    let (airtable, base, id) = (w.airtable.clone(), w.base.clone(), record.clone());
    proxy.add(Rule::new(
        Some("GET"),
        &format!("/{record}"),
        Fault::Before(Arc::new(move || {
            airtable.clock().advance(chrono::Duration::seconds(5));
            airtable
                .update(&base, "Tasks", &id, json!({"Points": 42}))
                .unwrap();
        })),
    ));
    let report = w.sync().await;
    assert_eq!(report.conflicts_detected, 0, "{report:?}");
    for rows in [w.notion_rows(), w.airtable_rows()] {
        assert_eq!(
            rows["b@example.com"],
            ("Renamed".into(), "Todo".into(), 42.0)
        );
    }
}

/// The platform did the writes, but its answer proves nothing (cut short,
/// reset, the wrong shape): the writes stay pending, nothing is re-sent
/// blindly, and the next run finds what landed and links it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_proves_nothing_is_reconciled_not_duplicated() {
    for (tag, fault) in [
        ("truncated", Fault::Truncate),
        ("reset", Fault::ResetMidBody),
        ("wrong-shape", Fault::WrongShape),
    ] {
        let mut w = World::new(&format!("unknown-{tag}"), "newest_wins").await;
        // No match key: only the host's own bookkeeping can prevent duplicates.
        w.job.as_object_mut().unwrap().remove("match_key");
        let proxy = w.proxy("target").await;
        w.seed_notion("u", 0..10);
        proxy.add(Rule::new(Some("POST"), "/Tasks", fault).times(100));
        let report = w.sync().await;
        assert!(!proxy.fired().is_empty());
        assert_eq!(
            report.status,
            synchost::sync::Status::Queued,
            "{tag}: unknown outcomes wait: {report:?}"
        );
        assert_eq!(w.airtable_rows().len(), 10, "{tag}: the creates landed");
        proxy.clear();
        let report = w.sync().await;
        assert_eq!(
            report.status,
            synchost::sync::Status::Success,
            "{tag}: {report:?}"
        );
        assert_eq!(w.notion_rows().len(), 10, "{tag}: no duplicate in Notion");
        assert_eq!(
            w.airtable_rows().len(),
            10,
            "{tag}: no duplicate in Airtable"
        );
        assert_eq!(w.notion_rows(), w.airtable_rows());
        assert_eq!(w.sync().await.synced_items, 0, "{tag}: then quiet");
    }
}

/// A create (or an edit) lands, the process dies before saving it, a person
/// deletes the record on the source: the recovery run propagates the delete
/// instead of re-creating the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_deleted_after_a_crash_stays_deleted() {
    // The create.
    let mut w = World::new("crash-delete-create", "newest_wins").await;
    let page = w.add_notion("Doomed", "d@example.com", "Todo", 1.0);
    w.state.take();
    assert_eq!(w.run_binary(Some(1)), 99);
    assert_eq!(w.airtable_rows().len(), 1, "the create landed");
    w.tick();
    w.notion.trash_page(&page).unwrap();
    w.run_binary(None);
    assert!(w.notion_rows().is_empty(), "not re-created in Notion");
    assert!(w.airtable_rows().is_empty(), "the delete reached Airtable");

    // The edit.
    let mut w = World::new("crash-delete-edit", "newest_wins").await;
    let page = w.add_notion("Kept", "k@example.com", "Todo", 1.0);
    w.sync().await;
    w.tick();
    w.notion.update_page(&page, title("Edited")).unwrap();
    w.state.take();
    assert_eq!(w.run_binary(Some(1)), 99);
    assert_eq!(
        w.airtable_rows()["k@example.com"].0,
        "Edited",
        "the edit landed"
    );
    w.tick();
    w.notion.trash_page(&page).unwrap();
    w.run_binary(None);
    assert!(w.notion_rows().is_empty(), "not restored in Notion");
    assert!(w.airtable_rows().is_empty(), "the delete reached Airtable");
}

/// Every confirmed write is audited once, in one entry per side and batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_is_audited_once() {
    let w = World::new("audit-once", "newest_wins").await;
    w.seed_notion("a", 0..3);
    let report = w.sync().await;
    assert_eq!(report.synced_items, 3);
    let entries: Vec<_> = w
        .state()
        .audit_since("")
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "write")
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one side, one batch, one entry: {entries:?}"
    );
    let mut ids: Vec<String> = entries[0].detail["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            assert_eq!(op["op"], "create");
            op["id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each created record once: {entries:?}");
}

/// A schema that cannot be read (a truncated answer) ends the run with a
/// recorded report, like any other failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_schema_read_is_a_recorded_run() {
    let mut w = World::new("schema-fail", "newest_wins").await;
    let proxy = w.proxy("target").await;
    proxy.add(Rule::new(Some("GET"), "/meta/bases", Fault::Truncate).times(100));
    let report = w.sync().await;
    assert_ne!(report.status, synchost::sync::Status::Success, "{report:?}");
    let runs = w.state().runs(10).unwrap();
    assert_eq!(runs.len(), 1, "the failed run is recorded");
    let error = runs[0].report["details"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("schema"), "{error}");
}

/// The same on Notion (`last_edited_time` as its version): a person's edit
/// to the page between our read and our write is seen, and the policy
/// decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_edit_on_notion_is_seen_too() {
    let mut w = World::new("cc-notion", "source_wins").await;
    w.with_airtable_versions();
    let proxy = w.proxy("source").await;
    let page = w.add_notion("Task C", "c@example.com", "Todo", 1.0);
    w.sync().await;
    w.tick();
    let record = w.airtable_id("c@example.com");
    w.airtable
        .update(&w.base, "Tasks", &record, json!({"Name": "From Airtable"}))
        .unwrap();
    let notion = w.notion.clone();
    let edited = page.clone();
    proxy.add(Rule::new(
        Some("GET"),
        &format!("/v1/pages/{page}"),
        Fault::Before(Arc::new(move || {
            notion.clock().advance(chrono::Duration::minutes(2));
            notion.update_page(&edited, title("From Notion")).unwrap();
        })),
    ));
    let report = w.sync().await;
    assert!(!proxy.fired().is_empty(), "the concurrent edit happened");
    assert_eq!(report.conflicts_detected, 1, "{report:?}");
    for rows in [w.notion_rows(), w.airtable_rows()] {
        assert_eq!(rows["c@example.com"].0, "From Notion", "source wins");
    }
}
