//! Random edit sequences on both sides, syncs in between, then a final sync:
//! both sides hold the same records under the mapping, and every conflict
//! on the way was decided by the job's policy.

mod common;

use common::World;
use proptest::prelude::*;
use synchost::core::merge::{Policy, Side};

#[derive(Debug, Clone)]
enum Step {
    EditNotion { row: usize, points: u8, name: bool },
    EditAirtable { row: usize, points: u8, name: bool },
    AddNotion,
    AddAirtable,
    DeleteNotion(usize),
    DeleteAirtable(usize),
    Sync,
    Tick,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..8usize, 0..5u8, any::<bool>()).prop_map(|(row, points, name)| Step::EditNotion { row, points, name }),
        3 => (0..8usize, 0..5u8, any::<bool>()).prop_map(|(row, points, name)| Step::EditAirtable { row, points, name }),
        1 => Just(Step::AddNotion),
        1 => Just(Step::AddAirtable),
        1 => (0..8usize).prop_map(Step::DeleteNotion),
        1 => (0..8usize).prop_map(Step::DeleteAirtable),
        2 => Just(Step::Sync),
        2 => Just(Step::Tick),
    ]
}

fn policy() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("source_wins"),
        Just("target_wins"),
        Just("newest_wins")
    ]
}

fn check_decisions(report: &synchost::sync::Report, policy: &str) {
    for c in &report.details.as_ref().unwrap().conflicts {
        let expected = match policy {
            "source_wins" => (Policy::SourceWins, Some(Side::Source)),
            "target_wins" => (Policy::TargetWins, Some(Side::Target)),
            _ => (Policy::NewestWins, c.winner),
        };
        assert_eq!((c.policy, c.winner), expected, "conflict {c:?}");
        assert!(c.winner.is_some(), "an automatic policy always decides");
    }
}

fn edit_notion(w: &World, email: &str, points: u8, name: bool) {
    let mut props = serde_json::json!({"Points": {"number": points}});
    if name {
        props["Name"] =
            serde_json::json!({"title": [{"text": {"content": format!("n-{points}")}}]});
    }
    w.notion.update_page(&w.notion_id(email), props).unwrap();
}

async fn scenario(policy: &str, batch: Option<usize>, steps: Vec<Step>) {
    let mut w = World::new("prop", policy).await;
    // A few records a batch: a run of a dozen records is then planned and
    // written in several, each planned while the one before is written.
    w.batch = batch;
    let mut next = 0;
    for i in 0..3 {
        w.add_notion(&format!("N{i}"), &format!("n{i}@x.test"), "Todo", 0.0);
        w.add_airtable(&format!("A{i}"), &format!("a{i}@x.test"), "Todo", 0.0);
    }
    check_decisions(&w.sync().await, policy);
    for step in steps {
        let notion: Vec<String> = w.notion_rows().into_keys().collect();
        let airtable: Vec<String> = w.airtable_rows().into_keys().collect();
        match step {
            Step::EditNotion { row, points, name } if !notion.is_empty() => {
                edit_notion(&w, &notion[row % notion.len()], points, name);
            }
            Step::EditAirtable { row, points, name } if !airtable.is_empty() => {
                let email = &airtable[row % airtable.len()];
                let mut fields = serde_json::json!({"Points": points});
                if name {
                    fields["Name"] = serde_json::json!(format!("a-{points}"));
                }
                w.airtable
                    .update(&w.base, "Tasks", &w.airtable_id(email), fields)
                    .unwrap();
            }
            Step::AddNotion => {
                next += 1;
                w.add_notion(
                    &format!("New {next}"),
                    &format!("new{next}@x.test"),
                    "Doing",
                    1.0,
                );
            }
            Step::AddAirtable => {
                next += 1;
                w.add_airtable(
                    &format!("New {next}"),
                    &format!("new{next}@x.test"),
                    "Done",
                    2.0,
                );
            }
            Step::DeleteNotion(row) if !notion.is_empty() => w
                .notion
                .trash_page(&w.notion_id(&notion[row % notion.len()]))
                .unwrap(),
            Step::DeleteAirtable(row) if !airtable.is_empty() => w
                .airtable
                .delete(
                    &w.base,
                    "Tasks",
                    &w.airtable_id(&airtable[row % airtable.len()]),
                )
                .unwrap(),
            Step::Sync => check_decisions(&w.sync().await, policy),
            Step::Tick => w.tick(),
            _ => {}
        }
    }
    // A full scan settles deletes; the second run must find nothing left to do.
    w.tick();
    check_decisions(&w.sync_with(true).await, policy);
    w.tick();
    let last = w.sync_with(true).await;
    assert_eq!(
        last.synced_items, 0,
        "a settled pair of sides needs no writes: {last:?}"
    );
    assert_eq!(w.notion_rows(), w.airtable_rows());
}

fn source_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..8usize, 0..5u8, any::<bool>()).prop_map(|(row, points, name)| Step::EditNotion { row, points, name }),
        2 => Just(Step::AddNotion),
        1 => (0..8usize).prop_map(Step::DeleteNotion),
        2 => Just(Step::Sync),
        2 => Just(Step::Tick),
    ]
}

/// A pull run: Airtable is only written, so no conflict can arise, and no
/// record is written there twice.
async fn pulled(w: &World, full: bool) {
    let report = w.sync_with(full).await;
    assert_eq!(report.conflicts_detected, 0, "{report:?}");
    let records = w.airtable.records(&w.base, "Tasks").len();
    assert_eq!(records, w.airtable_rows().len(), "a record written twice");
}

/// A pull (which writes Airtable while it reads Notion, when Airtable is read
/// first) with edits, adds and deletes on Notion between runs: Airtable ends
/// holding what Notion holds.
async fn pull_scenario(batch: Option<usize>, steps: Vec<Step>) {
    let mut w = World::new("prop-pull", "source_wins").await;
    w.job["mode"] = serde_json::json!("pull");
    w.batch = batch;
    let mut next = 0;
    for i in 0..5 {
        w.add_notion(&format!("N{i}"), &format!("n{i}@x.test"), "Todo", 0.0);
    }
    pulled(&w, false).await;
    for step in steps {
        let notion: Vec<String> = w.notion_rows().into_keys().collect();
        match step {
            Step::EditNotion { row, points, name } if !notion.is_empty() => {
                edit_notion(&w, &notion[row % notion.len()], points, name);
            }
            Step::AddNotion => {
                next += 1;
                let email = format!("new{next}@x.test");
                w.add_notion(&format!("New {next}"), &email, "Doing", 1.0);
            }
            Step::DeleteNotion(row) if !notion.is_empty() => w
                .notion
                .trash_page(&w.notion_id(&notion[row % notion.len()]))
                .unwrap(),
            Step::Sync => pulled(&w, false).await,
            Step::Tick => w.tick(),
            _ => {}
        }
    }
    w.tick();
    pulled(&w, true).await;
    assert_eq!(w.notion_rows(), w.airtable_rows());
    w.tick();
    let last = w.sync_with(true).await;
    assert_eq!(last.synced_items, 0, "{last:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn random_edits_on_the_source_of_a_pull_reach_the_target(batch in proptest::option::of(1..4usize), steps in proptest::collection::vec(source_step(), 1..10)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(pull_scenario(batch, steps));
    }

    #[test]
    fn random_edits_on_both_sides_converge(policy in policy(), batch in proptest::option::of(1..4usize), steps in proptest::collection::vec(step(), 1..10)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(scenario(policy, batch, steps));
    }
}
