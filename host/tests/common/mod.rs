//! A Notion database and an Airtable table on the simulators, a job that
//! keeps them in step, and helpers to look at both sides.

#![allow(dead_code)]

pub mod console;
pub mod daemon;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use synchost::job::Job;
use synchost::runtime::{Runtime, RuntimeOptions};
use synchost::state::State;
use synchost::sync::{self, ConnectorSource, Report, RunOptions};
use synchost_sim::airtable::{AirtableOptions, AirtableRateLimit, AirtableSim};
use synchost_sim::notion::{NotionOptions, NotionSim, RateLimit};

pub const NOTION_TOKEN: &str = "secret_sync_notion";
pub const AIRTABLE_TOKEN: &str = "pat_sync_airtable";

pub struct World {
    pub notion: NotionSim,
    pub airtable: AirtableSim,
    pub db: String,
    pub base: String,
    pub dir: PathBuf,
    pub runtime: Runtime,
    pub state: Option<State>,
    pub job: Value,
    /// records a run plans and writes at a time (`None`: the default)
    pub batch: Option<usize>,
}

/// Runs the `synchost` binary with `args`: its exit code, stdout and stderr.
pub fn synchost(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_synchost"))
        .args(args)
        .env(
            "SYNCHOST_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sync-cache"),
        )
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Connectors built once per test binary.
pub fn connectors() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sync-connectors");
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["notion", "airtable"] {
            let built =
                synchost::dev::build_connector(&format!("synchost-connector-{name}")).unwrap();
            std::fs::copy(built, dir.join(format!("{name}.wasm"))).unwrap();
        }
        dir
    })
    .clone()
}

fn fresh_dir(tag: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sync-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl World {
    /// Both platforms with fast (but real) rate limits, and a job with `policy`.
    pub async fn new(tag: &str, policy: &str) -> World {
        // SAFETY: set before any thread reads them; the same values for every test.
        unsafe {
            std::env::set_var("SYNC_TEST_NOTION_TOKEN", NOTION_TOKEN);
            std::env::set_var("SYNC_TEST_AIRTABLE_TOKEN", AIRTABLE_TOKEN);
        }
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
        let airtable = AirtableSim::start(AirtableOptions {
            token: AIRTABLE_TOKEN.into(),
            rate_limit: Some(AirtableRateLimit {
                per_second: 50,
                penalty: Duration::from_secs(1),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
        let db = notion.create_tasks_database("Tasks");
        let base = airtable.create_base();
        airtable.create_tasks_table(&base, "Tasks");
        let dir = fresh_dir(tag);
        let job = json!({
            "sync_id": format!("sync-{tag}"),
            "project_id": "pf-test",
            "mode": "bidirectional",
            "schedule": "manual",
            "source": {
                "platform": "Notion", "connector": "notion", "entity": "tasks",
                "connection": {
                    "settings": {"database.tasks": db},
                    "secrets": {"notion_token": "env:SYNC_TEST_NOTION_TOKEN"},
                    "endpoint_overrides": {"https://api.notion.com": notion.base_url()},
                    "allow_private_networks": true,
                    "rate_limit": {"per_second": 250.0, "burst": 50}
                }
            },
            "target": {
                "platform": "Airtable", "connector": "airtable", "entity": "tasks",
                "connection": {
                    "settings": {"base_id": base, "table.tasks": "Tasks"},
                    "secrets": {"airtable_token": "env:SYNC_TEST_AIRTABLE_TOKEN"},
                    "endpoint_overrides": {"https://api.airtable.com": airtable.base_url()},
                    "allow_private_networks": true,
                    "rate_limit": {"per_second": 40.0, "burst": 10}
                }
            },
            "match_key": "Email",
            "conflict": {"policy": policy}
        });
        let runtime = Runtime::new(RuntimeOptions {
            cache_dir: Some(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sync-cache")),
            ..Default::default()
        })
        .unwrap();
        let state = Some(State::open(&dir.join("state")).unwrap());
        World {
            notion,
            airtable,
            db,
            base,
            dir,
            runtime,
            state,
            job,
            batch: None,
        }
    }

    pub fn job(&self) -> Job {
        Job::from_value(self.job.clone()).unwrap()
    }

    pub fn state(&self) -> &State {
        self.state.as_ref().unwrap()
    }

    pub async fn sync(&self) -> Report {
        self.sync_with(false).await
    }

    pub async fn sync_with(&self, full: bool) -> Report {
        let options = RunOptions {
            full,
            connectors: ConnectorSource {
                dir: Some(connectors()),
                loaded: None,
            },
            progress: false,
            details: true,
            batch: self.batch,
            daemon: None,
        };
        sync::run(&self.job(), &self.runtime, self.state(), &options)
            .await
            .unwrap()
    }

    /// Runs `synchost run` on the world's job (its state closed first);
    /// returns the exit code. `fault_after` makes it exit after that many
    /// confirmed writes, before their state is saved.
    pub fn run_binary(&self, fault_after: Option<usize>) -> i32 {
        assert!(
            self.state.is_none(),
            "close the state first: w.state.take()"
        );
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_synchost"));
        cmd.arg("run")
            .arg(self.job_file())
            .arg("--data")
            .arg(&self.dir)
            .arg("--connectors")
            .arg(connectors());
        cmd.env(
            "SYNCHOST_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sync-cache"),
        );
        match fault_after {
            Some(n) => cmd.env("SYNCHOST_FAULT_EXIT_AFTER_WRITES", n.to_string()),
            None => cmd.env_remove("SYNCHOST_FAULT_EXIT_AFTER_WRITES"),
        };
        let out = cmd.output().unwrap();
        if fault_after.is_none() {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out.status.code().unwrap_or(-1)
    }

    /// Writes the job to a file, for the binary.
    pub fn job_file(&self) -> PathBuf {
        let path = self.dir.join("job.json");
        std::fs::write(&path, serde_json::to_string_pretty(&self.job).unwrap()).unwrap();
        path
    }

    pub fn add_notion(&self, name: &str, email: &str, status: &str, points: f64) -> String {
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

    /// Tasks `Task {i}` owned by `{prefix}{i}@example.com`, with `i` points, for each `i` in `range`.
    pub fn seed_notion(&self, prefix: &str, range: std::ops::Range<usize>) {
        for i in range {
            self.add_notion(
                &format!("Task {i}"),
                &format!("{prefix}{i}@example.com"),
                "Todo",
                i as f64,
            );
        }
    }

    pub fn add_airtable(&self, name: &str, email: &str, status: &str, points: f64) -> String {
        self.airtable
            .insert(
                &self.base,
                "Tasks",
                json!({"Name": name, "Email": email, "Status": status, "Points": points}),
            )
            .unwrap()
    }

    /// Notion's live pages as email -> (name, status, points).
    pub fn notion_rows(&self) -> BTreeMap<String, (String, String, f64)> {
        let mut rows = BTreeMap::new();
        for page in self.notion.pages(&self.db) {
            if page["in_trash"] == true {
                continue;
            }
            let p = &page["properties"];
            let email = p["Email"]["email"].as_str().unwrap_or_default().to_string();
            let name = p["Name"]["title"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|t| t["plain_text"].as_str().unwrap_or_default())
                        .collect::<String>()
                })
                .unwrap_or_default();
            let status = p["Status"]["select"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let points = p["Points"]["number"].as_f64().unwrap_or(0.0);
            assert!(
                rows.insert(email.clone(), (name, status, points)).is_none(),
                "duplicate {email} in Notion"
            );
        }
        rows
    }

    /// Airtable's records as email -> (name, status, points).
    pub fn airtable_rows(&self) -> BTreeMap<String, (String, String, f64)> {
        let mut rows = BTreeMap::new();
        for r in self.airtable.records(&self.base, "Tasks") {
            let f = &r["fields"];
            let email = f["Email"].as_str().unwrap_or_default().to_string();
            let row = (
                f["Name"].as_str().unwrap_or_default().to_string(),
                f["Status"].as_str().unwrap_or_default().to_string(),
                f["Points"].as_f64().unwrap_or(0.0),
            );
            assert!(
                rows.insert(email.clone(), row).is_none(),
                "duplicate {email} in Airtable"
            );
        }
        rows
    }

    pub fn notion_id(&self, email: &str) -> String {
        self.notion
            .pages(&self.db)
            .into_iter()
            .find(|p| p["properties"]["Email"]["email"] == email && p["in_trash"] != true)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn airtable_id(&self, email: &str) -> String {
        self.airtable
            .records(&self.base, "Tasks")
            .into_iter()
            .find(|r| r["fields"]["Email"] == email)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Moves both platforms' clocks past Notion's minute rounding, so that
    /// the next edit is seen as newer than the last sync.
    pub fn tick(&self) {
        self.notion.clock().advance(chrono::Duration::minutes(3));
        self.airtable.clock().advance(chrono::Duration::minutes(3));
    }

    /// Puts a fault proxy between the host and `side`'s simulator.
    pub async fn proxy(&mut self, side: &str) -> synchost_sim::fault::FaultProxy {
        let (origin, upstream) = match side {
            "source" => ("https://api.notion.com", self.notion.base_url()),
            _ => ("https://api.airtable.com", self.airtable.base_url()),
        };
        let proxy = synchost_sim::fault::FaultProxy::start(&upstream)
            .await
            .unwrap();
        self.job[side]["connection"]["endpoint_overrides"][origin] = json!(proxy.base_url());
        proxy
    }

    /// Airtable's records carry versions (its "Last Modified" field).
    pub fn with_airtable_versions(&mut self) {
        self.job["target"]["connection"]["settings"]["modified_field"] = json!("Last Modified");
    }
}
