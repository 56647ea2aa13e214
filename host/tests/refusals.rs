//! A refused write must not make a change disappear, and `newest_wins` is
//! never decided silently without times (issue 15).

mod common;

use common::World;
use serde_json::json;
use synchost_sim::fault::{Fault, Rule};

fn title(text: &str) -> serde_json::Value {
    json!({"Name": {"title": [{"text": {"content": text}}]}})
}

/// Airtable's answer to a value it will not take (HTTP 422, "INVALID_VALUE_FOR_COLUMN").
fn refusal() -> Fault {
    Fault::Status(
        422,
        vec![("content-type".into(), "application/json".into())],
        r#"{"error":{"type":"INVALID_VALUE_FOR_COLUMN","message":"Field \"Name\" cannot accept the provided value"}}"#
            .into(),
    )
}

/// The source's edit is refused by the target once; before the next run,
/// someone edits the same field on the target. The next run, incremental,
/// still sees the source's change (kept as dirty) and decides by the policy,
/// instead of letting the target's edit overwrite it unseen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_keeps_its_change_for_the_next_run() {
    for (policy, winner) in [
        ("source_wins", Some("From Notion")),
        ("target_wins", Some("From Airtable")),
        ("newest_wins", Some("From Airtable")),
        ("manual", None),
    ] {
        let mut w = World::new(&format!("refused-{policy}"), policy).await;
        let proxy = w.proxy("target").await;
        let page = w.add_notion("Task R", "r@example.com", "Todo", 1.0);
        w.sync().await;
        let record = w.airtable_id("r@example.com");

        w.tick();
        w.notion.update_page(&page, title("From Notion")).unwrap();
        // Refused in this run and in the next, which (some minutes later)
        // reads from past the edit, overlap window included.
        proxy.add(Rule::new(Some("PATCH"), "/Tasks", refusal()).times(2));
        let first = w.sync().await;
        assert_eq!(
            first.status,
            synchost::sync::Status::Partial,
            "{policy}: {first:?}"
        );
        for _ in 0..4 {
            w.tick();
        }
        let again = w.sync().await;
        assert_eq!(
            again.status,
            synchost::sync::Status::Partial,
            "{policy}: {again:?}"
        );
        assert_eq!(
            w.airtable_rows()["r@example.com"].0,
            "Task R",
            "{policy}: refused"
        );
        for _ in 0..4 {
            w.tick();
        }
        w.airtable
            .update(&w.base, "Tasks", &record, json!({"Name": "From Airtable"}))
            .unwrap();
        let second = w.sync().await;
        assert_eq!(second.conflicts_detected, 1, "{policy}: {second:?}");
        let (notion, airtable) = (w.notion_rows(), w.airtable_rows());
        match winner {
            Some(name) => {
                assert_eq!(notion["r@example.com"].0, name, "{policy}: Notion");
                assert_eq!(airtable["r@example.com"].0, name, "{policy}: Airtable");
                assert_eq!(w.sync().await.synced_items, 0, "{policy}: then quiet");
                let job = format!("sync-refused-{policy}");
                assert!(w.state().dirty(&job).unwrap().is_empty(), "{policy}: clean");
            }
            None => {
                assert_eq!(notion["r@example.com"].0, "From Notion");
                assert_eq!(airtable["r@example.com"].0, "From Airtable");
                assert_eq!(w.state().conflicts().unwrap().len(), 1);
            }
        }
    }
}

/// A platform that keeps no modification time (Airtable without a "Last
/// modified time" field): `newest_wins` on a field both sides changed in one
/// run cannot be decided; the pair is parked with the reason, not handed
/// to the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_wins_without_times_is_never_decided_silently() {
    let mut w = World::new("untimed", "newest_wins").await;
    w.job["target"]["connection"]["settings"]["modified_field"] = json!("No such field");
    let page = w.add_notion("Task U", "u@example.com", "Todo", 1.0);
    w.sync().await;
    w.tick();
    w.notion.update_page(&page, title("From Notion")).unwrap();
    w.tick();
    w.airtable
        .update(
            &w.base,
            "Tasks",
            &w.airtable_id("u@example.com"),
            json!({"Name": "From Airtable"}),
        )
        .unwrap();
    let report = w.sync().await;
    assert_eq!(report.conflicts_detected, 1, "{report:?}");
    let conflict = &report.details.as_ref().unwrap().conflicts[0];
    assert_eq!(conflict.winner, None, "{conflict:?}");
    let note = conflict.note.clone().unwrap_or_default();
    assert!(note.contains("target keeps no modification time"), "{note}");
    assert_eq!(
        w.state().conflicts().unwrap().len(),
        1,
        "parked for a person"
    );
    assert_eq!(w.notion_rows()["u@example.com"].0, "From Notion");
    assert_eq!(w.airtable_rows()["u@example.com"].0, "From Airtable");
}

/// Without times, changes first seen in different runs are told apart by
/// when the host first saw them: the one seen later wins, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_wins_without_times_uses_when_each_change_was_first_seen() {
    let mut w = World::new("untimed-seen", "newest_wins").await;
    w.job["target"]["connection"]["settings"]["modified_field"] = json!("No such field");
    let proxy = w.proxy("target").await;
    let page = w.add_notion("Task S", "s@example.com", "Todo", 1.0);
    w.sync().await;
    let record = w.airtable_id("s@example.com");
    w.tick();
    w.notion.update_page(&page, title("From Notion")).unwrap();
    proxy.add(Rule::new(Some("PATCH"), "/Tasks", refusal()));
    w.sync().await;
    w.tick();
    w.airtable
        .update(&w.base, "Tasks", &record, json!({"Name": "From Airtable"}))
        .unwrap();
    let report = w.sync().await;
    let conflict = &report.details.as_ref().unwrap().conflicts[0];
    assert_eq!(
        conflict.winner,
        Some(synchost::core::merge::Side::Target),
        "{conflict:?}"
    );
    assert!(
        conflict.note.as_ref().unwrap().contains("first saw"),
        "{conflict:?}"
    );
    for rows in [w.notion_rows(), w.airtable_rows()] {
        assert_eq!(rows["s@example.com"].0, "From Airtable");
    }
}
