//! `synchost sim`, as a user runs it: two simulators started from the
//! command line, and a job built from the connection files they write pulls
//! the seeded records from one to the other through the real connectors.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

fn synchost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_synchost"));
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sync-cache");
    cmd.env("SYNCHOST_CACHE_DIR", cache).env_remove("RUST_LOG");
    cmd
}

/// A running `synchost sim`, stopped (SIGTERM) when dropped.
struct Sim {
    child: Child,
    /// the connection file it wrote
    connection: Value,
    /// `export VAR=VALUE` lines it printed
    exports: Vec<(String, String)>,
    url: String,
}

impl Sim {
    fn start(name: &str, seed: usize, out: &Path) -> Sim {
        std::fs::create_dir_all(out).unwrap();
        let mut child = synchost()
            .args(["sim", name, "--rate-limits", "off", "--seed"])
            .arg(seed.to_string())
            .arg("--out")
            .arg(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut exports) = (String::new(), Vec::new());
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(at) = line.split(" simulator at ").nth(1) {
                url = at.split(' ').next().unwrap().to_string();
            }
            if let Some(export) = line.trim().strip_prefix("export ") {
                let (var, value) = export.split_once('=').unwrap();
                exports.push((var.to_string(), value.to_string()));
            }
            if line.starts_with("serving until") {
                break;
            }
        }
        assert!(url.starts_with("http://127.0.0.1:"), "no URL printed");
        let file = out.join(format!("{name}.connection.json"));
        let connection = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        Sim {
            child,
            connection,
            exports,
            url,
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        if !std::thread::panicking() {
            assert!(status.success(), "a clean stop on SIGTERM: {status}");
        }
    }
}

fn fresh(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sim-command-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_job_made_of_two_sims_connection_files_pulls_every_seeded_record() {
    let dir = fresh("pull");
    let notion = Sim::start("notion", 7, &dir.join("notion"));
    let airtable = Sim::start("airtable", 0, &dir.join("airtable"));
    let job = json!({
        "sync_id": "sim-pull", "mode": "pull", "schedule": "manual",
        "source": {"platform": "Notion", "connector": "notion", "entity": "tasks",
                   "connection": notion.connection},
        "target": {"platform": "Airtable", "connector": "airtable", "entity": "tasks",
                   "connection": airtable.connection},
    });
    let job_file = dir.join("job.json");
    std::fs::write(&job_file, job.to_string()).unwrap();
    // Both simulators take the same token: one export serves both files.
    assert_eq!(notion.exports, airtable.exports);
    let out = synchost()
        .arg("run")
        .arg(&job_file)
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--connectors")
        .arg(common::connectors())
        .envs(notion.exports.iter().cloned())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What the Airtable simulator now holds, asked over its own API
    // (https://airtable.com/developers/web/api/list-records).
    let base = airtable.connection["settings"]["base_id"].as_str().unwrap();
    let token = &airtable.exports[0].1;
    let listed: Value = reqwest::blocking::Client::new()
        .get(format!("{}/v0/{base}/Tasks", airtable.url))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut names: Vec<&str> = listed["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fields"]["Name"].as_str().unwrap())
        .collect();
    names.sort();
    let seeded: Vec<String> = (0..7).map(|i| format!("Task {i}")).collect();
    assert_eq!(names, seeded, "{stdout}");
}

#[test]
fn a_salesforce_sim_writes_the_refresh_flow_into_its_connection() {
    let dir = fresh("salesforce");
    let sf = Sim::start("salesforce", 2, &dir);
    let c = &sf.connection;
    assert_eq!(c["oauth2"]["refresh_token"], "salesforce_refresh");
    // The token endpoint and the instance both go to the simulator.
    assert_eq!(
        c["endpoint_overrides"]["https://login.salesforce.com"],
        sf.url
    );
    let instance = c["settings"]["instance_url"].as_str().unwrap();
    assert_eq!(c["endpoint_overrides"][instance], sf.url);
    // Every secret it names has its export.
    for source in c["secrets"].as_object().unwrap().values() {
        let var = source.as_str().unwrap().strip_prefix("env:").unwrap();
        assert!(sf.exports.iter().any(|(v, _)| v == var), "{var} printed");
    }
}

#[test]
fn an_unknown_simulator_is_refused_with_the_names_there_are() {
    let out = synchost().args(["sim", "kinto"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no simulator `kinto`"), "{err}");
    assert!(
        err.contains("notion, airtable, hubspot, salesforce, items"),
        "{err}"
    );
}
