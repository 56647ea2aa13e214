//! The Notion connector, built from source to wasm, against the Notion simulator
//! with its rate limit on (an average of 3 requests/s, then 429 + Retry-After).

use serde_json::json;
use synchost::runtime::{DeleteOp, Field, FieldValue, Rate, UpdateOp, WriteOp};
use synchost_e2e::{assert_unique, bind_secret, build_connector, read_all, runtime, simulated};
use synchost_sim::notion::{NotionOptions, NotionSim};

const TOKEN: &str = "secret_e2e_notion";

async fn seeded(n: usize) -> (NotionSim, String) {
    let sim = NotionSim::start(NotionOptions {
        token: TOKEN.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let db = sim.create_database(
        "Tasks",
        &[
            ("Name", "title"),
            ("Status", "select"),
            ("Points", "number"),
            ("Done", "checkbox"),
        ],
    );
    for i in 0..n {
        sim.insert_page(
            &db,
            json!({
                "Name": {"title": [{"text": {"content": format!("Task {i}")}}]},
                "Status": {"select": {"name": if i % 2 == 0 { "Open" } else { "Done" }}},
                "Points": {"number": i},
            }),
        )
        .unwrap();
    }
    (sim, db)
}

fn conn_for(sim: &NotionSim, db: &str) -> synchost::runtime::Connection {
    let mut conn = simulated("https://api.notion.com", &sim.base_url());
    conn.settings.insert("database.tasks".into(), db.into());
    bind_secret(&mut conn, "notion_token", TOKEN);
    conn
}

fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_page_of_1000_records_with_rate_limits_on() {
    let (sim, db) = seeded(1000).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-notion"))
        .await
        .unwrap();
    let mut session = rt.session(&connector, &conn_for(&sim, &db)).await.unwrap();
    let (records, checkpoint) = read_all(&mut session, "tasks", None).await.unwrap();
    assert_eq!(
        assert_unique(&records),
        1000,
        "no record lost or duplicated"
    );
    assert!(checkpoint.is_some());
    let names: std::collections::BTreeSet<_> = records.iter().map(|r| r.get_text("Name")).collect();
    assert_eq!(names.len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_eager_rate_is_corrected_by_429_and_retry_after() {
    let (sim, db) = seeded(1000).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-notion"))
        .await
        .unwrap();
    let mut conn = conn_for(&sim, &db);
    // The job overrides the connector's hint with far more than Notion allows,
    // and asks for small pages: the simulator answers 429 and the host waits.
    conn.rate_limit = Some(Rate {
        per_second: 100.0,
        burst: 100,
        daily_budget: None,
    });
    let mut session = rt.session(&connector, &conn).await.unwrap();
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let req = synchost::runtime::ReadRequest {
            entity: "tasks".into(),
            cursor: cursor.take(),
            since: None,
            page_size: 25,
        };
        let page = session.read(&req).await.unwrap();
        records.extend(page.records);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(assert_unique(&records), 1000);
    assert!(
        sim.rate_limited_count() > 0,
        "the simulator should have throttled"
    );
    assert!(rt.rate_limiter().stats().throttled > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_creates_updates_and_deletes_that_the_platform_shows() {
    let (sim, db) = seeded(5).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-notion"))
        .await
        .unwrap();
    let mut session = rt.session(&connector, &conn_for(&sim, &db)).await.unwrap();
    let (before, _) = read_all(&mut session, "tasks", None).await.unwrap();
    let (first, second) = (before[0].id.clone(), before[1].id.clone());

    let ops = vec![
        WriteOp::Create(vec![
            Field {
                name: "Name".into(),
                value: text("Written by synchost"),
            },
            Field {
                name: "Status".into(),
                value: FieldValue::Select("Blocked".into()),
            },
            Field {
                name: "Points".into(),
                value: FieldValue::Number(13.0),
            },
            Field {
                name: "Done".into(),
                value: FieldValue::Boolean(true),
            },
        ]),
        WriteOp::Update(UpdateOp {
            id: first.clone(),
            expected_version: None,
            fields: vec![Field {
                name: "Points".into(),
                value: FieldValue::Number(99.0),
            }],
        }),
        WriteOp::Delete(DeleteOp {
            id: second.clone(),
            expected_version: None,
        }),
        WriteOp::Create(vec![Field {
            name: "No such property".into(),
            value: text("x"),
        }]),
    ];
    let results = session.write("tasks", &ops).await.unwrap();
    let created = results[0].as_ref().expect("create").id.clone();
    assert!(results[1].is_ok() && results[2].is_ok(), "{results:?}");
    let bad = format!("{:?}", results[3]);
    assert!(
        bad.contains("No such property"),
        "one bad op fails alone, naming the field: {bad}"
    );

    let page = sim.page(&created).unwrap();
    assert_eq!(
        page["properties"]["Name"]["title"][0]["plain_text"],
        "Written by synchost"
    );
    assert_eq!(page["properties"]["Status"]["select"]["name"], "Blocked");
    assert_eq!(page["properties"]["Done"]["checkbox"], true);
    assert_eq!(
        sim.page(&first).unwrap()["properties"]["Points"]["number"],
        99.0
    );
    assert_eq!(sim.page(&second).unwrap()["in_trash"], true);

    // A fresh read shows the same: the trashed page is gone from queries.
    let (after, _) = read_all(&mut session, "tasks", None).await.unwrap();
    assert_eq!(after.len(), 5);
    assert!(after.iter().all(|r| r.id != second));
    assert!(after.iter().any(|r| r.id == created));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_read_returns_only_what_changed_since_the_checkpoint() {
    let (sim, db) = seeded(300).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-notion"))
        .await
        .unwrap();
    let mut session = rt.session(&connector, &conn_for(&sim, &db)).await.unwrap();
    let (all, _) = read_all(&mut session, "tasks", None).await.unwrap();
    let (seventh, ninth) = (all[7].id.clone(), all[9].id.clone());
    // Notion rounds timestamps down to the minute, so an edit is only told
    // apart from the seeding once the clock has moved to another minute.
    sim.clock().advance(chrono::Duration::minutes(2));
    sim.update_page(&seventh, json!({"Points": {"number": 700}}))
        .unwrap();
    let (_, checkpoint) = read_all(&mut session, "tasks", None).await.unwrap();
    sim.clock().advance(chrono::Duration::minutes(2));
    sim.update_page(&ninth, json!({"Points": {"number": 900}}))
        .unwrap();

    let (changed, next) = read_all(&mut session, "tasks", checkpoint.clone())
        .await
        .unwrap();
    let mut ids: Vec<_> = changed.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    // The checkpoint is Notion's time (its Date header) when the full read
    // began, after the seventh's edit: the ninth is newer. The seventh's
    // time, rounded down to its minute, equals the checkpoint only when that
    // read began in the minute's first second; the filter is inclusive, so
    // then it is returned too. Nothing else is. (The sync core subtracts an
    // overlap window from checkpoints before it reads, for edits that
    // Notion's minute rounding dates before the checkpoint.)
    assert!(
        ids.contains(&ninth),
        "the page edited after the checkpoint: {ids:?}"
    );
    let on_the_boundary = checkpoint
        .as_deref()
        .is_some_and(|c| c.ends_with(":00Z") || c.ends_with(":00.000Z"));
    let allowed: Vec<&String> = if on_the_boundary {
        vec![&seventh, &ninth]
    } else {
        vec![&ninth]
    };
    assert!(
        ids.iter().all(|id| allowed.contains(&id)),
        "only the pages edited at or after the checkpoint: {ids:?}, checkpoint {checkpoint:?}"
    );
    let ninth = changed.iter().find(|r| r.id == ninth).unwrap();
    assert_eq!(ninth.get("Points"), Some(&FieldValue::Number(900.0)));
    assert!(
        next > checkpoint,
        "the checkpoint moves forward: {next:?} after {checkpoint:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_an_unauthorized_error() {
    let (sim, db) = seeded(1).await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-notion"))
        .await
        .unwrap();
    let mut conn = conn_for(&sim, &db);
    bind_secret(&mut conn, "notion_token", "not-the-token");
    let mut session = rt.session(&connector, &conn).await.unwrap();
    let err = read_all(&mut session, "tasks", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unauthorized"), "{err}");
    assert!(!err.contains("not-the-token"), "{err}");
}
