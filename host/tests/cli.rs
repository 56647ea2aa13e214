//! The README's connector commands, run as a user runs them.

use std::process::Command;

use synchost_sim::items::ItemsSim;

fn synchost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_synchost"));
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache");
    cmd.env("SYNCHOST_CACHE_DIR", cache).env_remove("RUST_LOG");
    cmd
}

fn template() -> std::path::PathBuf {
    synchost::dev::build_connector("synchost-connector-template").unwrap()
}

#[test]
fn inspect_prints_the_descriptor_as_a_table_and_as_json() {
    let wasm = template();
    let out = synchost()
        .args(["connector", "inspect"])
        .arg(&wasm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("name          items"), "{text}");
    assert!(text.contains("https://items.example.com"), "{text}");
    assert!(
        text.contains("bearer token from secret `items_token`"),
        "{text}"
    );

    let out = synchost()
        .args(["connector", "inspect", "--json"])
        .arg(&wasm)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["descriptor"]["name"], "items");
    assert_eq!(json["contract"], "0.2.0");
    assert_eq!(
        json["descriptor"]["capabilities"],
        serde_json::json!(["read", "incremental"])
    );
}

#[test]
fn inspect_of_a_file_that_is_not_a_component_fails_clearly() {
    let junk = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("junk.wasm");
    std::fs::write(&junk, b"hello").unwrap();
    let out = synchost()
        .args(["connector", "inspect"])
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("junk.wasm") && err.contains("not a WebAssembly file"),
        "{err}"
    );
}

#[test]
fn read_prints_every_record_as_json_lines_and_inspect_shows_schemas() {
    let wasm = template();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(ItemsSim::start("cli-token", None)).unwrap();
    for i in 0..120 {
        sim.insert(&format!("item {i}"), i % 2 == 0);
    }
    let config = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("items-conn.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "secrets": {"items_token": "env:CLI_TEST_ITEMS_TOKEN"},
            "endpoint_overrides": {"https://items.example.com": sim.base_url()},
            "allow_private_networks": true
        })
        .to_string(),
    )
    .unwrap();

    let out = synchost()
        .env("CLI_TEST_ITEMS_TOKEN", "cli-token")
        .args(["connector", "read"])
        .arg(&wasm)
        .args(["--entity", "items", "--page-size", "50", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 120);
    assert_eq!(lines[0]["fields"]["name"]["text"], "item 0");
    assert!(String::from_utf8_lossy(&out.stderr).contains("read 120 records in 3 pages"));

    let out = synchost()
        .env("CLI_TEST_ITEMS_TOKEN", "cli-token")
        .args(["connector", "inspect"])
        .arg(&wasm)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("entity items") && text.contains("updated_at") && text.contains("read-only"),
        "{text}"
    );

    // Without the secret the command names what is missing.
    let out = synchost()
        .env_remove("CLI_TEST_ITEMS_TOKEN")
        .args(["connector", "read"])
        .arg(&wasm)
        .args(["--entity", "items", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("items_token") && err.contains("CLI_TEST_ITEMS_TOKEN"),
        "{err}"
    );
}

/// `synchost connector test WASM ARGS`: whether it passed, and what it printed.
fn connector_test(wasm: &std::path::Path, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = synchost()
        .args(["connector", "test"])
        .arg(wasm)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn acceptance(package: &str, simulator: &str) -> (bool, String) {
    let wasm = synchost::dev::build_connector(package).unwrap();
    connector_test(&wasm, &["--simulator".as_ref(), simulator.as_ref()])
}

#[test]
fn the_template_passes_the_acceptance_suite() {
    let wasm = synchost::dev::build_connector("synchost-connector-template").unwrap();
    let (ok, out) = connector_test(
        &wasm,
        &[
            "--simulator".as_ref(),
            "items".as_ref(),
            "--allow-skips".as_ref(),
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("ok    a read resumed from a saved cursor yields the rest exactly once"),
        "{out}"
    );
    assert!(
        out.contains("skip  writes round-trip (the connector does not claim `write`)"),
        "{out}"
    );
    // A skipped check tested nothing: without --allow-skips it is not a pass.
    let (ok, out) = acceptance("synchost-connector-template", "items");
    assert!(!ok, "{out}");
    assert!(out.contains("2 skipped"), "{out}");
}

#[test]
fn the_four_platform_connectors_pass_the_acceptance_suite() {
    for (package, simulator) in [
        ("synchost-connector-hubspot", "hubspot"),
        ("synchost-connector-notion", "notion"),
        ("synchost-connector-airtable", "airtable"),
        ("synchost-connector-salesforce", "salesforce"),
    ] {
        let (ok, out) = acceptance(package, simulator);
        assert!(ok, "{package}: {out}");
        assert!(
            out.contains("checks: 10 passed, 0 failed"),
            "{package}: {out}"
        );
    }
}

#[test]
fn the_acceptance_suite_fails_a_connector_that_does_not_read() {
    let (ok, out) = acceptance("synchost-connector-hostile", "items");
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL  reading every page terminates"), "{out}");
    // It made no request at all: the checks about requests do not pass.
    for check in [
        "the declared rate limit is respected",
        "no request goes to an undeclared host",
    ] {
        assert!(!out.contains(&format!("ok    {check}")), "{check}: {out}");
    }
    assert!(
        out.contains(
            "skip  the declared rate limit is respected (no request reached the platform)"
        ),
        "{out}"
    );
}

#[test]
fn a_new_connector_builds_and_passes_the_acceptance_suite_as_it_stands() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("scaffold-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = synchost()
        .args(["connector", "new", "acme-tasks", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = synchost()
        .args(["connector", "new", "acme-tasks", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!again.status.success(), "never overwrites");
    let bad = synchost()
        .args(["connector", "new", "Bad Name", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("lowercase"));
    // The scaffold's own build, in a target folder kept between test runs.
    let crate_dir = dir.join("acme-tasks");
    let out = synchost()
        .env(
            "CARGO_TARGET_DIR",
            synchost::dev::workspace_root().join("target/scaffold"),
        )
        .args(["connector", "build"])
        .arg(&crate_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = crate_dir.join("acme-tasks.wasm");
    let out = synchost()
        .args(["connector", "test"])
        .arg(&wasm)
        .args(["--simulator", "items", "--allow-skips"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let out = synchost()
        .args(["connector", "inspect", "--json"])
        .arg(&wasm)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["descriptor"]["name"], "acme-tasks");
}

/// `--record DIR` keeps every exchange with the credential redacted;
/// `--cassette DIR` replays the run offline and passes the same checks; a
/// connector that asks what was not recorded fails by name.
#[test]
fn a_recorded_run_replays_offline_without_the_credential() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cassette-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let wasm = synchost::dev::build_connector("synchost-connector-notion").unwrap();
    let (ok, text) = connector_test(
        &wasm,
        &[
            "--simulator".as_ref(),
            "notion".as_ref(),
            "--record".as_ref(),
            dir.as_ref(),
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("recorded into"), "{text}");

    let exchanges = std::fs::read_to_string(dir.join("exchanges.jsonl")).unwrap();
    assert!(exchanges.lines().count() > 20, "{exchanges}");
    // The simulator's token: recorded only as its placeholder.
    assert!(!exchanges.contains("acceptance-token"));
    assert!(
        exchanges.contains("{{secret:"),
        "the auth header's placeholder is kept"
    );
    let fixture = std::fs::read_to_string(dir.join("fixture.json")).unwrap();
    assert!(fixture.contains("\"simulator\": \"notion\""), "{fixture}");

    // Offline, the fault check has no platform to put faults in front of.
    let replay = [
        "--cassette".as_ref(),
        dir.as_os_str(),
        "--allow-skips".as_ref(),
    ];
    let (ok, text) = connector_test(&wasm, &replay);
    assert!(ok, "{text}");
    assert!(
        text.contains("checks: 9 passed, 0 failed, 1 skipped (allowed)"),
        "{text}"
    );

    // A cassette cut short: the connector asks what it holds no answer to.
    let first: Vec<&str> = exchanges.lines().take(3).collect();
    std::fs::write(dir.join("exchanges.jsonl"), first.join("\n")).unwrap();
    let (ok, text) = connector_test(&wasm, &replay);
    assert!(!ok, "{text}");
    assert!(text.contains("has no (further) answer to GET"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
