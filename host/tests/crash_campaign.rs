//! The crash campaign (issue 9): two-way syncs of the `synchost` process
//! killed with SIGKILL at seeded random moments, with people editing both
//! sides between runs, checked against a model of what must be true at the
//! end: nothing lost, nothing duplicated, nothing deleted brought back.
//!
//! The model holds because every record has one owner side that alone edits
//! and deletes it (the side it was created on), so its final state does not
//! depend on which run got how far before it was killed.
//! `CRASH_CAMPAIGN_KILLS=N` (default 32) and `CRASH_CAMPAIGN_SEED=S` vary it.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::World;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

type Row = (String, String, f64);

#[derive(Clone, Copy, PartialEq, Debug)]
enum Owner {
    Notion,
    Airtable,
}

struct Model {
    /// email -> owner and the row, or `None` once the owner deleted it
    rows: BTreeMap<String, (Owner, Option<Row>)>,
    next: usize,
}

impl Model {
    fn live(&self) -> BTreeMap<String, Row> {
        self.rows
            .iter()
            .filter_map(|(k, (_, row))| row.clone().map(|r| (k.clone(), r)))
            .collect()
    }
}

/// The `synchost run` process for the world's job, started.
fn spawn(w: &World) -> std::process::Child {
    spawn_with(w, &[])
}

fn spawn_with(w: &World, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_synchost"))
        .arg("run")
        .arg(w.job_file())
        .arg("--data")
        .arg(&w.dir)
        .arg("--connectors")
        .arg(common::connectors())
        .args(args)
        .env(
            "SYNCHOST_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sync-cache"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The record of `email` on its owner's platform, if it is there.
fn owner_id(w: &World, owner: Owner, email: &str) -> Option<String> {
    match owner {
        Owner::Notion => w
            .notion
            .pages(&w.db)
            .into_iter()
            .find(|p| p["properties"]["Email"]["email"] == email && p["in_trash"] != true)
            .and_then(|p| p["id"].as_str().map(String::from)),
        Owner::Airtable => w
            .airtable
            .records(&w.base, "Tasks")
            .into_iter()
            .find(|r| r["fields"]["Email"] == email)
            .and_then(|r| r["id"].as_str().map(String::from)),
    }
}

/// People at work: new records on both sides, edits and deletes by owners.
fn edit(w: &World, model: &mut Model, rng: &mut StdRng) {
    w.tick();
    for _ in 0..rng.random_range(1..4) {
        let owner = if rng.random_bool(0.5) {
            Owner::Notion
        } else {
            Owner::Airtable
        };
        let email = format!("c{}@example.com", model.next);
        let row: Row = (
            format!("Task {}", model.next),
            "Todo".into(),
            model.next as f64,
        );
        model.next += 1;
        match owner {
            Owner::Notion => {
                w.add_notion(&row.0, &email, &row.1, row.2);
            }
            Owner::Airtable => {
                w.add_airtable(&row.0, &email, &row.1, row.2);
            }
        }
        model.rows.insert(email, (owner, Some(row)));
    }
    let live: Vec<String> = model
        .rows
        .iter()
        .filter(|(_, (_, r))| r.is_some())
        .map(|(k, _)| k.clone())
        .collect();
    for _ in 0..rng.random_range(0..4) {
        let email = &live[rng.random_range(0..live.len())];
        let (owner, row) = model.rows.get_mut(email).unwrap();
        let Some(id) = owner_id(w, *owner, email) else {
            continue;
        };
        let Some(r) = row.as_mut() else { continue };
        if rng.random_bool(0.2) {
            match owner {
                Owner::Notion => w.notion.trash_page(&id).unwrap(),
                Owner::Airtable => w.airtable.delete(&w.base, "Tasks", &id).unwrap(),
            }
            *row = None;
            continue;
        }
        let points = rng.random_range(0..1000) as f64;
        match owner {
            Owner::Notion => w
                .notion
                .update_page(&id, json!({"Points": {"number": points}}))
                .unwrap(),
            Owner::Airtable => w
                .airtable
                .update(&w.base, "Tasks", &id, json!({"Points": points}))
                .unwrap(),
        }
        r.2 = points;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_nothing_is_lost_duplicated_or_resurrected() {
    let kills: usize = std::env::var("CRASH_CAMPAIGN_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let seed: u64 = std::env::var("CRASH_CAMPAIGN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = World::new("campaign", "newest_wins").await;
    // No match key: only the host's own bookkeeping stands between a
    // killed run and a duplicate.
    w.job.as_object_mut().unwrap().remove("match_key");
    w.state.take();
    let mut model = Model {
        rows: BTreeMap::new(),
        next: 0,
    };
    for _ in 0..6 {
        edit(&w, &mut model, &mut rng);
    }
    // Kills fall anywhere within a run: the span is how long the last run
    // that was not killed took.
    let mut span = 200u64;
    let (mut killed, mut runs) = (0, 0);
    while killed < kills {
        runs += 1;
        assert!(
            runs < kills * 6,
            "only {killed} of {runs} runs were killed mid-way"
        );
        edit(&w, &mut model, &mut rng);
        let started = std::time::Instant::now();
        let mut child = spawn(&w);
        std::thread::sleep(Duration::from_millis(rng.random_range(0..span)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        } else {
            span = (started.elapsed().as_millis() as u64).max(20);
        }
        child.wait().unwrap();
    }
    // Then the runs finish undisturbed, one of them a full scan (how hard
    // deletes on Airtable and trashed Notion pages are seen).
    for _ in 0..4 {
        assert!(spawn(&w).wait().unwrap().success());
    }
    assert!(spawn_with(&w, &["--full"]).wait().unwrap().success());
    assert!(spawn(&w).wait().unwrap().success());
    let expected = model.live();
    let (notion, airtable) = (w.notion_rows(), w.airtable_rows());
    let lost: Vec<&String> = expected
        .keys()
        .filter(|k| !notion.contains_key(*k) || !airtable.contains_key(*k))
        .collect();
    let resurrected: Vec<&String> = notion
        .keys()
        .chain(airtable.keys())
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert!(resurrected.is_empty(), "resurrected: {resurrected:?}");
    assert_eq!(notion, expected, "Notion against the model (seed {seed})");
    assert_eq!(
        airtable, expected,
        "Airtable against the model (seed {seed})"
    );
}
