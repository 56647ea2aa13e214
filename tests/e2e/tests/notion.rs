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
    let results = session.write_results("tasks", &ops).await.unwrap();
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

async fn session_for(
    sim: &NotionSim,
    db: &str,
) -> (synchost::runtime::Runtime, synchost::runtime::Session) {
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-notion"))
        .await
        .unwrap();
    let session = rt.session(&connector, &conn_for(sim, db)).await.unwrap();
    (rt, session)
}

fn plain_text(value: &serde_json::Value) -> String {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["plain_text"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emoji_at_a_chunk_boundary_does_not_break_a_long_text_write() {
    let (sim, db) = seeded(0).await;
    let (_rt, mut session) = session_for(&sim, &db).await;
    // The emoji is the 2,000th character: cut by characters, the first chunk
    // is 2,001 UTF-16 code units, which Notion refuses.
    let long = format!("{}😀{}", "x".repeat(1999), "y".repeat(2500));
    let ops = vec![WriteOp::Create(vec![Field {
        name: "Name".into(),
        value: text(&long),
    }])];
    let results = session.write_results("tasks", &ops).await.unwrap();
    let created = results[0].as_ref().expect("the create succeeds").id.clone();
    let page = sim.page(&created).unwrap();
    assert_eq!(plain_text(&page["properties"]["Name"]["title"]), long);
}

fn uuid(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

async fn with_references(links: usize, owners: usize) -> (NotionSim, String, String) {
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
            ("Links", "relation"),
            ("Owners", "people"),
        ],
    );
    let refs = |n: usize| (0..n).map(|i| json!({"id": uuid(i)})).collect::<Vec<_>>();
    let page = sim
        .insert_page(
            &db,
            json!({
                "Name": {"title": [{"text": {"content": "many"}}]},
                "Links": {"relation": refs(links)},
                "Owners": {"people": refs(owners)},
            }),
        )
        .unwrap();
    (sim, db, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_and_relations_beyond_the_25_a_page_object_shows_are_read_in_full() {
    let (sim, db, page) = with_references(30, 30).await;
    let (_rt, mut session) = session_for(&sim, &db).await;
    let (records, _) = read_all(&mut session, "tasks", None).await.unwrap();
    let record = records.iter().find(|r| r.id == page).unwrap();
    let all: Vec<String> = (0..30).map(uuid).collect();
    assert_eq!(
        record.get("Links"),
        Some(&FieldValue::Reference(all.clone()))
    );
    let Some(FieldValue::Json(owners)) = record.get("Owners") else {
        panic!("{:?}", record.get("Owners"))
    };
    let owners: Vec<serde_json::Value> = serde_json::from_str(owners).unwrap();
    let owners: Vec<&str> = owners.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(owners, all, "every user, not the first 25");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_of_more_references_than_notion_takes_is_refused_before_it_is_sent() {
    let (sim, db, page) = with_references(1, 1).await;
    // No 429 retries in the count below.
    sim.set_rate_limit(None);
    let (_rt, mut session) = session_for(&sim, &db).await;
    // A write that fits: the connector now holds the database's schema.
    let rename = WriteOp::Update(UpdateOp {
        id: page.clone(),
        expected_version: None,
        fields: vec![Field {
            name: "Name".into(),
            value: text("renamed"),
        }],
    });
    assert!(session.write_results("tasks", &[rename]).await.unwrap()[0].is_ok());
    let before = sim.request_count();
    let too_many: Vec<String> = (0..101).map(uuid).collect();
    let users = serde_json::to_string(
        &too_many
            .iter()
            .map(|id| json!({"object": "user", "id": id}))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let ops = vec![
        WriteOp::Update(UpdateOp {
            id: page.clone(),
            expected_version: None,
            fields: vec![Field {
                name: "Links".into(),
                value: FieldValue::Reference(too_many.clone()),
            }],
        }),
        WriteOp::Update(UpdateOp {
            id: page.clone(),
            expected_version: None,
            fields: vec![Field {
                name: "Owners".into(),
                value: FieldValue::Json(users),
            }],
        }),
    ];
    let results = session.write_results("tasks", &ops).await.unwrap();
    for (result, field) in results.iter().zip(["Links", "Owners"]) {
        let err = format!("{result:?}");
        assert!(
            err.contains("InvalidInput") && err.contains(field) && err.contains("at most 100"),
            "{err}"
        );
    }
    assert_eq!(sim.request_count(), before, "nothing reached Notion");
    let held = &sim.page(&page).unwrap()["properties"];
    assert_eq!(held["Links"]["relation"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_given_a_second_data_source_is_synced_through_the_data_source_setting() {
    let (sim, db) = seeded(30).await;
    let first = sim.data_sources(&db).pop().unwrap();
    // Someone adds a data source to the database in the Notion app.
    let second = sim
        .add_data_source(&db, "Bugs", &[("Name", "title"), ("Severity", "select")])
        .unwrap();
    sim.insert_page(
        &second,
        json!({"Name": {"title": [{"text": {"content": "bug"}}]}}),
    )
    .unwrap();
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-notion"))
        .await
        .unwrap();

    // The database alone no longer says which table to sync: the error says
    // which setting picks one, and names the choices.
    let mut session = rt.session(&connector, &conn_for(&sim, &db)).await.unwrap();
    let err = read_all(&mut session, "tasks", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data_source.tasks") && err.contains(&first) && err.contains(&second),
        "{err}"
    );

    let mut conn = conn_for(&sim, &db);
    conn.settings.remove("database.tasks");
    conn.settings
        .insert("data_source.tasks".into(), first.clone());
    let mut session = rt.session(&connector, &conn).await.unwrap();
    let (records, checkpoint) = read_all(&mut session, "tasks", None).await.unwrap();
    assert_eq!(assert_unique(&records), 30);
    assert!(checkpoint.is_some());
    let ops = vec![WriteOp::Create(vec![
        Field {
            name: "Name".into(),
            value: text("written into the first data source"),
        },
        Field {
            name: "Points".into(),
            value: FieldValue::Number(5.0),
        },
    ])];
    let results = session.write_results("tasks", &ops).await.unwrap();
    let created = results[0].as_ref().expect("create").id.clone();
    assert_eq!(sim.pages(&first).len(), 31);
    assert!(sim
        .pages(&first)
        .iter()
        .any(|p| p["id"] == created.as_str()));
    assert_eq!(sim.pages(&second).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_notion_is_reported_as_rate_limited_with_its_retry_after() {
    let (sim, db) = seeded(1).await;
    let (_rt, mut session) = session_for(&sim, &db).await;
    // One 529 is waited out by the host as it waits out a 429 (Request limits:
    // "Connections should handle HTTP 429 and 529 responses and respect the
    // Retry-After response header"): the read succeeds.
    sim.fail_next(1, 529);
    let (records, _) = read_all(&mut session, "tasks", None).await.unwrap();
    assert_eq!(records.len(), 1);
    // Past the host's retries the connector sees it, as rate-limited.
    sim.fail_next(6, 529);
    let err = read_all(&mut session, "tasks", None).await.unwrap_err();
    let shown = format!("{err:?}");
    assert!(
        shown.contains("RateLimited") && shown.contains("service_overload"),
        "{shown}"
    );
    let (records, _) = read_all(&mut session, "tasks", None).await.unwrap();
    assert_eq!(records.len(), 1);
}
