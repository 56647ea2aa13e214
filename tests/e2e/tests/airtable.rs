//! The Airtable connector, built from source to wasm, against the Airtable
//! simulator with its rate limit on (5 requests/s per base, then 429 and a
//! penalty; 1 s here instead of Airtable's 30 s so the suite stays fast).

use std::time::Duration;

use serde_json::json;
use synchost::runtime::{DeleteOp, Field, FieldValue, Rate, UpdateOp, WriteOp};
use synchost_e2e::{assert_unique, bind_secret, build_connector, read_all, runtime, simulated};
use synchost_sim::airtable::{AirtableOptions, AirtableRateLimit, AirtableSim};

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
    let results = session.write("tasks", &ops).await.unwrap();
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
