//! The fault matrix (issue 9): a two-way sync with creates, updates and a
//! delete on both sides runs once under each fault — 429 storms, 5xx, a reset
//! mid-body, a delay, a truncated body, a body of the wrong shape, a person's
//! concurrent edit — on each side, on its reads and on its writes; then runs
//! without faults. Every time: both sides equal, nothing duplicated, one more
//! run writes nothing, and the faulty run's status says what happened.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::World;
use serde_json::json;
use synchost::sync::Status;
use synchost_sim::fault::{Fault, FaultProxy, Rule};

#[derive(Clone, Copy, Debug, PartialEq)]
enum On {
    Read,
    Write,
}

/// The rules that put `fault` on `side`'s reads or writes, `times` times each.
fn rules(side: &str, on: On, fault: &Fault, times: usize) -> Vec<Rule> {
    let rule = |method: &str, path: &str| Rule::new(Some(method), path, fault.clone()).times(times);
    match (side, on) {
        ("source", On::Read) => vec![rule("POST", "/query")],
        ("source", On::Write) => vec![rule("POST", "/v1/pages"), rule("PATCH", "/v1/pages/")],
        (_, On::Read) => vec![rule("GET", "Tasks?")],
        (_, On::Write) => ["POST", "PATCH", "DELETE"]
            .iter()
            .map(|m| rule(m, "/Tasks"))
            .collect(),
    }
}

fn title(text: &str) -> serde_json::Value {
    json!({"Name": {"title": [{"text": {"content": text}}]}})
}

/// What a faulty run may report: a fault that the host rides out (a short
/// 429, a delay, a concurrent edit re-planned) ends `success`; one that
/// stops reads or leaves writes unknown ends `queued`.
fn expected(fault: &str) -> &'static [Status] {
    match fault {
        "429 once" | "delay" => &[Status::Success],
        "concurrent edit" => &[Status::Success],
        _ => &[Status::Queued],
    }
}

async fn scenario(tag: &str, side: &str, on: On, name: &str, fault: Fault) {
    let mut w = World::new(tag, "newest_wins").await;
    w.with_airtable_versions();
    let proxies: Vec<(&str, FaultProxy)> = vec![
        ("source", w.proxy("source").await),
        ("target", w.proxy("target").await),
    ];
    w.seed_notion("n", 0..4);
    for i in 0..3 {
        w.add_airtable(
            &format!("Air {i}"),
            &format!("a{i}@example.com"),
            "Todo",
            i as f64,
        );
    }
    assert_eq!(w.sync().await.status, Status::Success);

    // Edits on both sides: updates, a delete, new records.
    w.tick();
    w.notion
        .update_page(&w.notion_id("n0@example.com"), title("Notion edit"))
        .unwrap();
    w.airtable
        .update(
            &w.base,
            "Tasks",
            &w.airtable_id("a1@example.com"),
            json!({"Points": 77}),
        )
        .unwrap();
    w.airtable
        .delete(&w.base, "Tasks", &w.airtable_id("n3@example.com"))
        .unwrap();
    w.add_notion("New in Notion", "new-n@example.com", "Todo", 5.0);
    w.add_airtable("New in Airtable", "new-a@example.com", "Doing", 6.0);

    let fault = match fault {
        // The concurrent edit lands on the record the run is about to write.
        Fault::Before(_) => {
            let (notion, airtable, base) = (w.notion.clone(), w.airtable.clone(), w.base.clone());
            let (page, record) = (
                w.notion_id("a1@example.com"),
                w.airtable_id("n0@example.com"),
            );
            let on_source = side == "source";
            Fault::Before(Arc::new(move || {
                if on_source {
                    notion.clock().advance(chrono::Duration::minutes(2));
                    let _ =
                        notion.update_page(&page, json!({"Status": {"select": {"name": "Done"}}}));
                } else {
                    airtable.clock().advance(chrono::Duration::seconds(5));
                    let _ = airtable.update(&base, "Tasks", &record, json!({"Status": "Done"}));
                }
            }))
        }
        other => other,
    };
    let proxy = &proxies.iter().find(|(s, _)| *s == side).unwrap().1;
    // A short 429 comes once; every other fault lasts the whole run.
    let times = if name == "429 once" { 1 } else { 1000 };
    for rule in rules(side, on, &fault, times) {
        proxy.add(rule);
    }
    let faulty = w.sync().await;
    assert!(!proxy.fired().is_empty(), "{tag}: the fault fired");
    assert!(
        expected(name).contains(&faulty.status),
        "{tag}: status {:?}: {faulty:?}",
        faulty.status
    );
    proxy.clear();

    // Without faults: in step within a few runs (the first a full scan, which
    // is how Airtable's hard delete is seen), then quiet.
    for round in 0..3 {
        if w.sync_with(round == 0).await.synced_items == 0 && round > 0 {
            break;
        }
    }
    let (notion, airtable) = (w.notion_rows(), w.airtable_rows());
    assert_eq!(notion, airtable, "{tag}: both sides equal");
    assert_eq!(
        notion.len(),
        8,
        "{tag}: nothing lost, duplicated or resurrected: {notion:?}"
    );
    assert!(
        !notion.contains_key("n3@example.com"),
        "{tag}: the delete held"
    );
    assert_eq!(notion["n0@example.com"].0, "Notion edit", "{tag}");
    assert_eq!(notion["a1@example.com"].2, 77.0, "{tag}");
    let quiet = w.sync().await;
    assert_eq!(
        quiet.synced_items, 0,
        "{tag}: one more run writes nothing: {quiet:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_every_side_read_and_write_converges() {
    let faults: Vec<(&str, Fault)> = vec![
        (
            "429 once",
            Fault::Status(429, vec![("retry-after".into(), "0.2".into())], "{}".into()),
        ),
        (
            "429 storm",
            Fault::Status(429, vec![("retry-after".into(), "1".into())], "{}".into()),
        ),
        (
            "503",
            Fault::Status(503, vec![], r#"{"error":"unavailable"}"#.into()),
        ),
        ("reset", Fault::ResetMidBody),
        ("delay", Fault::Delay(Duration::from_millis(300))),
        ("truncated", Fault::Truncate),
        ("wrong shape", Fault::WrongShape),
        ("concurrent edit", Fault::Before(Arc::new(|| {}))),
    ];
    for side in ["source", "target"] {
        for on in [On::Read, On::Write] {
            for (name, fault) in &faults {
                if *name == "concurrent edit" && on == On::Read {
                    continue;
                }
                let tag = format!("fm-{side}-{on:?}-{}", name.replace(' ', "-")).to_lowercase();
                scenario(&tag, side, on, name, fault.clone()).await;
            }
        }
    }
}
