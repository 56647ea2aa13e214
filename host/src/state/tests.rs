//! The pairs' store: one batch per write call means what one commit per
//! pair meant, and a state an earlier version kept all in sled still opens.

use proptest::prelude::*;

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A call's pairs committed in one batch leave the links and shadows
    /// that committing them one at a time leaves, re-links and all (a batch
    /// reads the links as its own earlier pairs changed them).
    #[test]
    fn one_batch_is_the_pairs_one_by_one(
        before in prop::collection::vec(op(), 0..6),
        call in prop::collection::vec(op(), 1..8),
    ) {
        let ids: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let one_by_one = State::open(&temp("one")).unwrap();
        let batched = State::open(&temp("batch")).unwrap();
        let all: Vec<Op> = before.iter().chain(&call).cloned().collect();
        let shadows: Vec<Shadow> = all.iter().map(|o| match o {
            Op::Link(_, t) | Op::Forget(_, t) => shadow(t),
        }).collect();
        for c in commits(&all, &shadows) {
            one_by_one.commit_pairs("j", &[c], &[], &[]).unwrap();
        }
        for c in commits(&before, &shadows) {
            batched.commit_pairs("j", &[c], &[], &[]).unwrap();
        }
        batched
            .commit_pairs("j", &commits(&call, &shadows[before.len()..]), &[], &[])
            .unwrap();
        prop_assert_eq!(view(&one_by_one, "j", &ids), view(&batched, "j", &ids));
        drop((one_by_one, batched));
        let _ = std::fs::remove_dir_all(temp("one"));
        let _ = std::fs::remove_dir_all(temp("batch"));
    }
}

#[test]
fn a_commit_takes_its_outbox_entries_dirty_marks_and_settled_conflicts_with_it() {
    let state = State::open(&temp("commit")).unwrap();
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
    drop(state);
    let _ = std::fs::remove_dir_all(temp("commit"));
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
        let names: Vec<String> = state
            .db
            .tree_names()
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        assert!(!names.contains(&"links".to_string()), "{names:?}");
        assert!(!names.contains(&"conflicts".to_string()), "{names:?}");
        // sled keeps what it held apart from the pairs
        assert!(state.checkpoint("j", Side::Source).unwrap().is_some());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The borrowed form a sync writes reads back as the entry it mirrors.
#[test]
fn an_outbox_entry_written_borrowed_reads_back_whole() {
    let state = State::open(&temp("borrowed")).unwrap();
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
        .lsm
        .outbox
        .insert(key(&["j", &format!("{:020}", u64::MAX)]), encode(&owned))
        .unwrap();
    let both: Vec<OutboxEntry> = state
        .outbox("j")
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(both, vec![owned.clone(), owned]);
    drop(state);
    let _ = std::fs::remove_dir_all(temp("borrowed"));
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
