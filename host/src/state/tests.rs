//! The state's test suite, run on each store (the embedded one and
//! PostgreSQL: every test here that is not about one store's own layout
//! runs on both, through [`each`]). A PostgreSQL state gets a database of
//! its own on the server the project's machines run (see
//! [`super::testing`]).

use proptest::prelude::*;

use super::store::{StoreExt, Tree};
use super::testing::ScratchDatabase;
use super::*;
use crate::core::value::Fields;

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "synchost-state-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Embedded,
    Postgres,
}

const KINDS: [Kind; 2] = [Kind::Embedded, Kind::Postgres];

/// A new, empty state of one kind; its folder or database goes with it.
struct Fresh {
    kind: Kind,
    state: Option<State>,
    dir: std::path::PathBuf,
    db: Option<ScratchDatabase>,
}

impl Fresh {
    fn new(kind: Kind, name: &str) -> Fresh {
        let dir = temp(&format!("{name}-{kind:?}"));
        let db = (kind == Kind::Postgres).then(|| ScratchDatabase::new(name));
        let mut fresh = Fresh {
            kind,
            state: None,
            dir,
            db,
        };
        fresh.reopen();
        fresh
    }

    /// Opens the state again, as a restarted process does.
    fn reopen(&mut self) -> &State {
        self.state = None;
        self.state = Some(self.open().expect("the state opens"));
        self.state.as_ref().unwrap()
    }

    fn open(&self) -> Result<State> {
        match &self.db {
            Some(db) => State::open_postgres(&db.url, &self.dir.join("scratch")),
            None => State::open(&self.dir),
        }
    }

    fn close(&mut self) {
        self.state = None;
    }
}

impl std::ops::Deref for Fresh {
    type Target = State;
    fn deref(&self) -> &State {
        self.state.as_ref().expect("the state is open")
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        self.state = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `test` on a fresh state of each kind.
fn each(name: &str, test: impl Fn(&mut Fresh)) {
    for kind in KINDS {
        let mut fresh = Fresh::new(kind, name);
        test(&mut fresh);
    }
}

fn shadow(target_id: &str) -> Shadow {
    Shadow {
        target_id: target_id.into(),
        source: Fields::new(),
        target: Fields::new(),
        source_hash: "s".into(),
        target_hash: "t".into(),
        synced_at: "2026-12-06T00:00:00Z".into(),
        source_version: None,
        target_version: None,
    }
}

/// Every link and shadow of `job`, as the state answers them.
fn view(state: &State, job: &str, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        for side in [Side::Source, Side::Target] {
            if let Some(other) = state.linked(job, side, id).unwrap() {
                out.push(format!("{} {id} -> {other}", side.as_str()));
            }
        }
        if let Some(s) = state.shadow(job, id).unwrap() {
            out.push(format!("shadow {id} -> {}", s.target_id));
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Op {
    Link(String, String),
    Forget(String, String),
}

fn commits<'a>(ops: &'a [Op], shadows: &'a [Shadow]) -> Vec<PairCommit<'a>> {
    ops.iter()
        .zip(shadows)
        .map(|(op, shadow)| match op {
            Op::Link(s, t) => PairCommit::Link {
                source_id: s,
                target_id: t,
                shadow: shadow.as_ref(),
            },
            Op::Forget(s, t) => PairCommit::Forget {
                source_id: s,
                target_id: t,
            },
        })
        .collect()
}

fn op() -> impl Strategy<Value = Op> {
    let id = || prop::sample::select(vec!["a", "b", "c", "d"]).prop_map(String::from);
    prop_oneof![
        4 => (id(), id()).prop_map(|(s, t)| Op::Link(s, t)),
        1 => (id(), id()).prop_map(|(s, t)| Op::Forget(s, t)),
    ]
}

/// A call's pairs committed in one batch leave the links and shadows that
/// committing them one at a time leaves, re-links and all (a batch reads
/// the links as its own earlier pairs changed them).
#[test]
fn one_batch_is_the_pairs_one_by_one() {
    for kind in KINDS {
        let one_by_one = Fresh::new(kind, "one");
        let batched = Fresh::new(kind, "batch");
        let case = std::cell::Cell::new(0);
        let ids: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
        let calls = (
            prop::collection::vec(op(), 0..6),
            prop::collection::vec(op(), 1..8),
        );
        runner
            .run(&calls, |(before, call)| {
                // Each case its own job, in one state of each kind.
                case.set(case.get() + 1);
                let job = format!("j{}", case.get());
                let all: Vec<Op> = before.iter().chain(&call).cloned().collect();
                let shadows: Vec<Shadow> = all
                    .iter()
                    .map(|o| match o {
                        Op::Link(_, t) | Op::Forget(_, t) => shadow(t),
                    })
                    .collect();
                for c in commits(&all, &shadows) {
                    one_by_one.commit_pairs(&job, &[c], &[], &[]).unwrap();
                }
                for c in commits(&before, &shadows) {
                    batched.commit_pairs(&job, &[c], &[], &[]).unwrap();
                }
                batched
                    .commit_pairs(&job, &commits(&call, &shadows[before.len()..]), &[], &[])
                    .unwrap();
                prop_assert_eq!(view(&one_by_one, &job, &ids), view(&batched, &job, &ids));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    }
}

#[test]
fn a_commit_takes_its_outbox_entries_dirty_marks_and_settled_conflicts_with_it() {
    each("commit", |state| {
        let entry = OutboxEntry {
            side: Side::Target,
            op: OutboxOp::Create,
            pair: "s1".into(),
            planned_at: "2026-12-06T00:00:00Z".into(),
            planned: None,
        };
        let keys = state
            .outbox_put("j", &[entry.as_ref(), entry.as_ref()])
            .unwrap();
        state
            .put_dirty(
                "j",
                &Dirty {
                    source_id: Some("s1".into()),
                    target_id: None,
                    source: None,
                    target: None,
                    source_observed: None,
                    target_observed: None,
                    reason: "refused".into(),
                    since: "2026-12-06T00:00:00Z".into(),
                },
            )
            .unwrap();
        let conflict = ParkedConflict {
            id: "c1".into(),
            job: "j".into(),
            source_id: "s1".into(),
            target_id: "t1".into(),
            base_source: Fields::new(),
            base_target: Fields::new(),
            source: None,
            target: None,
            fields: Vec::new(),
            parked_at: "2026-12-06T00:00:00Z".into(),
            resolution: None,
        };
        state.put_conflict(&conflict).unwrap();
        let s = shadow("t1");
        state
            .commit_pairs(
                "j",
                &[PairCommit::Link {
                    source_id: "s1",
                    target_id: "t1",
                    shadow: s.as_ref(),
                }],
                &keys[..1],
                &["c1".into()],
            )
            .unwrap();
        assert_eq!(
            state.outbox("j").unwrap().len(),
            1,
            "only the confirmed entry goes"
        );
        assert!(state.dirty("j").unwrap().is_empty());
        assert!(state.conflict("c1").unwrap().is_none());
        assert_eq!(state.pairs("j").count(), 1);
        assert_eq!(state.pair_count("j"), 1);
    });
}

/// A state folder from before the pairs' store: links, shadows, outbox and
/// conflicts in sled's trees. Opening it moves them, once.
#[test]
fn a_state_kept_all_in_sled_is_moved_at_open() {
    let dir = temp("migrate");
    {
        let db = sled::open(&dir).unwrap();
        let links = db.open_tree("links").unwrap();
        links.insert(key(&["j", "source", "s1"]), "t1").unwrap();
        links.insert(key(&["j", "target", "t1"]), "s1").unwrap();
        db.open_tree("shadows")
            .unwrap()
            .insert(key(&["j", "s1"]), compact::encode(shadow("t1").as_ref()))
            .unwrap();
        db.open_tree("conflicts")
            .unwrap()
            .insert(
                "c1",
                serde_json::to_vec(&serde_json::json!({
                    "id": "c1", "job": "j", "source_id": "s1", "target_id": "t1",
                    "base_source": {}, "base_target": {}, "source": null, "target": null,
                    "fields": [], "parked_at": "2026-12-06T00:00:00Z", "resolution": null
                }))
                .unwrap(),
            )
            .unwrap();
        db.open_tree("checkpoints")
            .unwrap()
            .insert(
                key(&["j", "source"]),
                br#"{"since":"x","full_scan_at":null,"runs_since_full_scan":0}"#.to_vec(),
            )
            .unwrap();
        db.flush().unwrap();
    }
    for _ in 0..2 {
        let state = State::open(&dir).unwrap();
        assert_eq!(
            state.linked("j", Side::Source, "s1").unwrap().as_deref(),
            Some("t1")
        );
        assert_eq!(
            state.linked("j", Side::Target, "t1").unwrap().as_deref(),
            Some("s1")
        );
        assert_eq!(state.shadow("j", "s1").unwrap(), Some(shadow("t1")));
        assert_eq!(state.conflict("c1").unwrap().unwrap().target_id, "t1");
        // sled keeps what it held apart from the pairs
        assert!(state.checkpoint("j", Side::Source).unwrap().is_some());
        drop(state);
        let names: Vec<String> = sled::open(&dir)
            .unwrap()
            .tree_names()
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        assert!(!names.contains(&"links".to_string()), "{names:?}");
        assert!(!names.contains(&"conflicts".to_string()), "{names:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The borrowed form a sync writes reads back as the entry it mirrors.
#[test]
fn an_outbox_entry_written_borrowed_reads_back_whole() {
    each("borrowed", |state| {
        let mut fields = Fields::new();
        fields.insert("name".into(), crate::core::value::Value::Text("Ada".into()));
        let owned = OutboxEntry {
            side: Side::Source,
            op: OutboxOp::Update,
            pair: "s1".into(),
            planned_at: "2026-12-06T00:00:00Z".into(),
            planned: Some(PlannedPair {
                source_id: Some("s1".into()),
                target_id: None,
                source: fields.clone(),
                target: Fields::new(),
                writes_source: true,
                writes_target: false,
            }),
        };
        let borrowed = OutboxEntryRef {
            side: Side::Source,
            op: OutboxOp::Update,
            pair: "s1",
            planned_at: "2026-12-06T00:00:00Z",
            planned: Some(PlannedPairRef {
                source_id: Some("s1"),
                target_id: None,
                source: &fields,
                target: &Fields::new(),
                writes_source: true,
                writes_target: false,
            }),
        };
        assert_eq!(encode(&borrowed), encode(&owned));
        state.outbox_put("j", &[borrowed]).unwrap();
        assert_eq!(state.outbox("j").unwrap()[0].1, owned);
        // An entry an earlier version wrote as JSON (a run killed before an
        // upgrade) reads as it was, beside the compact one.
        state
            .store
            .put(
                Tree::Outbox,
                key(&["j", &format!("{:020}", u64::MAX)]),
                encode(&owned),
            )
            .unwrap();
        let both: Vec<OutboxEntry> = state
            .outbox("j")
            .unwrap()
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        assert_eq!(both, vec![owned.clone(), owned]);
    });
}

/// A state written by a newer synchost is refused, not misread; an older
/// one (no format kept) is brought to this format.
#[test]
fn a_state_of_a_newer_format_is_refused_and_an_older_one_migrated() {
    let dir = temp("format");
    drop(State::open(&dir).unwrap());
    let db = sled::open(&dir).unwrap();
    let meta = db.open_tree("meta").unwrap();
    assert_eq!(
        meta.get(b"format").unwrap().as_deref(),
        Some(&migrations::FORMAT.to_be_bytes()[..])
    );
    // Before formats were kept: none, and every step runs.
    meta.remove(b"format").unwrap();
    db.flush().unwrap();
    drop((meta, db));
    drop(State::open(&dir).unwrap());
    let db = sled::open(&dir).unwrap();
    let meta = db.open_tree("meta").unwrap();
    assert!(meta.get(b"format").unwrap().is_some());
    meta.insert(b"format", &(migrations::FORMAT + 1).to_be_bytes())
        .unwrap();
    db.flush().unwrap();
    drop((meta, db));
    let refused = State::open(&dir).err().expect("refused").to_string();
    assert!(
        refused.contains("written by a newer synchost")
            && refused.contains(&format!("format {}", migrations::FORMAT + 1)),
        "{refused}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The format number in `meta` is the same on both stores: a newer one is
/// refused on each.
#[test]
fn a_state_of_a_newer_format_is_refused_on_either_store() {
    each("newer", |state| {
        state
            .store
            .put_durable(
                Tree::Meta,
                b"format".to_vec(),
                (migrations::FORMAT + 1).to_be_bytes(),
            )
            .unwrap();
        state.close();
        let refused = state.open().err().expect("refused").to_string();
        assert!(
            refused.contains("written by a newer synchost")
                && refused.contains(&format!("format {}", migrations::FORMAT + 1)),
            "{:?}: {refused}",
            state.kind
        );
    });
}

/// PostgreSQL's schema is versioned apart from the state's format: a
/// database set up by a newer synchost is refused before anything is read.
#[test]
fn a_postgres_schema_of_a_newer_version_is_refused() {
    let db = ScratchDatabase::new("schema");
    let scratch = temp("schema");
    drop(State::open_postgres(&db.url, &scratch).unwrap());
    // Opening again changes nothing (each step ran once).
    drop(State::open_postgres(&db.url, &scratch).unwrap());
    let bump = format!(
        "UPDATE synchost_schema SET version = {}",
        postgres::SCHEMA_VERSION + 1
    );
    super::testing::execute(&db.url, vec![bump]).unwrap();
    let refused = State::open_postgres(&db.url, &scratch)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        refused.contains(&format!("version {}", postgres::SCHEMA_VERSION + 1))
            && refused.contains("newer synchost"),
        "{refused}"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}

fn run(state: &State, job: &str, started_at: &str) -> u64 {
    let id = state.next_run_id().unwrap();
    state
        .put_run(&RunRecord {
            id,
            job: job.into(),
            started_at: started_at.into(),
            report: serde_json::json!({"status": "success"}),
        })
        .unwrap();
    id
}

#[test]
fn runs_are_found_by_id_and_by_job_and_pruned_by_age_and_count() {
    each("runs", |state| {
        assert_eq!(run(state, "a", "2026-01-01T00:00:00Z"), 1);
        assert_eq!(run(state, "b", "2026-01-02T00:00:00Z"), 2);
        for day in 3..=9 {
            run(state, "a", &format!("2026-01-0{day}T00:00:00Z"));
        }
        assert_eq!(state.run(2).unwrap().unwrap().job, "b");
        let ids = |runs: Vec<RunRecord>| runs.iter().map(|r| r.id).collect::<Vec<u64>>();
        assert_eq!(
            ids(state.runs_page(Some("a"), None, 3).unwrap()),
            [9, 8, 7],
            "newest first"
        );
        assert_eq!(
            ids(state.runs_page(Some("a"), Some(7), 3).unwrap()),
            [6, 5, 4],
            "the next page"
        );
        assert_eq!(state.runs_page(Some("a"), Some(1), 3).unwrap().len(), 0);
        assert_eq!(state.runs(2).unwrap()[0].id, 9);
        // Older than Jan 3rd: 1 and 2; beyond the 4 newest of job a: 5, 4, 3.
        let removed = state.prune_runs("2026-01-03T00:00:00Z", 4).unwrap();
        assert_eq!(removed, 5);
        assert_eq!(ids(state.runs(100).unwrap()), [9, 8, 7, 6]);
        assert!(state.runs_page(Some("b"), None, 10).unwrap().is_empty());
        assert_eq!(state.prune_job_runs("a", 2).unwrap(), 2);
        assert_eq!(ids(state.runs(100).unwrap()), [9, 8]);
        // Ids go on after a restart, one at a time.
        state.reopen();
        assert_eq!(state.next_run_id().unwrap(), 10);
    });
}

/// What every store must do alike: ranges both ways past a page of rows,
/// counts by prefix, a compare-and-swap that loses no increment to
/// concurrent writers, increasing ids, and a batch whose last change of a
/// key stands.
#[test]
fn each_store_keeps_the_same_contract() {
    each("contract", |state| {
        let store = state.store.clone();
        let mut batch = store::Batch::new();
        for i in 0..5000u32 {
            batch.put(
                Tree::Audit,
                format!("k{i:05}").into_bytes(),
                i.to_be_bytes(),
            );
        }
        batch.put(Tree::Audit, b"k00001".to_vec(), b"again".to_vec());
        batch.remove(Tree::Audit, b"k00002".to_vec());
        batch.put(Tree::Jobs, b"other".to_vec(), b"x".to_vec());
        store.apply(batch).unwrap();
        assert_eq!(
            store.get(Tree::Audit, b"k00001").unwrap().as_deref(),
            Some(&b"again"[..])
        );
        assert_eq!(store.get(Tree::Audit, b"k00002").unwrap(), None);
        assert_eq!(store.count(Tree::Audit, b"k0").unwrap(), 4999);
        assert_eq!(store.count(Tree::Audit, b"k001").unwrap(), 100);
        let keys = |range: store::Range, reverse: bool| -> Vec<String> {
            store
                .scan(Tree::Audit, range, reverse)
                .map(|e| String::from_utf8(e.unwrap().0).unwrap())
                .collect()
        };
        use std::ops::Bound::*;
        let forward = keys((Unbounded, Unbounded), false);
        assert_eq!(forward.len(), 4999);
        assert!(forward.windows(2).all(|w| w[0] < w[1]), "in key order");
        let backward = keys(
            (Excluded(b"k04000".to_vec()), Included(b"k04999".to_vec())),
            true,
        );
        assert_eq!(backward.len(), 999);
        assert_eq!(
            (backward[0].as_str(), backward[998].as_str()),
            ("k04999", "k04001")
        );
        assert_eq!(keys(store::prefix_range(b"k0100"), false).len(), 10);
        // A scan stopped early leaves the rest unread, and nothing leaks
        // from another tree.
        assert_eq!(store.scan_all(Tree::Jobs).count(), 1);
        // Four writers add 50 each to one counter.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        state.next_run_id().unwrap();
                    }
                });
            }
        });
        assert_eq!(state.next_run_id().unwrap(), 201);
        let (a, b) = (state.next_id().unwrap(), state.next_id().unwrap());
        assert!(b > a);
        state.ids_above(a + 1_000_000).unwrap();
        assert!(state.next_id().unwrap() > a + 1_000_000);
    });
}

/// The daemon's own entries: jobs changed in place, audit pages both ways
/// and pruning, notices, a plan waiting and accepted.
#[test]
fn jobs_audit_notices_and_plans_read_back_alike() {
    each("daemon", |state| {
        let job: StoredJob = serde_json::from_value(serde_json::json!({
            "sync_id": "j1", "spec": {}, "created_at": "2026-12-07T00:00:00Z",
            "next_run_at": null, "retry_at": null, "retries": 0, "last_status": null
        }))
        .unwrap_or_else(|e| panic!("a stored job: {e}"));
        state.put_job(&job).unwrap();
        let changed = state
            .update_job("j1", |j| j.created_at = "2026-12-07T01:00:00Z".into())
            .unwrap()
            .unwrap();
        assert_eq!(changed.created_at, "2026-12-07T01:00:00Z");
        assert!(state.update_job("nope", |_| {}).unwrap().is_none());
        assert_eq!(state.jobs().unwrap().len(), 1);
        for minute in 0..30 {
            state
                .audit(&AuditEntry {
                    at: format!("2026-12-07T00:{minute:02}:00Z"),
                    job: "j1".into(),
                    kind: "run".into(),
                    detail: serde_json::json!({ "minute": minute }),
                })
                .unwrap();
        }
        let page = state.audit_page("2026-12-07T00:10:00Z", None, 5).unwrap();
        assert_eq!(page.len(), 5);
        let next = state
            .audit_page("2026-12-07T00:10:00Z", Some(&page[4].0), 100)
            .unwrap();
        assert_eq!(next.len(), 15);
        let newest = state.audit_newest(None, 3, |_| true).unwrap();
        assert_eq!(newest[0].1.at, "2026-12-07T00:29:00Z");
        assert_eq!(state.prune_audit("2026-12-07T00:10:00Z", 12).unwrap(), 18);
        assert_eq!(state.audit_len(), 12);
        let id = state.put_notice(&serde_json::json!({"n": 1})).unwrap();
        assert_eq!(
            state.notices().unwrap(),
            vec![(id, serde_json::json!({"n": 1}))]
        );
        state.remove_notice(id).unwrap();
        assert!(state.notices().unwrap().is_empty());
        state
            .put_waiting_plan("j1", &serde_json::json!({"creates": 3}))
            .unwrap();
        assert!(state.waiting_plan("j1").unwrap().is_some());
        state.accept_plan("j1", "2026-12-07T02:00:00Z").unwrap();
        assert!(state.waiting_plan("j1").unwrap().is_none());
        assert_eq!(
            state.plan_accepted("j1").unwrap().as_deref(),
            Some("2026-12-07T02:00:00Z")
        );
        assert!(state.remove_job("j1").unwrap());
        assert!(!state.remove_job("j1").unwrap());
        // All of it outlives the process.
        state.reopen();
        assert_eq!(state.audit_len(), 12);
    });
}

/// What `synchost state migrate` relies on: a state's entries written into
/// another store read back the same, byte for byte.
#[test]
fn a_state_copied_entry_by_entry_holds_the_same() {
    let from = Fresh::new(Kind::Embedded, "copy-from");
    run(&from, "a", "2026-01-01T00:00:00Z");
    let s = shadow("t1");
    from.commit_pairs(
        "a",
        &[PairCommit::Link {
            source_id: "s1",
            target_id: "t1",
            shadow: s.as_ref(),
        }],
        &[],
        &[],
    )
    .unwrap();
    let to = Fresh::new(Kind::Postgres, "copy-to");
    let before = to.contents().unwrap();
    to.restore(from.contents().unwrap()).unwrap();
    assert_eq!(to.contents().unwrap(), from.contents().unwrap());
    assert!(before.len() < from.contents().unwrap().len());
    assert_eq!(to.next_run_id().unwrap(), 2);
}

/// Claims on one PostgreSQL state: one daemon at a time per job, taken over
/// once expired, and a platform's slots counted across daemons.
#[test]
fn a_job_is_claimed_by_one_daemon_at_a_time_and_taken_over_when_the_claim_expires() {
    use std::time::Duration;
    fn on(platforms: &[String], per_platform: usize, priority: i32) -> leases::Slots<'_> {
        leases::Slots {
            platforms,
            per_platform,
            priority,
        }
    }
    let fresh = Fresh::new(Kind::Postgres, "leases");
    let other = fresh.open().unwrap();
    let (ttl, notion) = (Duration::from_secs(30), vec!["Notion".to_string()]);
    assert!(fresh.is_shared() && !Fresh::new(Kind::Embedded, "alone").is_shared());
    assert!(fresh.claim("j1", "a", ttl, on(&notion, 2, 1)).unwrap());
    assert!(
        !other.claim("j1", "b", ttl, on(&notion, 2, 1)).unwrap(),
        "held by a"
    );
    assert!(
        fresh.claim("j1", "a", ttl, on(&notion, 2, 1)).unwrap(),
        "a holds it again"
    );
    assert_eq!(
        fresh.renew("a", &["j1".into(), "j9".into()], ttl).unwrap(),
        ["j1"]
    );
    // Slots: two on Notion, wherever claimed.
    assert!(other.claim("j2", "b", ttl, on(&notion, 2, 1)).unwrap());
    assert!(
        !other.claim("j3", "b", ttl, on(&notion, 2, 1)).unwrap(),
        "Notion is full"
    );
    assert!(other
        .claim("j3", "b", ttl, on(&["Airtable".to_string()], 2, 1))
        .unwrap());
    fresh.release("j1", "a").unwrap();
    assert!(
        other.claim("j4", "b", ttl, on(&notion, 2, 1)).unwrap(),
        "a slot was freed"
    );
    // A claim not renewed expires, and another daemon takes the job.
    assert!(fresh
        .claim("j5", "a", Duration::from_millis(200), on(&[], 2, 1))
        .unwrap());
    assert!(!other.claim("j5", "b", ttl, on(&[], 2, 1)).unwrap());
    std::thread::sleep(Duration::from_millis(300));
    assert!(other.claim("j5", "b", ttl, on(&[], 2, 1)).unwrap());
    assert!(
        fresh.renew("a", &["j5".into()], ttl).unwrap().is_empty(),
        "a lost it"
    );
    let leases = fresh.leases().unwrap();
    let held: Vec<(&str, &str, bool)> = leases
        .iter()
        .map(|l| (l.job.as_str(), l.daemon.as_str(), l.live))
        .collect();
    assert_eq!(
        held,
        [
            ("j2", "b", true),
            ("j3", "b", true),
            ("j4", "b", true),
            ("j5", "b", true)
        ]
    );
}
