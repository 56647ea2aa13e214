//! Two-way sync between the Notion and Airtable simulators, through the real
//! connectors in the sandbox, with state in sled.

mod common;

use common::World;
use synchost::core::merge::Side;
use synchost::state::Resolution;
use synchost::sync::Status;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_of_1000_records_matches_200_existing_pairs_by_key() {
    let w = World::new("first", "newest_wins").await;
    w.seed_notion("p", 0..600);
    for i in 400..1000 {
        w.add_airtable(
            &format!("Task {i}"),
            &format!("p{i}@example.com"),
            "Todo",
            i as f64,
        );
    }
    let report = w.sync().await;
    assert_eq!(report.status, Status::Success, "{report:?}");
    let (notion, airtable) = (w.notion_rows(), w.airtable_rows());
    assert_eq!(notion.len(), 1000, "no duplicates on Notion");
    assert_eq!(airtable.len(), 1000, "no duplicates on Airtable");
    assert_eq!(notion, airtable);
    // 400 created on each side; the 200 pairs were equal, so nothing else.
    assert_eq!(report.synced_items, 800);
    assert_eq!(report.conflicts_detected, 0);
    assert_eq!(w.state().pair_count("sync-first"), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_without_changes_writes_nothing_and_reads_incrementally() {
    let w = World::new("noop", "newest_wins").await;
    for i in 0..150 {
        w.add_notion(
            &format!("Task {i}"),
            &format!("n{i}@example.com"),
            "Todo",
            1.0,
        );
        w.add_airtable(
            &format!("Row {i}"),
            &format!("a{i}@example.com"),
            "Done",
            2.0,
        );
    }
    assert_eq!(w.sync().await.synced_items, 300);
    w.tick();
    let requests = (w.notion.request_count(), w.airtable.request_count());
    let report = w.sync().await;
    assert_eq!(report.synced_items, 0, "{report:?}");
    let details = report.details.unwrap();
    assert_eq!(
        (details.source.read.as_str(), details.target.read.as_str()),
        ("incremental", "incremental")
    );
    // Everything was written within the checkpoint's minute, which an
    // incremental read overlaps: those records are read again, compare equal
    // to their shadows, and nothing is sent twice.
    let (notion_reqs, airtable_reqs) = (
        w.notion.request_count() - requests.0,
        w.airtable.request_count() - requests.1,
    );
    assert!(
        notion_reqs <= 6 && airtable_reqs <= 6,
        "{notion_reqs} Notion, {airtable_reqs} Airtable requests"
    );

    // Once an edit moves the checkpoints on (the run after it reads the
    // edit's echo on the other side), a quiet run reads only the overlap.
    w.notion
        .update_page(
            &w.notion_id("n7@example.com"),
            serde_json::json!({"Points": {"number": 70}}),
        )
        .unwrap();
    assert_eq!(w.sync().await.synced_items, 1);
    w.tick();
    assert_eq!(w.sync().await.synced_items, 0);
    w.tick();
    let report = w.sync().await;
    assert_eq!(report.synced_items, 0);
    let details = report.details.unwrap();
    assert!(
        details.source.records_read <= 1 && details.target.records_read <= 1,
        "{details:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_to_different_fields_on_each_side_merge_without_conflict() {
    let w = World::new("merge", "manual").await;
    w.add_notion("Write docs", "ada@example.com", "Todo", 1.0);
    w.sync().await;
    w.tick();
    w.notion
        .update_page(
            &w.notion_id("ada@example.com"),
            serde_json::json!({"Status": {"select": {"name": "Doing"}}}),
        )
        .unwrap();
    w.airtable
        .update(
            &w.base,
            "Tasks",
            &w.airtable_id("ada@example.com"),
            serde_json::json!({"Points": 8}),
        )
        .unwrap();
    let report = w.sync().await;
    assert_eq!(report.conflicts_detected, 0, "{report:?}");
    let expected = ("Write docs".to_string(), "Doing".to_string(), 8.0);
    assert_eq!(w.notion_rows()["ada@example.com"], expected);
    assert_eq!(w.airtable_rows()["ada@example.com"], expected);
}

/// Both sides change `Name`; the target's edit is the later one.
async fn same_field_conflict(policy: &str) -> (World, synchost::sync::Report) {
    let w = World::new(&format!("policy-{policy}"), policy).await;
    w.add_notion("Original", "bob@example.com", "Todo", 1.0);
    w.sync().await;
    w.tick();
    w.notion
        .update_page(
            &w.notion_id("bob@example.com"),
            serde_json::json!({"Name": {"title": [{"text": {"content": "From Notion"}}]}}),
        )
        .unwrap();
    w.tick();
    w.airtable
        .update(
            &w.base,
            "Tasks",
            &w.airtable_id("bob@example.com"),
            serde_json::json!({"Name": "From Airtable"}),
        )
        .unwrap();
    let report = w.sync().await;
    assert_eq!(report.conflicts_detected, 1, "{report:?}");
    (w, report)
}

fn names(w: &World) -> (String, String) {
    (
        w.notion_rows()["bob@example.com"].0.clone(),
        w.airtable_rows()["bob@example.com"].0.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_wins_takes_the_source_value() {
    let (w, report) = same_field_conflict("source_wins").await;
    assert_eq!(report.conflict_resolution, "auto_override_from_remote");
    assert_eq!(names(&w), ("From Notion".into(), "From Notion".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_wins_takes_the_target_value() {
    let (w, report) = same_field_conflict("target_wins").await;
    assert_eq!(report.conflict_resolution, "auto_override_from_local");
    assert_eq!(names(&w), ("From Airtable".into(), "From Airtable".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_wins_takes_the_later_edit() {
    let (w, report) = same_field_conflict("newest_wins").await;
    assert_eq!(report.conflict_resolution, "auto_newest_wins");
    assert_eq!(names(&w), ("From Airtable".into(), "From Airtable".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_parks_the_pair_and_a_resolution_is_applied_next_run() {
    let (w, report) = same_field_conflict("manual").await;
    assert_eq!(report.conflict_resolution, "manual_review");
    // A conflict waiting for a person: the sides are not in step.
    assert_eq!(report.status, Status::Partial, "{report:?}");
    assert_eq!(
        names(&w),
        ("From Notion".into(), "From Airtable".into()),
        "neither side changes"
    );
    let parked = w.state().conflicts().unwrap();
    assert_eq!(parked.len(), 1);
    // Parked means parked: another run changes nothing, and says it waits.
    let again = w.sync().await;
    assert_eq!(again.synced_items, 0);
    assert_eq!(again.status, Status::Partial, "{again:?}");
    let mut conflict = parked[0].clone();
    conflict.resolution = Some(Resolution::Take(Side::Source));
    w.state().put_conflict(&conflict).unwrap();
    let report = w.sync().await;
    assert_eq!(report.synced_items, 1, "{report:?}");
    assert_eq!(report.status, Status::Success, "resolved: {report:?}");
    assert_eq!(names(&w), ("From Notion".into(), "From Notion".into()));
    assert!(w.state().conflicts().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_flow_both_ways_on_a_full_scan() {
    let w = World::new("deletes", "newest_wins").await;
    for i in 0..6 {
        w.add_notion(
            &format!("Task {i}"),
            &format!("d{i}@example.com"),
            "Todo",
            1.0,
        );
    }
    w.add_airtable("Task 6", "d6@example.com", "Todo", 1.0);
    w.sync().await;
    w.tick();
    w.notion.trash_page(&w.notion_id("d1@example.com")).unwrap();
    w.airtable
        .delete(&w.base, "Tasks", &w.airtable_id("d2@example.com"))
        .unwrap();
    // Neither platform reports deletes in incremental reads: an incremental
    // run leaves both alone, and never infers a delete from a partial read.
    w.sync().await;
    assert_eq!((w.notion_rows().len(), w.airtable_rows().len()), (6, 6));
    let report = w.sync_with(true).await;
    assert_eq!(report.synced_items, 2, "{report:?}");
    let (notion, airtable) = (w.notion_rows(), w.airtable_rows());
    assert_eq!(notion.len(), 5);
    assert_eq!(notion, airtable);
    assert!(!notion.contains_key("d1@example.com") && !notion.contains_key("d2@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_scan_every_sets_how_often_a_scheduled_run_reads_in_full() {
    let mut w = World::new("fullevery", "newest_wins").await;
    w.job["full_scan_every"] = serde_json::json!(2);
    for i in 0..3 {
        w.add_notion(
            &format!("Task {i}"),
            &format!("f{i}@example.com"),
            "Todo",
            1.0,
        );
    }
    w.sync().await;
    w.tick();
    w.notion.trash_page(&w.notion_id("f1@example.com")).unwrap();
    // The run after a full scan is incremental: the delete is not seen.
    w.sync().await;
    assert_eq!(w.airtable_rows().len(), 3);
    // The second run after it reads in full, without being asked to.
    let report = w.sync().await;
    assert_eq!(report.synced_items, 1, "{report:?}");
    assert!(!w.airtable_rows().contains_key("f1@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_against_a_delete_is_a_conflict() {
    let w = World::new("upddel", "target_wins").await;
    w.add_notion("Keep me", "k@example.com", "Todo", 1.0);
    w.sync().await;
    w.tick();
    w.notion.trash_page(&w.notion_id("k@example.com")).unwrap();
    w.airtable
        .update(
            &w.base,
            "Tasks",
            &w.airtable_id("k@example.com"),
            serde_json::json!({"Points": 5}),
        )
        .unwrap();
    let report = w.sync_with(true).await;
    assert_eq!(report.conflicts_detected, 1, "{report:?}");
    // The target's update wins: the record comes back on Notion.
    assert_eq!(w.notion_rows()["k@example.com"].2, 5.0);
    assert_eq!(w.notion_rows(), w.airtable_rows());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_budget_defers_the_run_as_queued() {
    let mut w = World::new("budget", "newest_wins").await;
    for i in 0..30 {
        w.add_notion(
            &format!("Task {i}"),
            &format!("b{i}@example.com"),
            "Todo",
            1.0,
        );
    }
    // Three requests a day for Airtable: the schema, one page, one write.
    w.job["target"]["connection"]["rate_limit"] =
        serde_json::json!({"per_second": 40.0, "burst": 10, "daily_budget": 3});
    let requests = w.airtable.request_count();
    let report = w.sync().await;
    assert_eq!(report.status, Status::Queued, "{report:?}");
    let written = report.details.as_ref().unwrap().target.written.clone();
    assert!(
        written.pending > 0,
        "what was not written waits: {written:?}"
    );
    assert!(
        w.airtable.request_count() - requests <= 3,
        "the budget is never exceeded"
    );
}

/// A side's write calls are kept in flight together, up to the job's
/// `write_concurrency`, each through its own instance of the connector; the
/// platform sees that many at once (each answer delayed by a proxy), and the
/// answers, taken in order, leave every record written once and linked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_calls_are_in_flight_together_up_to_write_concurrency() {
    use std::time::Duration;
    use synchost_sim::fault::{Fault, Rule};
    for concurrency in [1, 4] {
        let mut w = World::new(&format!("in-flight-{concurrency}"), "newest_wins").await;
        w.job["write_concurrency"] = serde_json::json!(concurrency);
        let proxy = w.proxy("target").await;
        let delay = Fault::Delay(Duration::from_millis(150));
        proxy.add(Rule::new(Some("POST"), "/Tasks", delay).times(1000));
        // 200 creates: four calls of the 50 the Airtable connector takes
        // (five requests of ten each).
        w.seed_notion("f", 0..200);
        let report = w.sync().await;
        assert_eq!(report.status, Status::Success, "{report:?}");
        assert_eq!(report.synced_items, 200);
        assert_eq!(
            proxy.peak_in_flight(),
            concurrency,
            "calls in flight at once"
        );
        let (notion, airtable) = (w.notion_rows(), w.airtable_rows());
        assert_eq!(airtable.len(), 200, "each record written once");
        assert_eq!(notion, airtable);
        assert_eq!(
            w.state()
                .pair_count(&format!("sync-in-flight-{concurrency}")),
            200
        );
        w.tick();
        assert_eq!(w.sync().await.synced_items, 0, "nothing left to write");
    }
}

/// Airtable's list offsets expire ("Iteration may timeout due to client
/// inactivity or server restarts. In that case, the client will receive a 422
/// response with error message LIST_RECORDS_ITERATOR_NOT_AVAILABLE", List
/// records, https://airtable.com/developers/web/api/list-records): the host
/// reads again from the first page, so the records of the pages before are
/// read twice. Each must still be planned, and written, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_restarted_when_its_cursor_expires_writes_each_record_once() {
    use std::sync::Arc;
    use synchost_sim::fault::{Fault, Rule};

    let mut w = World::new("restart", "newest_wins").await;
    let proxy = w.proxy("target").await;
    seed_airtable(&w);
    // Ten minutes pass before the second page is asked for: the simulator
    // keeps an offset five minutes after its last use (`offset_ttl`).
    let airtable = w.airtable.clone();
    proxy.add(Rule::new(
        Some("GET"),
        "offset=",
        Fault::Before(Arc::new(move || {
            airtable.clock().advance(chrono::Duration::minutes(10));
        })),
    ));
    let report = w.sync().await;
    assert_eq!(proxy.fired().len(), 1, "the offset expired once");
    assert_eq!(report.status, Status::Success, "{report:?}");
    let details = report.details.as_ref().unwrap();
    assert!(
        details.target.pages >= 4,
        "the first page was read again: {} pages",
        details.target.pages
    );
    assert_eq!(details.target.records_read, 250, "each record counted once");
    assert_eq!(report.synced_items, 250, "each record created once");
    let notion = w.notion_rows();
    assert_eq!(notion.len(), 250);
    assert_eq!(notion, w.airtable_rows());
    assert_eq!(w.sync_with(true).await.synced_items, 0);
}

/// 250 records in Airtable.
fn seed_airtable(w: &World) {
    for i in 0..250 {
        w.add_airtable(
            &format!("Air {i}"),
            &format!("a{i}@example.com"),
            "Todo",
            i as f64,
        );
    }
}

/// A pull from Airtable, behind a fault proxy, into Notion, with 250
/// records in Airtable.
async fn airtable_pull(tag: &str) -> (World, synchost_sim::fault::FaultProxy) {
    let mut w = World::new(tag, "source_wins").await;
    let proxy = w.proxy("target").await;
    let (notion, airtable) = (w.job["source"].take(), w.job["target"].take());
    w.job["source"] = airtable;
    w.job["target"] = notion;
    w.job["mode"] = serde_json::json!("pull");
    seed_airtable(&w);
    (w, proxy)
}

/// A pull writes the target while the source is still being read. When the
/// source's scan restarts (Airtable's offset expired, as above), the records
/// of its first page come again while their first writes may be in flight:
/// each must still be created once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_writing_while_its_source_scan_restarts_creates_each_record_once() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use synchost_sim::fault::{Fault, Rule};

    let (mut w, proxy) = airtable_pull("restart-pull").await;
    // A batch takes the first page and half of it read again: both copies
    // of a record in one batch, or a copy planned while the first is written.
    w.batch = Some(150);
    let clock = w.airtable.clone();
    proxy.add(
        Rule::new(
            Some("GET"),
            "offset=",
            Fault::Before(Arc::new(move || {
                clock.clock().advance(chrono::Duration::minutes(10));
            })),
        )
        .times(1),
    );
    // Before the last page is read again, Notion holds records already:
    // the writes did not wait for the end of the read.
    let (notion, db) = (w.notion.clone(), w.db.clone());
    let overlapped = Arc::new(AtomicBool::new(false));
    let seen = overlapped.clone();
    proxy.add(
        Rule::new(
            Some("GET"),
            "offset=",
            Fault::Before(Arc::new(move || {
                let until = std::time::Instant::now() + Duration::from_secs(10);
                while std::time::Instant::now() < until {
                    if !notion.pages(&db).is_empty() {
                        seen.store(true, Ordering::SeqCst);
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })),
        )
        .skip(1)
        .times(1),
    );
    let report = w.sync().await;
    assert_eq!(proxy.fired().len(), 2, "{:?}", proxy.fired());
    assert_eq!(report.status, Status::Success, "{report:?}");
    assert!(
        overlapped.load(Ordering::SeqCst),
        "Notion was written only after the read of Airtable ended"
    );
    let details = report.details.as_ref().unwrap();
    assert!(details.source.pages >= 4, "{} pages", details.source.pages);
    assert_eq!(details.source.records_read, 250, "each record counted once");
    assert_eq!(report.synced_items, 250, "each record created once");
    assert_eq!(w.notion.pages(&w.db).len(), 250, "no record created twice");
    assert_eq!(w.notion_rows(), w.airtable_rows());
    assert_eq!(w.sync_with(true).await.synced_items, 0);
}

/// A pull that writes while it reads must end with each record as last
/// read. Here a record's edit is undone while the scan restarts: its first
/// copy carries the edit, its second holds again what the target has. The
/// first may already be written; the second must then be written after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_whose_restarted_scan_reads_an_edit_undone_ends_as_last_read() {
    use serde_json::json;
    use std::sync::Arc;
    use synchost_sim::fault::{Fault, Rule};

    let (mut w, proxy) = airtable_pull("undone-pull").await;
    // Airtable stamps each edit: unmapped, an edit undone reads as before.
    w.job["mapping"] = json!({"exclude": ["Last Modified"]});
    assert_eq!(w.sync().await.synced_items, 250);
    // The first record created is on the first page. Its edit is undone
    // at the time it was last synced: the version (Airtable's "Last
    // Modified") reads as before too, as a platform with coarse or no
    // timestamps would show it.
    let id = w.airtable_id("a0@example.com");
    let synced_at = w
        .airtable
        .records(&w.base, "Tasks")
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .and_then(|r| r["fields"]["Last Modified"].as_str().map(str::to_string))
        .unwrap();
    let synced_at = chrono::DateTime::parse_from_rfc3339(&synced_at).unwrap();
    w.airtable
        .update(&w.base, "Tasks", &id, json!({"Points": 1000.0}))
        .unwrap();
    let (airtable, base) = (w.airtable.clone(), w.base.clone());
    proxy.add(Rule::new(
        Some("GET"),
        "offset=",
        Fault::Before(Arc::new(move || {
            let clock = airtable.clock();
            let since = clock.now().signed_duration_since(synced_at);
            clock.advance(-since);
            airtable
                .update(&base, "Tasks", &id, json!({"Points": 0.0}))
                .unwrap();
            clock.advance(since + chrono::Duration::minutes(10));
        })),
    ));
    // Notion (the target) is read through before Airtable is: the run
    // writes while it reads.
    proxy.add(
        Rule::new(
            Some("GET"),
            "offset=",
            Fault::Delay(std::time::Duration::from_millis(500)),
        )
        .skip(1),
    );
    let report = w.sync_with(true).await;
    assert_eq!(proxy.fired().len(), 2, "{:?}", proxy.fired());
    assert_eq!(report.status, Status::Success, "{report:?}");
    assert_eq!(w.notion_rows()["a0@example.com"].2, 0.0, "{report:?}");
    assert_eq!(w.notion_rows(), w.airtable_rows());
    assert_eq!(w.sync_with(true).await.synced_items, 0);
}
