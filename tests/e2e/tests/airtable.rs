//! The Airtable connector, built from source to wasm, against the Airtable
//! simulator with its rate limit on (5 requests/s per base, then 429 and a
//! penalty; 1 s here instead of Airtable's 30 s so the suite stays fast).

use std::time::Duration;

use serde_json::json;
use synchost::runtime::{
    ConnectorError, DeleteOp, Field, FieldValue, Rate, UpdateOp, WriteOp, Written,
};
use synchost_e2e::{assert_unique, bind_secret, build_connector, read_all, runtime, simulated};
use synchost_sim::airtable::{AirtableOptions, AirtableRateLimit, AirtableSim, BatchFailure};

const TOKEN: &str = "pat_e2e_airtable";

async fn seeded(n: usize) -> (AirtableSim, String) {
    let sim = AirtableSim::start(AirtableOptions {
        token: TOKEN.into(),
        rate_limit: Some(AirtableRateLimit {
            per_second: 5,
            penalty: Duration::from_secs(1),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sim.create_base();
    sim.create_table(
        &base,
        "Tasks",
        &[
            ("Name", "singleLineText"),
            ("Status", "singleSelect"),
            ("Points", "number"),
            ("Done", "checkbox"),
            ("Due", "date"),
            ("Last Modified", "lastModifiedTime"),
        ],
    );
    sim.set_choices(&base, "Tasks", "Status", &["Open", "Done"]);
    for i in 0..n {
        sim.insert(&base, "Tasks", json!({"Name": format!("Task {i}"), "Status": if i % 2 == 0 { "Open" } else { "Done" }, "Points": i})).unwrap();
    }
    (sim, base)
}

fn conn_for(sim: &AirtableSim, base: &str) -> synchost::runtime::Connection {
    let mut conn = simulated("https://api.airtable.com", &sim.base_url());
    conn.settings.insert("base_id".into(), base.into());
    conn.settings.insert("table.tasks".into(), "Tasks".into());
    bind_secret(&mut conn, "airtable_token", TOKEN);
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_page_of_1000_records_with_rate_limits_on() {
    let (sim, base) = seeded(1000).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-airtable"))
        .await
        .unwrap();
    let mut session = rt
        .session(&connector, &conn_for(&sim, &base))
        .await
        .unwrap();
    let (records, checkpoint) = read_all(&mut session, "tasks", None).await.unwrap();
    assert_eq!(
        assert_unique(&records),
        1000,
        "no record lost or duplicated"
    );
    assert!(checkpoint.is_some());
    assert!(
        records.iter().all(|r| r.updated_at.is_some()),
        "updated_at comes from the Last Modified field"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_penalty_after_429_is_waited_out_without_losing_a_page() {
    let (sim, base) = seeded(1000).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-airtable"))
        .await
        .unwrap();
    let mut conn = conn_for(&sim, &base);
    conn.rate_limit = Some(Rate {
        per_second: 50.0,
        burst: 50,
        daily_budget: None,
    });
    let mut session = rt.session(&connector, &conn).await.unwrap();
    let (records, _) = read_all(&mut session, "tasks", None).await.unwrap();
    assert_eq!(assert_unique(&records), 1000);
    assert!(
        sim.rate_limited_count() > 0,
        "the simulator should have throttled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_batches_of_ten_that_the_platform_shows() {
    let (sim, base) = seeded(30).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-airtable"))
        .await
        .unwrap();
    let mut session = rt
        .session(&connector, &conn_for(&sim, &base))
        .await
        .unwrap();
    let (before, _) = read_all(&mut session, "tasks", None).await.unwrap();

    let mut ops: Vec<WriteOp> = (0..25)
        .map(|i| {
            WriteOp::Create(vec![
                Field {
                    name: "Name".into(),
                    value: FieldValue::Text(format!("New {i}")),
                },
                Field {
                    name: "Status".into(),
                    value: FieldValue::Select("Blocked".into()),
                },
                Field {
                    name: "Done".into(),
                    value: FieldValue::Boolean(true),
                },
            ])
        })
        .collect();
    ops.extend(before[..12].iter().map(|r| {
        WriteOp::Update(UpdateOp {
            id: r.id.clone(),
            expected_version: None,
            fields: vec![Field {
                name: "Points".into(),
                value: FieldValue::Number(-1.0),
            }],
        })
    }));
    ops.extend(before[12..20].iter().map(|r| {
        WriteOp::Delete(DeleteOp {
            id: r.id.clone(),
            expected_version: None,
        })
    }));
    ops.push(WriteOp::Create(vec![Field {
        name: "Last Modified".into(),
        value: FieldValue::Text("x".into()),
    }]));
    let calls_before = session.calls().len();
    let results = session.write_results("tasks", &ops).await.unwrap();
    assert!(results[..45].iter().all(|r| r.is_ok()), "{results:?}");
    let bad = format!("{:?}", results[45]);
    assert!(
        bad.contains("Last Modified"),
        "a read-only field fails its op alone: {bad}"
    );
    // 25 creates in 3 requests, 12 updates in 2, 8 deletes in 1 (the schema
    // was fetched by the read before).
    let calls: Vec<String> = session.calls()[calls_before..]
        .iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    let count = |m: &str| calls.iter().filter(|c| c.starts_with(m)).count();
    assert_eq!(
        (count("POST"), count("PATCH"), count("DELETE"), count("GET")),
        (3, 2, 1, 0),
        "{calls:?}"
    );

    let rows = sim.records(&base, "Tasks");
    assert_eq!(rows.len(), 30 + 25 - 8);
    assert_eq!(
        rows.iter()
            .filter(|r| r["fields"]["Status"] == "Blocked")
            .count(),
        25
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r["fields"]["Points"].as_f64() == Some(-1.0))
            .count(),
        12
    );
    let deleted: Vec<_> = before[12..20].iter().map(|r| r.id.clone()).collect();
    assert!(rows
        .iter()
        .all(|r| !deleted.contains(&r["id"].as_str().unwrap().to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_read_returns_only_what_changed() {
    let (sim, base) = seeded(200).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-airtable"))
        .await
        .unwrap();
    let mut session = rt
        .session(&connector, &conn_for(&sim, &base))
        .await
        .unwrap();
    // The checkpoint is Airtable's time (its Date header, to the second) when
    // the read began: move past the second the records were seeded in.
    sim.clock().advance(chrono::Duration::seconds(5));
    let (all, checkpoint) = read_all(&mut session, "tasks", None).await.unwrap();
    sim.clock().advance(chrono::Duration::seconds(5));
    sim.update(&base, "Tasks", &all[3].id, json!({"Points": 333}))
        .unwrap();
    let (changed, next) = read_all(&mut session, "tasks", checkpoint.clone())
        .await
        .unwrap();
    assert_eq!(changed.len(), 1, "only the edited record: {changed:?}");
    assert_eq!(changed[0].id, all[3].id);
    assert_eq!(changed[0].get("Points"), Some(&FieldValue::Number(333.0)));
    assert!(next > checkpoint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_offset_is_reported_as_cursor_expired() {
    let (sim, base) = seeded(250).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-airtable"))
        .await
        .unwrap();
    let mut session = rt
        .session(&connector, &conn_for(&sim, &base))
        .await
        .unwrap();
    let req = synchost::runtime::ReadRequest {
        entity: "tasks".into(),
        cursor: None,
        since: None,
        page_size: 100,
    };
    let first = session.read(&req).await.unwrap();
    sim.clock().advance(chrono::Duration::minutes(10));
    let err = session
        .read(&synchost::runtime::ReadRequest {
            cursor: first.next_cursor,
            ..req
        })
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("not found") && text.contains("cursor expired"),
        "{text}"
    );
}

/// The readings of a refused batch the simulator can play: the docs do not
/// say whether the other records of a refused batch were written.
const READINGS: [BatchFailure; 3] = [
    BatchFailure::NothingWritten,
    BatchFailure::WrittenUntilRefused,
    BatchFailure::OthersWritten,
];

fn text(name: &str, value: &str) -> Field {
    Field {
        name: name.into(),
        value: FieldValue::Text(value.into()),
    }
}

fn delete(id: &str) -> WriteOp {
    WriteOp::Delete(DeleteOp {
        id: id.into(),
        expected_version: None,
    })
}

fn update(id: &str, fields: Vec<Field>) -> WriteOp {
    WriteOp::Update(UpdateOp {
        id: id.into(),
        expected_version: None,
        fields,
    })
}

fn ids_in(sim: &AirtableSim, base: &str) -> Vec<String> {
    sim.records(base, "Tasks")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_batch_holding_a_record_already_gone_deletes_the_others_and_says_so() {
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-airtable"))
        .await
        .unwrap();
    for reading in READINGS {
        let (sim, base) = seeded(5).await;
        sim.set_batch_failure(reading);
        let mut session = rt
            .session(&connector, &conn_for(&sim, &base))
            .await
            .unwrap();
        let ids = ids_in(&sim, &base);
        sim.delete(&base, "Tasks", &ids[1]).unwrap();

        let ops: Vec<WriteOp> = ids[..3].iter().map(|id| delete(id)).collect();
        let results = session.write_results("tasks", &ops).await.unwrap();
        let left = ids_in(&sim, &base);
        for (id, outcome) in ids[..3].iter().zip(&results) {
            // `not-found` counts as done for a delete: it must be true.
            let says_done = matches!(outcome, Ok(_) | Err(ConnectorError::NotFound(_)));
            assert!(
                says_done,
                "{reading:?}: the delete of {id} got {outcome:?}, each op its own outcome"
            );
            assert!(
                !left.contains(id),
                "{reading:?}: {id} is still there, yet its delete answered {outcome:?}: \
                 the host would record a delete that did not happen"
            );
        }
        assert_eq!(left, ids[3..], "{reading:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refused_value_does_not_block_the_other_writes_of_its_batch() {
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-airtable"))
        .await
        .unwrap();
    for reading in READINGS {
        let (sim, base) = seeded(3).await;
        sim.set_batch_failure(reading);
        // The table's records are older than the minute before a refusal
        // in which the connector looks for what a refused create wrote.
        sim.clock().advance(chrono::Duration::minutes(2));
        let mut session = rt
            .session(&connector, &conn_for(&sim, &base))
            .await
            .unwrap();
        let ids = ids_in(&sim, &base);
        // A date Airtable cannot read passes the connector's own checks
        // (typecast is Airtable's to do) and is refused by Airtable alone.
        let ops = vec![
            WriteOp::Create(vec![text("Name", "A")]),
            WriteOp::Create(vec![text("Name", "Bad"), text("Due", "soon")]),
            WriteOp::Create(vec![text("Name", "B")]),
            update(&ids[0], vec![text("Due", "soon")]),
            update(
                &ids[1],
                vec![Field {
                    name: "Points".into(),
                    value: FieldValue::Number(77.0),
                }],
            ),
        ];
        let results = session.write_results("tasks", &ops).await.unwrap();
        let rows = sim.records(&base, "Tasks");
        let named = |n: &str| rows.iter().filter(|r| r["fields"]["Name"] == n).count();
        assert_eq!(named("Bad"), 0, "{reading:?}");
        // Alone, the bad create is refused; beside creates that may have
        // landed, its outcome is unknown like theirs.
        assert!(
            match (&results[1], reading) {
                (Err(ConnectorError::InvalidInput(_)), _) => true,
                (Err(ConnectorError::Transient(_)), r) => r != BatchFailure::NothingWritten,
                _ => false,
            },
            "{reading:?}: the refused create got {:?}",
            results[1]
        );
        for (i, name) in [(0, "A"), (2, "B")] {
            assert!(named(name) <= 1, "{reading:?}: {name} was created twice");
            match &results[i] {
                Ok(Written { id, .. }) => assert!(
                    rows.iter()
                        .any(|r| r["id"] == id.as_str() && r["fields"]["Name"] == name),
                    "{reading:?}: create {name} was confirmed as {id}, which does not hold it"
                ),
                // Some readings leave the platform holding records the
                // connector cannot tell apart from others': unknown.
                Err(ConnectorError::Transient(_)) if reading != BatchFailure::NothingWritten => {}
                other => {
                    panic!("{reading:?}: create {name} got {other:?}, for the sake of another op")
                }
            }
        }
        assert!(
            matches!(results[3], Err(ConnectorError::InvalidInput(_))),
            "{reading:?}: the refused update got {:?}",
            results[3]
        );
        assert!(
            results[4].is_ok(),
            "{reading:?}: the good update got {:?}",
            results[4]
        );
        let row = rows.iter().find(|r| r["id"] == ids[1].as_str()).unwrap();
        assert_eq!(row["fields"]["Points"].as_f64(), Some(77.0), "{reading:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_read_of_a_run_refreshes_the_webhook_named_in_the_settings() {
    let (sim, base) = seeded(3).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-airtable"))
        .await
        .unwrap();
    let (hook, _) = sim.register_webhook(&base, Some("https://example.com/hooks/job"));
    let mut conn = conn_for(&sim, &base);
    conn.settings.insert("webhook_id".into(), hook.clone());
    let week = chrono::Duration::days(7);
    let expires_in = |sim: &AirtableSim| {
        let (at, enabled) = sim.webhook_expiration(&hook).expect("the webhook exists");
        assert!(enabled, "the webhook expired");
        at - sim.clock().now()
    };

    // Six days on, one day of life left: the run's first read renews it.
    sim.clock().advance(chrono::Duration::days(6));
    let mut session = rt.session(&connector, &conn).await.unwrap();
    read_all(&mut session, "tasks", None).await.unwrap();
    assert!(
        (expires_in(&sim) - week).num_seconds().abs() <= 2,
        "the webhook was not refreshed: it expires in {}",
        expires_in(&sim)
    );
    // Later reads of the same run do not refresh it again.
    sim.clock().advance(chrono::Duration::days(1));
    read_all(&mut session, "tasks", None).await.unwrap();
    assert!(
        (expires_in(&sim) - chrono::Duration::days(6))
            .num_seconds()
            .abs()
            <= 2
    );
    // The next run does.
    let mut next = rt.session(&connector, &conn).await.unwrap();
    read_all(&mut next, "tasks", None).await.unwrap();
    assert!((expires_in(&sim) - week).num_seconds().abs() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_can_no_longer_be_refreshed_does_not_stop_the_read() {
    let (sim, base) = seeded(3).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-airtable"))
        .await
        .unwrap();
    let (hook, _) = sim.register_webhook(&base, None);
    sim.clock().advance(chrono::Duration::days(8));
    let mut conn = conn_for(&sim, &base);
    conn.settings.insert("webhook_id".into(), hook.clone());
    let mut session = rt.session(&connector, &conn).await.unwrap();
    let (records, _) = read_all(&mut session, "tasks", None).await.unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(sim.webhook_expiration(&hook).map(|(_, on)| on), Some(false));
}
