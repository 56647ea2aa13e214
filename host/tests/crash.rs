//! A run killed after N confirmed writes, before their state is saved (the
//! worst instant: the platform has the write, sled does not), then run
//! again: both sides end as an uninterrupted run leaves them, with nothing
//! created twice and nothing lost.

mod common;

use std::collections::BTreeMap;

use common::World;

type Rows = BTreeMap<String, (String, String, f64)>;

/// 30 tasks on each side, 10 of them on both (by email) with other points.
async fn seeded(tag: &str) -> World {
    let w = World::new(tag, "source_wins").await;
    for i in 0..30 {
        w.add_notion(
            &format!("Notion task {i}"),
            &format!("t{i}@example.com"),
            "Todo",
            i as f64,
        );
    }
    for i in 20..50 {
        w.add_airtable(
            &format!("Airtable task {i}"),
            &format!("t{i}@example.com"),
            "Done",
            100.0 + i as f64,
        );
    }
    w
}

/// Edits on both sides after a first sync: updates, a delete, new records.
fn edit(w: &World) {
    w.tick();
    for i in [1, 2, 3, 21, 22] {
        w.notion
            .update_page(
                &w.notion_id(&format!("t{i}@example.com")),
                serde_json::json!({"Status": {"select": {"name": "Doing"}}}),
            )
            .unwrap();
    }
    for i in [4, 5, 23, 40] {
        w.airtable
            .update(
                &w.base,
                "Tasks",
                &w.airtable_id(&format!("t{i}@example.com")),
                serde_json::json!({"Points": 999}),
            )
            .unwrap();
    }
    for i in 60..66 {
        w.add_notion(
            &format!("Late {i}"),
            &format!("t{i}@example.com"),
            "Todo",
            1.0,
        );
        w.add_airtable(
            &format!("Late {}", i + 10),
            &format!("t{}@example.com", i + 10),
            "Todo",
            2.0,
        );
    }
}

async fn uninterrupted() -> (Rows, Rows) {
    let mut w = seeded("crash-reference").await;
    w.state.take();
    w.run_binary(None);
    edit(&w);
    w.run_binary(None);
    (w.notion_rows(), w.airtable_rows())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_kill_without_duplicate_writes() {
    let (ref_notion, ref_airtable) = uninterrupted().await;
    assert_eq!(ref_notion, ref_airtable);
    assert_eq!(ref_notion.len(), 62);
    // Crash points in the first sync (creates on both sides, batched by 10 on
    // Airtable) and in the second (updates and creates).
    for (first, second) in [
        (Some(1), None),
        (Some(7), None),
        (Some(25), None),
        (None, Some(1)),
        (None, Some(9)),
    ] {
        let mut w =
            seeded(&format!("crash-{first:?}-{second:?}").replace(['(', ')', ' '], "")).await;
        w.state.take();
        if let Some(n) = first {
            assert_eq!(w.run_binary(Some(n)), 99, "the fault switch stops the run");
        }
        w.run_binary(None);
        edit(&w);
        if let Some(n) = second {
            assert_eq!(w.run_binary(Some(n)), 99);
        }
        w.run_binary(None);
        let (notion, airtable) = (w.notion_rows(), w.airtable_rows());
        assert_eq!(
            notion, ref_notion,
            "Notion after a crash at {first:?}/{second:?}"
        );
        assert_eq!(
            airtable, ref_airtable,
            "Airtable after a crash at {first:?}/{second:?}"
        );
    }
}
