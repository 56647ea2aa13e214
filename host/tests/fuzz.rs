//! Fuzzing the job parser, as an attacker or a careless user would feed it:
//! a complete job with one field (any field, at any depth) replaced by an
//! arbitrary JSON value or an arbitrary string, and whole arbitrary documents.
//! Nothing may panic; every refusal names the field at fault.
//!
//! The case count is bounded for CI (`PROPTEST_CASES` raises it for a longer
//! campaign: `PROPTEST_CASES=200000 cargo test -p synchost --test fuzz`).

use proptest::prelude::*;
use serde_json::Value;
use synchost::job::{Job, JobError, Schedule};

const EXAMPLE: &str = include_str!("../../docs/jobs/notion-airtable.json");

/// Every JSON path of `value` (objects and arrays included), root first.
fn paths(value: &Value, here: Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(here.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let mut next = here.clone();
                next.push(PathStep::Key(k.clone()));
                paths(v, next, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut next = here.clone();
                next.push(PathStep::Index(i));
                paths(v, next, out);
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn replace(root: &mut Value, path: &[PathStep], with: Value) {
    let mut at = root;
    for step in path {
        at = match step {
            PathStep::Key(k) => &mut at[k.as_str()],
            PathStep::Index(i) => &mut at[*i],
        };
    }
    *at = with;
}

fn all_paths() -> Vec<Vec<PathStep>> {
    let example: Value = serde_json::from_str(EXAMPLE).unwrap();
    let mut out = Vec::new();
    paths(&example, Vec::new(), &mut out);
    out
}

/// Strings an attacker tries first, beside arbitrary ones.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9*/,\\- A-Z?LW#@]{0,40}",
        Just("0 0 * * 1-2-3".to_string()),
        Just("0 0 * * 0-0-0".to_string()),
        Just("* * * * 5-".to_string()),
        Just("* * * * -/".to_string()),
        Just("every_99999999999999999999_minutes".to_string()),
        Just("env:../../etc/passwd".to_string()),
        Just("\u{0}\u{202e}".to_string()),
        "[a-z_]{0,12}".prop_map(|s| format!("every_{s}")),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(1e300)),
        Just(Value::from(-1.0)),
        nasty_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(nasty_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A refusal must say which field: every single error names one (or is
/// about the document's shape, which has no field).
fn assert_names_a_field(err: &JobError, job: &Value) {
    for e in err.errors() {
        match e {
            JobError::Invalid { field, .. }
            | JobError::Unknown { field, .. }
            | JobError::Missing { field, .. } => {
                let _ = field;
            }
            other => panic!("an error without a field: {other} for {job}"),
        }
    }
    assert!(!err.to_string().is_empty());
}

/// A job that parsed must also be usable without panics: its schedule asked
/// for the next run, its runnable check made.
fn exercise(job: &Job) {
    let _ = job.ensure_runnable();
    let now = chrono::Utc::now();
    let _ = job.schedule.next_after(now);
    let _ = job.schedule.to_string();
    let _ = serde_json::to_value(job);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_field_replaced_by_anything_never_panics(
        pick in any::<prop::sample::Index>(),
        with in any_json(),
    ) {
        let all = all_paths();
        let path = &all[pick.index(all.len())];
        let mut job: Value = serde_json::from_str(EXAMPLE).unwrap();
        replace(&mut job, path, with);
        match Job::from_value(job.clone()) {
            Ok(parsed) => exercise(&parsed),
            Err(e) => assert_names_a_field(&e, &job),
        }
    }

    #[test]
    fn any_string_in_any_field_never_panics(
        pick in any::<prop::sample::Index>(),
        with in nasty_string(),
    ) {
        let all = all_paths();
        let path = &all[pick.index(all.len())];
        let mut job: Value = serde_json::from_str(EXAMPLE).unwrap();
        replace(&mut job, path, Value::from(with));
        match Job::from_value(job.clone()) {
            Ok(parsed) => exercise(&parsed),
            Err(e) => assert_names_a_field(&e, &job),
        }
    }

    #[test]
    fn any_document_never_panics(doc in any_json()) {
        if let Ok(job) = Job::from_value(doc) {
            exercise(&job);
        }
    }

    #[test]
    fn any_text_never_panics(text in any::<String>()) {
        if let Ok(job) = Job::parse(&text) {
            exercise(&job);
        }
    }

    #[test]
    fn any_schedule_never_panics(text in nasty_string()) {
        if let Ok(s) = Schedule::parse(&text) {
            let _ = s.next_after(chrono::Utc::now());
            let again = Schedule::parse(&s.to_string());
            prop_assert!(again.is_ok(), "{text:?} parsed, its canonical form {s} did not");
        }
    }
}

/// The inputs the review found, pinned.
#[test]
fn day_of_week_ranges_with_several_dashes_are_refused_not_a_panic() {
    for expr in [
        "0 0 * * 1-2-3",
        "0 0 * * 0-0-0",
        "0 0 * * 1-",
        "0 0 * * -1",
        "0 0 * * 1--2",
    ] {
        let err = Schedule::parse(expr).unwrap_err();
        assert!(err.reason.contains("day of week"), "{expr}: {err}");
        let job = serde_json::json!({
            "sync_id": "s", "mode": "pull", "schedule": expr,
            "source": {"platform": "A", "connector": "a", "entity": "e"},
            "target": {"platform": "B", "connector": "b", "entity": "e"},
        });
        let err = Job::from_value(job).unwrap_err();
        assert_eq!(err.field(), Some("schedule"), "{err}");
    }
}

/// Through the CLI, as a user meets it: every refused job exits 2 and names
/// the field, whatever was put in it.
#[test]
fn the_cli_exits_2_naming_the_field() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let cases: &[(&str, Value)] = &[
        ("schedule", Value::from("0 0 * * 1-2-3")),
        ("mode", Value::from("\u{0}sideways")),
        ("page_size", Value::from(u64::MAX)),
        ("priority", Value::from(vec![1, 2])),
        ("conflict", Value::from("explode")),
        ("match_key", Value::from(12)),
    ];
    for (field, value) in cases {
        let mut job: Value = serde_json::from_str(EXAMPLE).unwrap();
        job[*field] = value.clone();
        let path = dir.join(format!("{field}.json"));
        std::fs::write(&path, job.to_string()).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_synchost"))
            .args(["job", "check"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{field}: {stderr}");
        assert!(stderr.contains(&format!("`{field}")), "{field}: {stderr}");
    }
}
