//! The state in PostgreSQL from the command line (issue 13): a data
//! folder's state moved with `synchost state migrate` (checked by counts and
//! hashes), the job going on from it incrementally, and a run on a shared
//! state claiming its job as a daemon does.

mod common;

use common::{synchost, World};
use synchost::state::testing::ScratchDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_moved_to_postgres_goes_on_where_it_was() {
    let mut w = World::new("state-migrate", "newest_wins").await;
    w.seed_notion("m", 0..12);
    w.state.take();
    let db = ScratchDatabase::new("state_migrate");
    let job = w.job_file();
    let (data, connectors) = (w.dir.clone(), common::connectors());
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            job.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--connectors",
            connectors.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = synchost(&args);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    assert_eq!(run(&[])["synced_items"], 12);

    let (code, out, err) = synchost(&[
        "state",
        "migrate",
        "--from",
        data.to_str().unwrap(),
        "--to",
        &db.url,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("every tree's count and hash match"), "{out}");
    for tree in ["links", "shadows", "checkpoints", "runs"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(tree) && l.ends_with("ok")),
            "{tree}: {out}"
        );
    }
    // Once only: the database holds a state now.
    let (code, _, err) = synchost(&[
        "state",
        "migrate",
        "--from",
        data.to_str().unwrap(),
        "--to",
        &db.url,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("already holds a state"), "{err}");

    // From PostgreSQL, the job goes on: nothing to do, then one new record.
    let again = run(&["--state", &db.url]);
    assert_eq!(again["synced_items"], 0, "{again}");
    w.add_notion("New", "new@example.com", "Todo", 1.0);
    assert_eq!(run(&["--state", &db.url])["synced_items"], 1);
    assert_eq!(w.airtable_rows().len(), 13, "nothing duplicated");
    assert_eq!(w.notion_rows(), w.airtable_rows());
    let (code, out, err) = synchost(&[
        "runs",
        "--data",
        data.to_str().unwrap(),
        "--state",
        &db.url,
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    // One JSON line per run.
    assert_eq!(out.lines().count(), 3, "{out}");
}

/// A folder that holds no state, and a target that is not PostgreSQL, are
/// refused saying so.
#[test]
fn state_migrate_names_what_is_wrong() {
    let empty = std::env::temp_dir().join(format!("synchost-no-state-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = synchost(&[
        "state",
        "migrate",
        "--from",
        empty.to_str().unwrap(),
        "--to",
        "postgres://x@127.0.0.1/y",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("holds no synchost state"), "{err}");
    let (code, _, err) = synchost(&[
        "state",
        "migrate",
        "--from",
        empty.to_str().unwrap(),
        "--to",
        "/tmp/elsewhere",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("must be a PostgreSQL URL"), "{err}");
    std::fs::remove_dir_all(&empty).ok();
}

/// `synchost run` on a shared state claims its job as a daemon would: a job
/// a daemon holds is not run a second time beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_a_shared_state_waits_for_no_daemon_but_never_runs_beside_one() {
    let mut w = World::new("state-claimed", "newest_wins").await;
    w.seed_notion("c", 0..2);
    w.state.take();
    let db = ScratchDatabase::new("state_claimed");
    let scratch = w.dir.join("scratch");
    let state = synchost::state::State::open_postgres(&db.url, &scratch).unwrap();
    let id = w.job["sync_id"].as_str().unwrap().to_string();
    let ttl = std::time::Duration::from_secs(60);
    let alone = synchost::state::leases::Slots::NONE;
    assert!(state.claim(&id, "daemon-x", ttl, alone).unwrap());
    let (job, connectors) = (w.job_file(), common::connectors());
    let args = [
        "run",
        job.to_str().unwrap(),
        "--data",
        w.dir.to_str().unwrap(),
        "--connectors",
        connectors.to_str().unwrap(),
        "--state",
        &db.url,
    ];
    let (code, _, err) = synchost(&args);
    assert_ne!(code, 0);
    assert!(
        err.contains("is running on a daemon that shares this state"),
        "{err}"
    );
    assert!(w.airtable_rows().is_empty(), "nothing ran");
    state.release(&id, "daemon-x").unwrap();
    let (code, _, err) = synchost(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(w.airtable_rows().len(), 2);
    assert!(
        state.leases().unwrap().is_empty(),
        "the run let its claim go"
    );
}
