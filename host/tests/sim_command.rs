//! `synchost sim`, as a user runs it: two simulators started from the
//! command line, and a job built from the connection files they write pulls
//! the seeded records from one to the other through the real connectors.
//! And `connector test --connection`, the acceptance suite against any
//! platform a connection file names, run against such a simulator as it
//! would be against a real account.

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

/// A stop sent the moment the simulator says it serves (as a script or a
/// service manager sends it) stops it cleanly: the handlers are in place
/// before it says so. Once failed in CI, when they were installed after.
#[test]
fn a_stop_sent_as_soon_as_it_serves_is_a_clean_stop() {
    for i in 0..5 {
        let dir = fresh(&format!("stop-{i}"));
        drop(Sim::start("items", 1, &dir));
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

/// The titles of the live tasks the Notion simulator holds, read as a user
/// would: `synchost connector read` with the simulator's connection file.
fn notion_titles(sim: &Sim, file: &Path) -> Vec<String> {
    let out = synchost()
        .args(["connector", "read"])
        .arg(notion_wasm())
        .args(["--entity", "tasks", "--config"])
        .arg(file)
        .envs(sim.exports.iter().cloned())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut titles: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["deleted"] == false)
        .map(|r| {
            r["fields"]["Name"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    titles.sort();
    titles
}

fn notion_wasm() -> PathBuf {
    synchost::dev::build_connector("synchost-connector-notion").unwrap()
}

fn connector_test(sim: &Sim, file: &Path, extra: &[&str]) -> (bool, String) {
    let out = synchost()
        .args(["connector", "test"])
        .arg(notion_wasm())
        .arg("--connection")
        .arg(file)
        .args(["--entity", "tasks"])
        .args(extra)
        .envs(sim.exports.iter().cloned())
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_suite_passes_against_a_connection_and_leaves_only_what_was_there() {
    let dir = fresh("suite");
    let sim = Sim::start("notion", 5, &dir);
    let file = dir.join("notion.connection.json");
    let before = notion_titles(&sim, &file);
    let cassette = dir.join("cassette");
    let (ok, text) = connector_test(&sim, &file, &["--record", cassette.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(text.contains("checks: 10 passed, 0 failed"), "{text}");
    // The entity was topped up past one page (the resume check ran), and
    // every record the suite wrote is gone again.
    assert!(!text.contains("skip "), "{text}");
    assert!(text.contains("removed the "), "{text}");
    assert_eq!(notion_titles(&sim, &file), before, "{text}");

    // The recorded run replays offline, without the token: every check but
    // the fault check (no platform to put faults in front of) passes again.
    drop(sim);
    let out = synchost()
        .args(["connector", "test"])
        .arg(notion_wasm())
        .arg("--cassette")
        .arg(&cassette)
        .env_remove("SYNCHOST_SIM_TOKEN")
        .output()
        .unwrap();
    let replayed = String::from_utf8_lossy(&out.stdout);
    assert!(
        replayed.contains("checks: 9 passed, 0 failed, 1 skipped"),
        "{replayed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("removed the"));
}

#[test]
fn a_read_only_run_writes_nothing_and_says_the_write_checks_were_skipped() {
    let dir = fresh("read-only");
    let sim = Sim::start("notion", 5, &dir);
    let file = dir.join("notion.connection.json");
    let before = notion_titles(&sim, &file);
    let (ok, text) = connector_test(&sim, &file, &["--read-only"]);
    assert!(!ok, "skips are not passes without --allow-skips: {text}");
    for check in [
        "writes round-trip",
        "each op of a write batch gets its own outcome",
    ] {
        assert!(
            text.contains(&format!("skip  {check} (--read-only (or")),
            "{check}: {text}"
        );
    }
    assert!(text.contains("0 failed"), "{text}");
    assert_eq!(notion_titles(&sim, &file), before, "nothing written");
    let (ok, text) = connector_test(&sim, &file, &["--read-only", "--allow-skips"]);
    assert!(ok, "{text}");
}

#[test]
fn a_connection_without_an_entity_or_with_a_bad_file_is_refused_clearly() {
    let dir = fresh("bad-connection");
    let wasm = notion_wasm();
    let out = synchost()
        .args(["connector", "test"])
        .arg(&wasm)
        .arg("--connection")
        .arg(dir.join("conn.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--entity"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("conn.json"), r#"{"settings": {}, "secretz": {}}"#).unwrap();
    let out = synchost()
        .args(["connector", "test"])
        .arg(&wasm)
        .arg("--connection")
        .arg(dir.join("conn.json"))
        .args(["--entity", "tasks"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("is not a connection") && err.contains("secretz"),
        "{err}"
    );
}
