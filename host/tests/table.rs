//! The application's own table as a side: two-way sync between the Notion
//! simulator and a SQLite file, and a PostgreSQL table (the server CI and the
//! project's machines run on 127.0.0.1:5432; each test makes its own
//! database and drops it), through the built-in `sqlite` and `postgres`
//! sides. And the check a table side's writes make: a row changed since it
//! was read is refused as a conflict, not overwritten.

mod common;

use std::collections::BTreeMap;

use common::World;
use serde_json::json;
use synchost::sync::Status;

const PG: &str = "postgres://postgres@127.0.0.1:5432";

/// A table the test reaches directly, as the application would.
enum Db {
    Sqlite(std::path::PathBuf),
    Pg {
        name: String,
        client: tokio_postgres::Client,
    },
}

impl Db {
    async fn sqlite(w: &World) -> Db {
        let path = w.dir.join("app.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE tasks (id INTEGER PRIMARY KEY, \"Name\" TEXT, \"Email\" TEXT, \
             \"Status\" TEXT, \"Points\" REAL, updated_at DATETIME NOT NULL \
             DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
        )
        .unwrap();
        Db::Sqlite(path)
    }

    async fn postgres(tag: &str) -> Db {
        let name = format!("synchost_table_{tag}_{}", std::process::id());
        let admin = connect(&format!("{PG}/test")).await;
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin.batch_execute(&sql).await.unwrap();
        }
        let client = connect(&format!("{PG}/{name}")).await;
        client
            .batch_execute(
                "CREATE TABLE tasks (id bigserial PRIMARY KEY, \"Name\" text, \"Email\" text, \
                 \"Status\" text, \"Points\" integer, tags text[], \
                 updated_at timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .unwrap();
        // SAFETY: each test's own variable, set before its runs read it.
        unsafe { std::env::set_var(env_var(&name), format!("{PG}/{name}")) };
        Db::Pg { name, client }
    }

    /// The job's target: this table.
    fn side(&self) -> serde_json::Value {
        match self {
            Db::Sqlite(path) => json!({
                "platform": "App", "connector": "sqlite", "entity": "tasks",
                "connection": {"settings": {"path": path, "key": "id", "updated_at": "updated_at"}}
            }),
            Db::Pg { name, .. } => json!({
                "platform": "App", "connector": "postgres", "entity": "tasks",
                "connection": {
                    "settings": {"key": "id", "updated_at": "updated_at"},
                    "secrets": {"database_url": format!("env:{}", env_var(name))}
                }
            }),
        }
    }

    /// A session of the job's table side, as a run opens it.
    async fn session(&self) -> synchost::runtime::Session {
        use synchost::runtime::{Runtime, RuntimeOptions};
        let side = self.side();
        let connection: synchost::runtime::Connection =
            serde_json::from_value(side["connection"].clone()).unwrap();
        let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
        let builtin = runtime
            .builtin(side["connector"].as_str().unwrap())
            .expect("a built-in side");
        runtime.session(&builtin, &connection).await.unwrap()
    }

    /// Runs `sql` as the application would (`now` is the database's clock).
    async fn exec(&self, sql: &str) {
        match self {
            Db::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let sql = sql.replace("now()", "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')");
                conn.execute_batch(&sql).unwrap();
            }
            Db::Pg { client, .. } => client.batch_execute(sql).await.unwrap(),
        }
    }

    /// email -> (name, status, points)
    async fn rows(&self) -> BTreeMap<String, (String, String, f64)> {
        let sql = "SELECT \"Email\", \"Name\", \"Status\", CAST(\"Points\" AS REAL) FROM tasks";
        match self {
            Db::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                stmt.query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        (
                            r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                            r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                            r.get::<_, Option<f64>>(3)?.unwrap_or_default(),
                        ),
                    ))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
            }
            Db::Pg { client, .. } => client
                .query(&sql.replace("AS REAL", "AS float8"), &[])
                .await
                .unwrap()
                .into_iter()
                .map(|r| {
                    (
                        r.get::<_, String>(0),
                        (
                            r.get::<_, Option<String>>(1).unwrap_or_default(),
                            r.get::<_, Option<String>>(2).unwrap_or_default(),
                            r.get::<_, Option<f64>>(3).unwrap_or_default(),
                        ),
                    )
                })
                .collect(),
        }
    }

    async fn drop_database(self) {
        if let Db::Pg { name, client } = self {
            drop(client);
            let admin = connect(&format!("{PG}/test")).await;
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
    }
}

/// Where a test's job finds its database's URL (a secret: never in the job).
fn env_var(database: &str) -> String {
    format!("SYNC_TEST_DB_{}", database.to_ascii_uppercase())
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} (the project's machines run one): {e}"));
    tokio::spawn(conn);
    client
}

/// Notion ↔ the table, two ways: a first sync matching by email, edits on
/// each side, an edit on both (the policy decides), deletes both ways.
async fn two_way(w: &mut World, db: &Db) {
    w.job["target"] = db.side();
    w.job["conflict"] = json!({"policy": "source_wins"});
    w.seed_notion("n", 0..3);
    db.exec(
        "INSERT INTO tasks (\"Name\", \"Email\", \"Status\", \"Points\") VALUES \
         ('Mine', 'app@example.com', 'Doing', 7), ('Task 1', 'n1@example.com', 'Todo', 1)",
    )
    .await;

    let first = w.sync().await;
    assert_eq!(first.status, Status::Success, "{first:?}");
    let rows = db.rows().await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(
        rows["n0@example.com"],
        ("Task 0".into(), "Todo".into(), 0.0)
    );
    assert_eq!(
        w.notion_rows()["app@example.com"],
        ("Mine".into(), "Doing".into(), 7.0)
    );

    // An edit on each side, and the same field on both: Notion wins it.
    w.tick();
    w.notion
        .update_page(
            &w.notion_id("n2@example.com"),
            json!({"Status": {"select": {"name": "Done"}}, "Name": {"title": [{"text": {"content": "From Notion"}}]}}),
        )
        .unwrap();
    db.exec(
        "UPDATE tasks SET \"Points\" = 42, updated_at = now() WHERE \"Email\" = 'app@example.com'; \
         UPDATE tasks SET \"Name\" = 'From the app', updated_at = now() WHERE \"Email\" = 'n2@example.com'",
    )
    .await;
    let second = w.sync().await;
    assert_eq!(second.conflicts_detected, 1, "{second:?}");
    let rows = db.rows().await;
    assert_eq!(
        rows["n2@example.com"],
        ("From Notion".into(), "Done".into(), 2.0)
    );
    assert_eq!(w.notion_rows()["app@example.com"].2, 42.0);
    assert_eq!(rows["app@example.com"].2, 42.0);

    // Deletes both ways, found by a full scan.
    w.tick();
    w.notion.trash_page(&w.notion_id("n0@example.com")).unwrap();
    db.exec("DELETE FROM tasks WHERE \"Email\" = 'n1@example.com'")
        .await;
    let third = w.sync_with(true).await;
    assert_eq!(third.status, Status::Success, "{third:?}");
    let rows = db.rows().await;
    let notion = w.notion_rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(notion.len(), 2, "{notion:?}");
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        notion.keys().collect::<Vec<_>>()
    );

    // In step: another run writes nothing.
    let quiet = w.sync().await;
    assert_eq!(quiet.synced_items, 0, "{quiet:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notion_and_a_sqlite_table_sync_both_ways() {
    let mut w = World::new("table-sqlite", "source_wins").await;
    let db = Db::sqlite(&w).await;
    two_way(&mut w, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notion_and_a_postgres_table_sync_both_ways() {
    let mut w = World::new("table-pg", "source_wins").await;
    let db = Db::postgres("twoway").await;
    two_way(&mut w, &db).await;
    db.drop_database().await;
}

/// A row the application changed between the side's read and its write is
/// refused as a conflict naming its current version, and written once the
/// write names that version: the side never overwrites what it did not see.
async fn stale_write_is_refused(db: &Db) {
    use synchost::runtime::{
        ConnectorError, Field, FieldValue, ReadRequest, UpdateOp, WriteOp, WriteOutcome,
    };
    db.exec("INSERT INTO tasks (\"Name\", \"Email\") VALUES ('Read', 'r@example.com')")
        .await;
    let mut session = db.session().await;
    let page = session
        .read(&ReadRequest {
            entity: "tasks".into(),
            cursor: None,
            since: None,
            page_size: 100,
        })
        .await
        .unwrap();
    let record = page.records.iter().find(|r| {
        r.fields
            .iter()
            .any(|f| f.value == FieldValue::Text("r@example.com".into()))
    });
    let record = record.expect("the row read").clone();
    assert!(record.version.is_some(), "{record:?}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    db.exec("UPDATE tasks SET \"Name\" = 'Changed by the app', updated_at = now() WHERE \"Email\" = 'r@example.com'")
        .await;
    let update = |version: Option<String>| {
        vec![WriteOp::Update(UpdateOp {
            id: record.id.clone(),
            expected_version: version,
            fields: vec![Field {
                name: "Name".into(),
                value: FieldValue::Text("Written by the sync".into()),
            }],
        })]
    };
    let refused = session
        .write("tasks", &update(record.version.clone()))
        .await
        .unwrap();
    let current = match &refused[0] {
        WriteOutcome::Failed(ConnectorError::Conflict(info)) => info.current_version.clone(),
        other => panic!("a stale write must be refused: {other:?}"),
    };
    assert!(current.is_some() && current != record.version);
    assert_eq!(db.rows().await["r@example.com"].0, "Changed by the app");
    let written = session.write("tasks", &update(current)).await.unwrap();
    assert!(
        matches!(written[0], WriteOutcome::Written(_)),
        "{written:?}"
    );
    assert_eq!(db.rows().await["r@example.com"].0, "Written by the sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_row_changed_since_read_is_not_overwritten() {
    let w = World::new("table-stale-sqlite", "source_wins").await;
    stale_write_is_refused(&Db::sqlite(&w).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_row_changed_since_read_is_not_overwritten() {
    let db = Db::postgres("stale").await;
    stale_write_is_refused(&db).await;
    db.drop_database().await;
}

/// `synchost table prepare` shows, then installs, a tombstone table and a
/// delete trigger; with them, a row the application deletes reaches Notion
/// on the next incremental run, without waiting for a full scan.
async fn deletes_through_tombstones(w: &mut World, db: &Db) {
    w.job["target"] = db.side();
    w.job["target"]["connection"]["settings"]["tombstones"] = json!("synchost_tombstones");
    let job = w.job_file();
    let job = job.to_str().unwrap();
    let (code, shown, err) = common::synchost(&["table", "prepare", job]);
    assert_eq!(code, 0, "{err}");
    assert!(
        shown.contains("CREATE TRIGGER") && err.contains("--apply"),
        "{shown}{err}"
    );
    let (code, _, err) = common::synchost(&["table", "prepare", job, "--apply"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("\"tombstones\": \"synchost_tombstones\""),
        "{err}"
    );

    w.seed_notion("t", 0..2);
    db.exec("INSERT INTO tasks (\"Name\", \"Email\", \"Status\", \"Points\") VALUES ('Mine', 'app@example.com', 'Doing', 7)")
        .await;
    let first = w.sync().await;
    assert_eq!(first.status, Status::Success, "{first:?}");
    assert_eq!(w.notion_rows().len(), 3);

    db.exec("DELETE FROM tasks WHERE \"Email\" = 'app@example.com'")
        .await;
    let second = w.sync().await;
    let details = second.details.as_ref().unwrap();
    assert_eq!(details.target.read, "incremental", "{second:?}");
    assert_eq!(details.source.written.deleted, 1, "{second:?}");
    let notion = w.notion_rows();
    assert!(!notion.contains_key("app@example.com"), "{notion:?}");
    assert_eq!(notion.len(), 2);
    assert_eq!(db.rows().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_delete_reaches_notion_incrementally_through_tombstones() {
    let mut w = World::new("table-tomb-sqlite", "source_wins").await;
    let db = Db::sqlite(&w).await;
    deletes_through_tombstones(&mut w, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_delete_reaches_notion_incrementally_through_tombstones() {
    let mut w = World::new("table-tomb-pg", "source_wins").await;
    let db = Db::postgres("tomb").await;
    deletes_through_tombstones(&mut w, &db).await;
    db.drop_database().await;
}

/// Creates of a batch go in one statement; a row the database refuses (a
/// CHECK constraint here) fails alone, with the database's reason, and the
/// others are written, each answered in its own place.
async fn a_refused_row_fails_alone(db: &Db) {
    use synchost::runtime::{ConnectorError, Field, FieldValue, WriteOp, WriteOutcome};
    let mut session = db.session().await;
    let create = |email: &str, points: f64| {
        WriteOp::Create(vec![
            Field {
                name: "Email".into(),
                value: FieldValue::Text(email.into()),
            },
            Field {
                name: "Points".into(),
                value: FieldValue::Number(points),
            },
        ])
    };
    let ops = vec![
        create("a@example.com", 1.0),
        create("bad@example.com", -1.0),
        create("c@example.com", 3.0),
    ];
    let out = session.write("tasks", &ops).await.unwrap();
    assert!(matches!(out[0], WriteOutcome::Written(_)), "{out:?}");
    match &out[1] {
        WriteOutcome::Failed(ConnectorError::InvalidInput(why)) => {
            assert!(why.contains("points_not_negative"), "{why}")
        }
        other => panic!("the refused row: {other:?}"),
    }
    assert!(matches!(out[2], WriteOutcome::Written(_)), "{out:?}");
    let ids: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            WriteOutcome::Written(w) => Some(w.id.as_str()),
            _ => None,
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    let rows = db.rows().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows["c@example.com"].2, 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_postgres_row_fails_alone() {
    let db = Db::postgres("refused").await;
    db.exec("ALTER TABLE tasks ADD CONSTRAINT points_not_negative CHECK (\"Points\" >= 0)")
        .await;
    a_refused_row_fails_alone(&db).await;
    db.drop_database().await;
}
