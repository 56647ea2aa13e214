use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::raw::SPEC_EXAMPLES;
use super::*;

fn parse(v: Value) -> Result<Job, JobError> {
    Job::parse(&v.to_string())
}

fn err(v: Value) -> JobError {
    parse(v).expect_err("the job was accepted")
}

/// Every message of an error, `Several` flattened.
fn messages(e: &JobError) -> Vec<String> {
    e.errors().iter().map(|e| e.to_string()).collect()
}

fn base() -> Value {
    serde_json::from_str(SPEC_EXAMPLES[1]).unwrap()
}

fn with(key: &str, value: Value) -> Value {
    let mut v = base();
    v[key] = value;
    v
}

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

#[test]
fn first_spec_shape() {
    let job = Job::parse(SPEC_EXAMPLES[0]).unwrap();
    assert_eq!(job.sync_id, "pf-456-notion-taskstable");
    assert_eq!(job.project_id.as_deref(), Some("pf-456"));
    assert_eq!(job.mode, Mode::Bidirectional);
    assert_eq!(job.schedule, Schedule::Every(Duration::from_secs(15 * 60)));
    assert_eq!(job.source.platform, "Notion");
    assert_eq!(job.source.entity, None);
    assert_eq!(job.target.entity.as_deref(), Some("TasksTable"));
    assert_eq!(job.target.platform, "");
    assert_eq!(job.priority, Priority::Normal);
    assert_eq!(job.conflict, ConflictSpec::default());
    assert_eq!(job.conflict.policy, Policy::NewestWins);
    assert_eq!(job.mapping, MappingSpec::default());
    assert_eq!(job.match_key, None);
    assert_eq!(job.page_size, 100);
}

#[test]
fn second_spec_shape() {
    let job = Job::parse(SPEC_EXAMPLES[1]).unwrap();
    assert_eq!(job.sync_id, "sync_7744");
    assert_eq!(job.project_id.as_deref(), Some("pf-701"));
    assert_eq!(job.mode, Mode::Bidirectional);
    assert_eq!(job.schedule.to_string(), "every_hour");
    assert_eq!(job.source.platform, "Notion");
    assert_eq!(job.target.entity.as_deref(), Some("TasksTable"));
}

#[test]
fn schedule_words_and_cron() {
    for (text, canonical) in [
        ("every_15_minutes", "every_15_minutes"),
        ("every_hour", "every_hour"),
        ("hourly", "every_hour"),
        ("daily", "daily"),
        ("every_5_minutes", "every_5_minutes"),
        ("every_1440_minutes", "daily"),
        ("every_3_hours", "every_3_hours"),
        ("manual", "manual"),
        ("*/5 * * * *", "*/5 * * * *"),
        ("0 */5 * * * *", "0 */5 * * * *"),
    ] {
        let job = parse(with("schedule", json!(text))).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(job.schedule.to_string(), canonical);
    }
    let mut v = base();
    v.as_object_mut().unwrap().remove("schedule");
    assert!(parse(v).unwrap().schedule.is_manual());
}

#[test]
fn bad_cron_names_field_value_and_what_is_accepted() {
    let e = err(with("schedule", json!("61 * * * *")));
    let text = e.to_string();
    assert!(
        text.starts_with("job field `schedule`: got \"61 * * * *\", expected one of manual,"),
        "{text}"
    );
    assert!(text.contains("every_N_minutes"), "{text}");
    assert!(
        text.contains("(not a valid cron expression: Minutes must be"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
    let e = err(with("schedule", json!("every_2_weeks")));
    assert!(e.to_string().contains("`weeks` is not a unit"), "{e}");
    let e = err(with("schedule", json!(15)));
    assert!(e
        .to_string()
        .starts_with("job field `schedule`: got 15, expected one of manual"));
}

#[test]
fn bad_mode() {
    let e = err(with("mode", json!("sideways")));
    assert_eq!(
        e.to_string(),
        "job field `mode`: got \"sideways\", expected one of pull, push, bidirectional"
    );
    for (mode, expected) in [("pull", Mode::Pull), ("PUSH", Mode::Push)] {
        assert_eq!(parse(with("mode", json!(mode))).unwrap().mode, expected);
    }
    let e = err(with("sync_type", json!("pull")));
    assert_eq!(e.field(), Some("sync_type"), "{e}");
    assert!(e
        .to_string()
        .contains("the same as `mode` (\"bidirectional\")"));
    let mut v = base();
    v.as_object_mut().unwrap().remove("mode");
    let e = err(v);
    assert_eq!(e.field(), Some("mode"));
    assert!(e.to_string().contains("missing"), "{e}");
}

#[test]
fn unknown_fields_are_named() {
    let e = err(with("sheduel", json!("daily")));
    assert_eq!(e.field(), Some("sheduel"));
    assert!(e.to_string().contains("did you mean `schedule`?"), "{e}");
    let mut v = base();
    v["source"] = json!({"platform": "Notion", "databse": "x"});
    let e = err(v);
    assert_eq!(e.field(), Some("source.databse"), "{e}");
    let mut v = base();
    v["source"] = json!({"platform": "Notion", "connection": {"setting": {}}});
    let e = err(v);
    assert_eq!(e.field(), Some("source.connection.setting"), "{e}");
    assert!(e.to_string().contains("did you mean `settings`?"), "{e}");
    let e = err(with("mapping", json!({"same_name": false})));
    assert_eq!(e.field(), Some("mapping.same_name"), "{e}");
    assert!(e.to_string().contains("did you mean `same_names`?"), "{e}");
}

#[test]
fn nested_values_are_located() {
    let mut v = base();
    v["source"] = json!({"platform": "Notion", "connection": {
        "settings": {"database.tasks": 42},
        "secrets": {"notion_token": "secret_abc123"},
        "limits": {"memory": 1},
        "rate_limit": {"per_second": 0, "burst": 1}
    }});
    v["mapping"] = json!({"fields": [{"source": "A"}, {"source": "B", "dir": "both"}]});
    let e = err(v);
    let fields: Vec<_> = e.errors().iter().map(|e| e.field().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "source.connection.settings.database.tasks",
            "source.connection.secrets.notion_token",
            "source.connection.limits.memory",
            "source.connection.rate_limit.per_second",
            "mapping.fields[1]",
        ],
        "{e}"
    );
    let text = e.to_string();
    assert!(
        !text.contains("secret_abc123"),
        "a secret was shown: {text}"
    );
    assert!(text.contains("env:VARIABLE or file:KEY"), "{text}");
}

#[test]
fn several_errors_at_once() {
    let e = err(json!({"mode": "sideways", "schedule": "never", "page_size": 0, "extra": 1}));
    let all = messages(&e);
    let fields: Vec<_> = e.errors().iter().map(|e| e.field().unwrap()).collect();
    assert_eq!(
        fields,
        ["extra", "mode", "source", "target", "schedule", "page_size"],
        "{all:#?}"
    );
    assert!(
        e.to_string().starts_with("6 problems with the job:\n  - "),
        "{e}"
    );
}

#[test]
fn malformed_json_has_a_position() {
    let e = Job::parse("{\n  \"mode\": \"pull\",\n  \"source\": }").unwrap_err();
    let JobError::Syntax { line, column, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*line, *column), (3, 13));
    assert!(e.to_string().contains("at line 3, column 13"), "{e}");
    let e = Job::parse("[1]").unwrap_err();
    assert_eq!(
        e.to_string(),
        "job field `(job)`: got [1], expected a JSON object"
    );
}

#[test]
fn ensure_runnable_says_what_to_add() {
    let job = Job::parse(SPEC_EXAMPLES[1]).unwrap();
    let e = job.ensure_runnable().unwrap_err();
    let fields: Vec<_> = e.errors().iter().map(|e| e.field().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "source.connector",
            "source.entity",
            "target.platform",
            "target.connector"
        ]
    );
    let all = messages(&e);
    assert_eq!(
        all[1],
        "job field `source.entity`: missing — which Notion database? add \"source\": \
         {\"platform\": \"Notion\", \"connector\": \"notion\", \"entity\": \"tasks\", \"connection\": {...}}"
    );
    assert!(
        all[2].contains("which platform holds TasksTable?"),
        "{}",
        all[2]
    );
    assert!(all[2].contains("\"entity\": \"TasksTable\""), "{}", all[2]);

    let mut v = base();
    v["source"] = json!({"platform": "Notion", "connector": "notion", "entity": "tasks"});
    v["target"] = json!({"connector": "airtable", "entity": "tasks"});
    let job = parse(v).unwrap();
    assert_eq!(job.target.platform, "airtable");
    job.ensure_runnable().unwrap();
}

#[test]
fn aliases_fill_or_must_agree() {
    let v = json!({"mode": "pull", "source_platform": "Notion", "target_platform": "Airtable",
                   "target_entity": "tasks", "target": {"connector": "./airtable.wasm"}});
    let job = parse(v).unwrap();
    assert_eq!(job.target.platform, "Airtable");
    assert_eq!(job.target.entity.as_deref(), Some("tasks"));
    assert_eq!(job.target.connector.as_deref(), Some("./airtable.wasm"));
    let v =
        json!({"mode": "pull", "source": "Notion", "source_platform": "HubSpot", "target": "T"});
    assert_eq!(err(v).field(), Some("source_platform"));
}

#[test]
fn match_key_both_forms() {
    let job = parse(with("match_key", json!("email"))).unwrap();
    assert_eq!(job.match_key, Some(MatchKey::same("email")));
    let job = parse(with(
        "match_key",
        json!({"source": "Email", "target": "email"}),
    ))
    .unwrap();
    let key = job.match_key.unwrap();
    assert_eq!(
        (key.source.as_str(), key.target.as_str()),
        ("Email", "email")
    );
    assert_eq!(
        err(with("match_key", json!({"source": "Email"}))).field(),
        Some("match_key.target")
    );
    assert_eq!(err(with("match_key", json!(""))).field(), Some("match_key"));
    assert_eq!(
        err(with(
            "match_key",
            json!({"source": "a", "target": "b", "x": 1})
        ))
        .field(),
        Some("match_key.x")
    );
}

#[test]
fn conflict_policy_per_job_and_per_field() {
    let job = parse(with("conflict", json!("source_wins"))).unwrap();
    assert_eq!(job.conflict.policy, Policy::SourceWins);
    let job = parse(with(
        "conflict",
        json!({"policy": "target_wins", "fields": {"Status": "manual", "Due": "newest_wins"}}),
    ))
    .unwrap();
    assert_eq!(job.conflict.policy_for("Status"), Policy::Manual);
    assert_eq!(job.conflict.policy_for("Due"), Policy::NewestWins);
    assert_eq!(job.conflict.policy_for("Name"), Policy::TargetWins);
    let job = parse(with("conflict", json!({"fields": {"Status": "manual"}}))).unwrap();
    assert_eq!(job.conflict.policy, Policy::NewestWins);
    let e = err(with(
        "conflict",
        json!({"fields": {"Status": "loudest_wins"}}),
    ));
    assert_eq!(
        e.to_string(),
        "job field `conflict.fields.Status`: got \"loudest_wins\", expected one of \
         source_wins, target_wins, newest_wins, manual"
    );
}

#[test]
fn priority_names_only() {
    assert_eq!(
        parse(with("priority", json!("critical"))).unwrap().priority,
        Priority::Critical
    );
    assert_eq!(err(with("priority", json!(3))).field(), Some("priority"));
    assert!(Priority::Low < Priority::Normal && Priority::High < Priority::Critical);
}

/// A whole-number field: each of `good` is taken as given, each of `bad`
/// is refused naming the field, with `expected` as the reason.
fn whole_number_bounds(
    field: &str,
    value: fn(&Job) -> u32,
    good: [u32; 3],
    bad: [Value; 5],
    expected: &str,
) {
    for n in good {
        assert_eq!(value(&parse(with(field, json!(n))).unwrap()), n);
    }
    for bad in bad {
        let e = err(with(field, bad.clone()));
        assert_eq!(e.field(), Some(field), "{bad}");
        assert!(e.to_string().ends_with(expected), "{e}");
    }
}

#[test]
fn page_size_bounds() {
    whole_number_bounds(
        "page_size",
        |job| job.page_size,
        [1, 100, 1000],
        [json!(0), json!(1001), json!(-1), json!(1.5), json!("100")],
        "expected a whole number from 1 to 1000",
    );
}

#[test]
fn write_concurrency_bounds() {
    assert_eq!(parse(base()).unwrap().write_concurrency, 4);
    whole_number_bounds(
        "write_concurrency",
        |job| job.write_concurrency,
        [1, 4, 16],
        [json!(0), json!(17), json!(-1), json!(1.5), json!("4")],
        "expected a whole number of calls from 1 to 16",
    );
}

#[test]
fn full_scan_every_bounds() {
    assert_eq!(parse(base()).unwrap().full_scan_every, 24);
    whole_number_bounds(
        "full_scan_every",
        |job| job.full_scan_every,
        [1, 24, 10_000],
        [json!(0), json!(10_001), json!(-3), json!(2.5), json!("24")],
        "expected a whole number of runs from 1 to 10000",
    );
}

#[test]
fn sync_id_is_checked_or_derived() {
    assert_eq!(
        err(with("sync_id", json!("has space"))).field(),
        Some("sync_id")
    );
    let v = json!({"mode": "pull", "source": "Notion", "target": "Tasks Table!"});
    assert_eq!(parse(v).unwrap().sync_id, "notion-tasks-table");
}

#[test]
fn a_job_survives_a_round_trip() {
    for path in example_files() {
        let job = Job::from_file(&path).unwrap();
        let written = serde_json::to_value(&job).unwrap();
        let again = Job::from_value(written.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(serde_json::to_value(&again).unwrap(), written);
    }
}

fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(docs().join("jobs"))
        .expect("docs/jobs")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files
}

#[test]
fn every_example_in_docs_parses() {
    let mut runnable = 0;
    for path in example_files() {
        let job = Job::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        runnable += job.ensure_runnable().is_ok() as usize;
    }
    assert!(runnable >= 1);
    let full = Job::from_file(docs().join("jobs/notion-airtable.json")).unwrap();
    full.ensure_runnable().unwrap();
    assert_eq!(full.match_key.as_ref().unwrap().target, "email");
    assert_eq!(full.conflict.policy_for("Status"), Policy::TargetWins);
    assert_eq!(
        full.source.connection.secrets["notion_token"],
        "env:NOTION_TOKEN"
    );
    // the spec's shapes are there verbatim
    for (i, name) in ["spec-sync-type.json", "spec-mode.json"].iter().enumerate() {
        let text = std::fs::read_to_string(docs().join("jobs").join(name)).unwrap();
        assert_eq!(text.trim(), SPEC_EXAMPLES[i]);
    }
    let e = Job::from_file(docs().join("jobs/absent.json")).unwrap_err();
    assert!(matches!(e, JobError::Read { .. }), "{e}");
}

#[test]
fn schema_covers_every_accepted_field() {
    let schema = json_schema();
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "sync_type",
        "source_platform",
        "target_entity",
        "mode",
        "mapping",
        "conflict",
    ] {
        assert!(props.contains_key(key), "{key}");
    }
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(schema["examples"].as_array().unwrap().len(), 2);
    let text = schema.to_string();
    for needle in [
        "allowed_hosts",
        "per_second",
        "call_timeout",
        "newest_wins",
        "critical",
    ] {
        assert!(text.contains(needle), "{needle} missing from the schema");
    }
}

/// `docs/job.schema.json` is generated; this keeps it from drifting.
#[test]
fn published_schema_is_current() {
    let path = docs().join("job.schema.json");
    let generated = json_schema();
    if std::env::var_os("SYNCHOST_WRITE_SCHEMA").is_some() {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let committed: Option<Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    assert!(
        committed.as_ref() == Some(&generated),
        "{} is not the schema generated from the job types; regenerate it with\n  \
         SYNCHOST_WRITE_SCHEMA=1 cargo test -p synchost --lib job",
        path.display()
    );
}
