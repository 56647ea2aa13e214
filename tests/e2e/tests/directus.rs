//! The Directus connector against a real Directus (npm `directus@11.3.5` on
//! SQLite, started by tests/directus/setup.sh): the acceptance suite, reads
//! through Directus' own rate limiter, and a two-way sync with the Notion
//! simulator.
//!
//! Needs Node.js and npm; the first run installs Directus (minutes).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{json, Value};
use synchost::acceptance::{self, Fixture};
use synchost::runtime::Connection;
use synchost::state::State;
use synchost::sync::{self, ConnectorSource, Report, RunOptions, Status};
use synchost_e2e::directus::{Directus, DirectusOptions};
use synchost_e2e::directus_suite;
use synchost_e2e::{assert_unique, bind_secret, build_connector, runtime};
use synchost_sim::notion::{NotionOptions, NotionSim, RateLimit};

const CONNECTOR: &str = "synchost-connector-directus";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_passes_the_acceptance_suite_against_a_real_directus() {
    let directus = Directus::start_async(DirectusOptions::default()).await;
    let wasm = build_connector(CONNECTOR);
    let runtime = runtime();
    let connector = runtime.load(&wasm).await.unwrap();
    assert_eq!(connector.descriptor.max_batch, Some(100));
    let fixture = Fixture::directus(directus.url(), directus.token(), acceptance::RECORDS)
        .await
        .unwrap();
    directus_suite::assert_lists_the_collection(&runtime, &connector, &fixture).await;
    let checks = acceptance::run_with(&runtime, connector, fixture)
        .await
        .unwrap();
    let report: Vec<String> = checks
        .iter()
        .map(|c| {
            let outcome = match (&c.failure, c.skipped) {
                (Some(why), _) => format!("FAILED: {why}"),
                (None, true) => "skipped".into(),
                (None, false) => "ok".into(),
            };
            format!("{}: {outcome}", c.name)
        })
        .collect();
    assert_eq!(checks.len(), 10, "{report:#?}");
    assert!(
        checks.iter().all(|c| c.passed() && !c.skipped),
        "{report:#?}\nDirectus log:\n{}",
        directus.log()
    );
}

/// `connector test --connection`: see `directus_suite`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_through_a_connection_file_and_leaves_the_collection_as_it_was() {
    let directus = Directus::start_async(DirectusOptions::default()).await;
    let wasm = build_connector(CONNECTOR);
    directus_suite::assert_suite_passes_through_a_connection_file(
        &runtime(),
        &wasm,
        &directus,
        &fresh_dir("suite-connection"),
    )
    .await;
}

/// A connection to collection `collection` of `directus` for entity `tasks`.
fn connection(directus: &Directus, collection: &str) -> Connection {
    let mut conn = Connection {
        settings: BTreeMap::from([
            ("url".to_string(), directus.url().to_string()),
            ("collection.tasks".to_string(), collection.to_string()),
        ]),
        allow_private_networks: true,
        ..Default::default()
    };
    bind_secret(&mut conn, "directus_token", directus.token());
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_completes_through_directus_rate_limiter_with_each_item_once() {
    // 6 points per 2 s, a third of the connector's declared 10 requests a
    // second: low enough that the limiter answers 429 even when a loaded
    // machine makes each request slow.
    let directus = Directus::start_async(DirectusOptions {
        rate_limit: Some((6, 2)),
    })
    .await;
    directus.create_tasks("limited", &["Todo"]).await.unwrap();
    let items: Vec<Value> = (0..300)
        .map(|i| json!({"name": format!("Task {i}"), "points": i}))
        .collect();
    let created = directus
        .insert("limited", Value::Array(items))
        .await
        .unwrap();
    let expected: BTreeSet<String> = created.iter().map(|i| i["id"].to_string()).collect();
    assert_eq!(expected.len(), 300);

    let runtime = runtime();
    let connector = runtime.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut session = runtime
        .session(&connector, &connection(&directus, "limited"))
        .await
        .unwrap();
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let page = session
            .read(&synchost::runtime::ReadRequest {
                entity: "tasks".into(),
                cursor: cursor.take(),
                since: None,
                page_size: 10,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\nDirectus log:\n{}", directus.log()));
        records.extend(page.records);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(assert_unique(&records), 300);
    let read: BTreeSet<String> = records.iter().map(|r| r.id.clone()).collect();
    assert_eq!(read, expected);
    // The host waits out each 429 as Retry-After says and asks again; the
    // connector saw only the answers that finally succeeded.
    let stats = runtime.rate_limiter().stats();
    let calls = session.calls();
    assert!(
        stats.throttled > 0,
        "Directus' limiter never answered 429 in {} calls taking {} ms: the test proves nothing",
        calls.len(),
        calls.iter().map(|c| c.millis).sum::<u64>()
    );
    assert!(calls.iter().all(|c| c.status == 200), "{calls:#?}");
}

/// A Notion database and a Directus collection of tasks, and a two-way job.
struct World {
    notion: NotionSim,
    db: String,
    directus: Directus,
    runtime: synchost::runtime::Runtime,
    state: State,
    job: Value,
}

const NOTION_TOKEN: &str = "secret_directus_sync_notion";

fn fresh_dir(tag: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("directus-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl World {
    async fn new() -> World {
        let directus = Directus::start_async(DirectusOptions::default()).await;
        directus
            .create_tasks("tasks", &["Todo", "Doing", "Done"])
            .await
            .unwrap();
        let notion = NotionSim::start(NotionOptions {
            token: NOTION_TOKEN.into(),
            rate_limit: Some(RateLimit {
                per_second: 300.0,
                burst: 100,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
        let db = notion.create_database(
            "Tasks",
            &[
                ("Name", "title"),
                ("Email", "email"),
                ("Status", "select"),
                ("Points", "number"),
            ],
        );
        // SAFETY: set before any thread reads them; the same value every time.
        unsafe {
            std::env::set_var("DIRECTUS_SYNC_NOTION_TOKEN", NOTION_TOKEN);
            std::env::set_var("DIRECTUS_SYNC_DIRECTUS_TOKEN", directus.token());
        }
        let wasm = |p: &str| build_connector(p).display().to_string();
        let job = json!({
            "sync_id": "directus-notion",
            "mode": "bidirectional",
            "source": {
                "platform": "Notion", "connector": wasm("synchost-connector-notion"), "entity": "tasks",
                "connection": {
                    "settings": {"database.tasks": db},
                    "secrets": {"notion_token": "env:DIRECTUS_SYNC_NOTION_TOKEN"},
                    "endpoint_overrides": {"https://api.notion.com": notion.base_url()},
                    "allow_private_networks": true,
                    "rate_limit": {"per_second": 250.0, "burst": 50}
                }
            },
            "target": {
                "platform": "Directus", "connector": wasm(CONNECTOR), "entity": "tasks",
                "connection": {
                    "settings": {"url": directus.url(), "collection.tasks": "tasks"},
                    "secrets": {"directus_token": "env:DIRECTUS_SYNC_DIRECTUS_TOKEN"},
                    "allow_private_networks": true
                }
            },
            "mapping": {"fields": [
                {"source": "Name", "target": "name"},
                {"source": "Email", "target": "email"},
                {"source": "Status", "target": "status"},
                {"source": "Points", "target": "points"}
            ]},
            "match_key": {"source": "Email", "target": "email"},
            "conflict": "newest_wins"
        });
        let runtime = runtime();
        let state = State::open(&fresh_dir("sync").join("state")).unwrap();
        World {
            notion,
            db,
            directus,
            runtime,
            state,
            job,
        }
    }

    async fn sync(&self, full: bool) -> Report {
        // Notion's times are whole minutes: move its clock on so that an
        // edit after this run is seen as newer than the run.
        self.notion.clock().advance(chrono::Duration::minutes(3));
        let job = synchost::job::Job::from_value(self.job.clone()).unwrap();
        let options = RunOptions {
            full,
            connectors: ConnectorSource::default(),
            progress: false,
            details: true,
            batch: None,
            daemon: None,
        };
        let report = sync::run(&job, &self.runtime, &self.state, &options)
            .await
            .unwrap();
        assert_eq!(
            report.status,
            Status::Success,
            "{report:#?}\nDirectus log:\n{}",
            self.directus.log()
        );
        report
    }

    fn add_notion(&self, name: &str, email: &str, status: &str, points: f64) -> String {
        self.notion
            .insert_page(
                &self.db,
                json!({
                    "Name": {"title": [{"text": {"content": name}}]},
                    "Email": {"email": email},
                    "Status": {"select": {"name": status}},
                    "Points": {"number": points},
                }),
            )
            .unwrap()
    }

    async fn add_directus(&self, name: &str, email: &str, status: &str, points: f64) -> String {
        self.directus
            .insert_one(
                "tasks",
                json!({"name": name, "email": email, "status": status, "points": points}),
            )
            .await
            .unwrap()
    }

    fn notion_id(&self, email: &str) -> String {
        self.notion
            .pages(&self.db)
            .into_iter()
            .find(|p| p["properties"]["Email"]["email"] == email && p["in_trash"] != true)
            .unwrap_or_else(|| panic!("no live Notion page for {email}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn directus_id(&self, email: &str) -> String {
        let items = self.directus.items("tasks").await.unwrap();
        let item = items
            .iter()
            .find(|i| i["email"] == email)
            .unwrap_or_else(|| panic!("no Directus item for {email}"));
        item["id"].to_string()
    }

    /// Notion's live pages as email -> (name, status, points).
    fn notion_rows(&self) -> BTreeMap<String, (String, String, f64)> {
        let mut rows = BTreeMap::new();
        for page in self.notion.pages(&self.db) {
            if page["in_trash"] == true {
                continue;
            }
            let p = &page["properties"];
            let name = p["Name"]["title"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|t| t["plain_text"].as_str().unwrap_or_default())
                        .collect()
                })
                .unwrap_or_default();
            let row = (
                name,
                p["Status"]["select"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["Points"]["number"].as_f64().unwrap_or(0.0),
            );
            let email = p["Email"]["email"].as_str().unwrap_or_default().to_string();
            assert!(
                rows.insert(email.clone(), row).is_none(),
                "{email} twice in Notion"
            );
        }
        rows
    }

    /// Directus' items as email -> (name, status, points).
    async fn directus_rows(&self) -> BTreeMap<String, (String, String, f64)> {
        let mut rows = BTreeMap::new();
        for item in self.directus.items("tasks").await.unwrap() {
            let text = |f: &str| item[f].as_str().unwrap_or_default().to_string();
            let row = (
                text("name"),
                text("status"),
                item["points"].as_f64().unwrap_or(0.0),
            );
            let email = text("email");
            assert!(
                rows.insert(email.clone(), row).is_none(),
                "{email} twice in Directus"
            );
        }
        rows
    }
}

fn row(name: &str, status: &str, points: f64) -> (String, String, f64) {
    (name.to_string(), status.to_string(), points)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_sync_between_directus_and_notion() {
    let w = World::new().await;
    for i in 0..3 {
        w.add_notion(
            &format!("Notion {i}"),
            &format!("n{i}@example.com"),
            "Todo",
            i as f64,
        );
        w.add_directus(
            &format!("Directus {i}"),
            &format!("d{i}@example.com"),
            "Doing",
            10.0 + i as f64,
        )
        .await;
    }
    // The same person on both sides: paired by email, not duplicated.
    w.add_notion("Shared", "both@example.com", "Done", 5.0);
    w.add_directus("Shared", "both@example.com", "Done", 5.0)
        .await;

    let first = w.sync(false).await;
    assert_eq!(first.synced_items, 6, "{first:#?}");
    let notion = w.notion_rows();
    assert_eq!(notion.len(), 7);
    assert_eq!(notion, w.directus_rows().await);
    assert_eq!(notion["d1@example.com"], row("Directus 1", "Doing", 11.0));

    let quiet = w.sync(false).await;
    assert_eq!(quiet.synced_items, 0, "{quiet:#?}");
    let details = quiet.details.as_ref().unwrap();
    assert_eq!(
        (details.source.read.as_str(), details.target.read.as_str()),
        ("incremental", "incremental")
    );

    // An edit and a new record on each side.
    w.notion
        .update_page(
            &w.notion_id("n0@example.com"),
            json!({"Points": {"number": 70}}),
        )
        .unwrap();
    w.directus
        .update(
            "tasks",
            &w.directus_id("d1@example.com").await,
            json!({"status": "Done"}),
        )
        .await
        .unwrap();
    w.add_notion("Notion new", "n9@example.com", "Todo", 9.0);
    w.add_directus("Directus new", "d9@example.com", "Todo", 19.0)
        .await;
    let edits = w.sync(false).await;
    assert_eq!(edits.synced_items, 4, "{edits:#?}");
    let notion = w.notion_rows();
    assert_eq!(notion, w.directus_rows().await);
    assert_eq!(notion["n0@example.com"], row("Notion 0", "Todo", 70.0));
    assert_eq!(notion["d1@example.com"], row("Directus 1", "Done", 11.0));
    assert_eq!(notion.len(), 9);

    // A delete in Directus reaches Notion through an incremental read: the
    // activity log's tombstone, not a full scan.
    w.directus
        .delete("tasks", &w.directus_id("d2@example.com").await)
        .await
        .unwrap();
    let deleted = w.sync(false).await;
    assert_eq!(deleted.synced_items, 1, "{deleted:#?}");
    assert_eq!(deleted.details.as_ref().unwrap().target.read, "incremental");
    let notion = w.notion_rows();
    assert!(!notion.contains_key("d2@example.com"), "{notion:#?}");
    assert_eq!(notion, w.directus_rows().await);

    // A page trashed in Notion: Notion's reads carry no tombstones, so a
    // full scan finds it, and the item goes from Directus.
    w.notion.trash_page(&w.notion_id("n1@example.com")).unwrap();
    let trashed = w.sync(true).await;
    assert_eq!(trashed.synced_items, 1, "{trashed:#?}");
    let directus = w.directus_rows().await;
    assert!(!directus.contains_key("n1@example.com"), "{directus:#?}");
    assert_eq!(w.notion_rows(), directus);
    assert_eq!(directus.len(), 7);

    // Nothing changed: nothing is written, though the incremental reads
    // overlap everything above (and the deletions' tombstones).
    let last = w.sync(false).await;
    assert_eq!(last.synced_items, 0, "{last:#?}");
    let details = last.details.unwrap();
    assert_eq!(details.target.read, "incremental");
}
