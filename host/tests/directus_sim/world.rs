//! The world the Directus simulator tests run in: a Notion database and a
//! Directus collection of tasks on the simulators, a job between them, the
//! connectors built from source, and helpers to look at both sides.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};
use synchost::job::Job;
use synchost::runtime::{Runtime, RuntimeOptions};
use synchost::state::State;
use synchost::sync::{self, ConnectorSource, Report, RunOptions, Status};
use synchost_sim::directus::{DirectusOptions, DirectusSim, WriteRequest};
use synchost_sim::notion::{NotionOptions, NotionSim, RateLimit};

pub const NOTION_TOKEN: &str = "secret_directus_sim_notion";
pub const DIRECTUS_TOKEN: &str = "directus-sim-static-token";

/// The Notion and Directus connectors, built once per test binary.
pub fn connectors() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("directus-sim-connectors");
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["notion", "directus"] {
            let built =
                synchost::dev::build_connector(&format!("synchost-connector-{name}")).unwrap();
            std::fs::copy(built, dir.join(format!("{name}.wasm"))).unwrap();
        }
        dir
    })
    .clone()
}

pub fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions {
        cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sync-cache")),
        ..Default::default()
    })
    .unwrap()
}

/// A Directus simulator that takes the worlds' token, bound (as the worlds'
/// jobs and sessions name it) to `env:DIRECTUS_SIM_DIRECTUS_TOKEN`.
pub async fn start_directus(options: DirectusOptions) -> DirectusSim {
    // SAFETY: set before any thread reads it; the same value every time.
    unsafe { std::env::set_var("DIRECTUS_SIM_DIRECTUS_TOKEN", DIRECTUS_TOKEN) };
    DirectusSim::start(DirectusOptions {
        token: DIRECTUS_TOKEN.into(),
        ..options
    })
    .await
    .unwrap()
}

/// A session of the Directus connector on `directus` (started by
/// [`start_directus`]), its token bound as the worlds' jobs bind it.
pub async fn directus_session(
    runtime: &Runtime,
    directus: &DirectusSim,
) -> synchost::runtime::Session {
    let connector = runtime
        .load(&connectors().join("directus.wasm"))
        .await
        .unwrap();
    let mut conn = synchost::runtime::Connection {
        settings: BTreeMap::from([("url".to_string(), directus.base_url())]),
        allow_private_networks: true,
        ..Default::default()
    };
    conn.secrets.insert(
        "directus_token".into(),
        "env:DIRECTUS_SIM_DIRECTUS_TOKEN".into(),
    );
    runtime.session(&connector, &conn).await.unwrap()
}

pub fn fresh_dir(tag: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("directus-sim-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub type Rows = BTreeMap<String, (String, String, f64)>;

/// A Notion database and a Directus collection of tasks, and a job between them.
pub struct World {
    pub notion: NotionSim,
    pub db: String,
    pub directus: DirectusSim,
    pub runtime: Runtime,
    pub state: State,
    pub job: Value,
}

impl World {
    /// `mode`: pull (Notion to Directus) or bidirectional.
    pub async fn new(tag: &str, mode: &str, options: DirectusOptions) -> World {
        // SAFETY: set before any thread reads it; the same value every time.
        unsafe { std::env::set_var("DIRECTUS_SIM_NOTION_TOKEN", NOTION_TOKEN) };
        let directus = start_directus(options).await;
        let fields = [
            ("name", "string"),
            ("email", "string"),
            ("status", "string"),
            ("points", "float"),
        ];
        directus.create_collection("tasks", &fields).unwrap();
        directus
            .set_choices("tasks", "status", &["Todo", "Doing", "Done"])
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
        let job = json!({
            "sync_id": format!("directus-sim-{tag}"),
            "mode": mode,
            "source": {
                "platform": "Notion", "connector": "notion", "entity": "tasks",
                "connection": {
                    "settings": {"database.tasks": db},
                    "secrets": {"notion_token": "env:DIRECTUS_SIM_NOTION_TOKEN"},
                    "endpoint_overrides": {"https://api.notion.com": notion.base_url()},
                    "allow_private_networks": true,
                    "rate_limit": {"per_second": 250.0, "burst": 50}
                }
            },
            "target": {
                "platform": "Directus", "connector": "directus", "entity": "tasks",
                "connection": {
                    "settings": {"url": directus.base_url(), "collection.tasks": "tasks"},
                    "secrets": {"directus_token": "env:DIRECTUS_SIM_DIRECTUS_TOKEN"},
                    "allow_private_networks": true,
                    "rate_limit": {"per_second": 200.0, "burst": 50}
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
        let state = State::open(&fresh_dir(tag).join("state")).unwrap();
        World {
            notion,
            db,
            directus,
            runtime: runtime(),
            state,
            job,
        }
    }

    pub async fn run(&self, full: bool) -> Report {
        // Notion's times are whole minutes: move its clock on so that an
        // edit after this run is newer than the run.
        self.notion.clock().advance(chrono::Duration::minutes(3));
        let options = RunOptions {
            full,
            connectors: ConnectorSource {
                dir: Some(connectors()),
                loaded: None,
            },
            progress: false,
            details: true,
            batch: None,
            daemon: None,
        };
        let job = Job::from_value(self.job.clone()).unwrap();
        sync::run(&job, &self.runtime, &self.state, &options)
            .await
            .unwrap()
    }

    pub async fn sync(&self, full: bool) -> Report {
        let report = self.run(full).await;
        assert_eq!(report.status, Status::Success, "{report:#?}");
        report
    }

    pub fn add_notion(&self, name: &str, email: &str, status: &str, points: f64) -> String {
        let props = json!({
            "Name": {"title": [{"text": {"content": name}}]},
            "Email": {"email": email},
            "Status": {"select": {"name": status}},
            "Points": {"number": points},
        });
        self.notion.insert_page(&self.db, props).unwrap()
    }

    pub fn seed_notion(&self, range: std::ops::Range<usize>) {
        for i in range {
            let status = ["Todo", "Doing", "Done"][i % 3];
            self.add_notion(
                &format!("Task {i}"),
                &format!("n{i}@example.com"),
                status,
                i as f64 / 2.0,
            );
        }
    }

    pub fn notion_id(&self, email: &str) -> String {
        let page = self
            .notion
            .pages(&self.db)
            .into_iter()
            .find(|p| p["properties"]["Email"]["email"] == email && p["in_trash"] != true);
        page.unwrap_or_else(|| panic!("no live Notion page for {email}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn directus_id(&self, email: &str) -> String {
        let items = self.directus.items("tasks");
        let item = items.iter().find(|i| i["email"] == email);
        item.unwrap_or_else(|| panic!("no Directus item for {email}"))["id"].to_string()
    }

    /// Notion's live pages as email -> (name, status, points).
    pub fn notion_rows(&self) -> Rows {
        let mut rows = Rows::new();
        for page in self
            .notion
            .pages(&self.db)
            .into_iter()
            .filter(|p| p["in_trash"] != true)
        {
            let p = &page["properties"];
            let name = p["Name"]["title"].as_array().into_iter().flatten();
            let name: String = name
                .map(|t| t["plain_text"].as_str().unwrap_or_default())
                .collect();
            let status = p["Status"]["select"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let email = p["Email"]["email"].as_str().unwrap_or_default().to_string();
            let row = (name, status, p["Points"]["number"].as_f64().unwrap_or(0.0));
            assert!(
                rows.insert(email.clone(), row).is_none(),
                "{email} twice in Notion"
            );
        }
        rows
    }

    /// Directus' items as email -> (name, status, points).
    pub fn directus_rows(&self) -> Rows {
        let mut rows = Rows::new();
        for item in self.directus.items("tasks") {
            let text = |f: &str| item[f].as_str().unwrap_or_default().to_string();
            let row = (
                text("name"),
                text("status"),
                item["points"].as_f64().unwrap_or(0.0),
            );
            assert!(
                rows.insert(text("email"), row).is_none(),
                "{} twice in Directus",
                text("email")
            );
        }
        rows
    }

    /// The write requests Directus received after the first `from`.
    pub fn writes_since(&self, from: usize) -> Vec<WriteRequest> {
        self.directus.writes().split_off(from)
    }
}

pub fn summary(writes: &[WriteRequest]) -> Vec<String> {
    writes
        .iter()
        .map(|w| format!("{} {} {}", w.method, w.path, w.status))
        .collect()
}
