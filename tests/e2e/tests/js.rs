//! JavaScript connectors, end to end: `synchost connector new --lang js` +
//! `connector build` giving a component that passes the acceptance suite
//! against the items simulator; and connectors/directus-js, built from
//! source, passing it against a real Directus.
//!
//! The CLI runs in-process (see `synchost_e2e::guest`).
//!
//! componentize-js comes from `synchost_e2e::js::componentize_js()` (a
//! pinned npm install under target/tools/js). A JS component embeds the
//! SpiderMonkey engine (~12 MB), so its first load compiles for minutes in an
//! unoptimised test build; later loads hit target/test-cache.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

use synchost::acceptance::{self, Fixture};
use synchost_e2e::directus::{Directus, DirectusOptions};
use synchost_e2e::directus_suite;
use synchost_e2e::guest::{self, assert_all_passed, synchost};
use synchost_e2e::js::{componentize_js, copy_project};

/// Points `connector build` at the pinned componentize-js, once per process.
fn tool() -> PathBuf {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        let started = Instant::now();
        let tool = componentize_js();
        eprintln!("componentize-js ready in {:.1?}", started.elapsed());
        // SAFETY: set once, before any build reads it, to the same value.
        unsafe { std::env::set_var("SYNCHOST_COMPONENTIZE_JS", &tool) };
        tool
    })
    .clone()
}

/// `synchost connector build DIR` with the pinned tool.
async fn build(dir: &Path, name: &str) -> PathBuf {
    tool();
    guest::build(dir, name).await
}

/// connectors/directus-js built once, from a copy under target/tmp (so no
/// .wasm lands in the source tree), for the tests that need it.
async fn directus_js() -> PathBuf {
    static WASM: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    WASM.get_or_init(|| async {
        let project = scratch("directus").join("directus-js");
        copy_project(
            &synchost_e2e::root().join("connectors/directus-js"),
            &project,
        )
        .unwrap();
        build(&project, "directus-js").await
    })
    .await
    .clone()
}

/// A fresh directory under target/tmp for this test.
fn scratch(name: &str) -> PathBuf {
    guest::scratch("js-e2e", name)
}

/// Loads `wasm`, timing the compile (or the cache hit).
async fn load(
    runtime: &synchost::runtime::Runtime,
    wasm: &Path,
) -> std::sync::Arc<synchost::runtime::LoadedConnector> {
    let started = Instant::now();
    let connector = runtime
        .load(wasm)
        .await
        .unwrap_or_else(|e| panic!("loading {}: {e}", wasm.display()));
    eprintln!(
        "loaded {} ({:?}) in {:.1?}",
        wasm.display(),
        connector.source,
        started.elapsed()
    );
    connector
}

/// A project keeps its own copy of the SDK helper and the WIT (it builds on
/// its own); the copies in the repository must not drift from the sources.
#[test]
fn the_directus_connector_carries_the_current_sdk_and_contract() {
    let root = synchost_e2e::root();
    for (copy, source) in [
        (
            "connectors/directus-js/src/synchost-sdk.js",
            "sdk/js/src/synchost-sdk.js",
        ),
        (
            "connectors/directus-js/wit/connector.wit",
            "wit/since_v0.2.0/connector.wit",
        ),
        (
            "connectors/directus-js/test/host.mjs",
            "sdk/js/test/host.mjs",
        ),
    ] {
        let read =
            |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(
            read(copy) == read(source),
            "{copy} differs from {source}: copy it again (`cp {source} {copy}`)"
        );
    }
}

/// Runs the project's unit tests under Node (`node:test`), with the
/// contract's imports answered by `test/host.mjs`.
fn node_unit_tests(project: &Path) {
    let tests: Vec<PathBuf> = std::fs::read_dir(project.join("test"))
        .unwrap_or_else(|e| panic!("{}/test: {e}", project.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        .collect();
    assert!(
        !tests.is_empty(),
        "{}/test has no *.test.js",
        project.display()
    );
    let out = std::process::Command::new("node")
        .current_dir(project)
        .args([
            "--import",
            "./test/host.mjs",
            "--test",
            "--test-reporter=tap",
        ])
        .args(&tests)
        .output()
        .expect("node (install Node.js 20 to run the JavaScript connector tests)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node --test in {}:\n{text}{}",
        project.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("\n# fail 0"), "{text}");
}

#[test]
fn the_sdk_helper_the_template_and_the_directus_connector_pass_their_unit_tests() {
    let root = synchost_e2e::root();
    node_unit_tests(&root.join("sdk/js"));
    node_unit_tests(&root.join("connectors/directus-js"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_js_connector_builds_and_passes_the_acceptance_suite() {
    let dir = scratch("new");
    let code = synchost(&[
        "connector",
        "new",
        "demo",
        "--lang",
        "js",
        "--dir",
        &dir.display().to_string(),
    ])
    .await;
    assert_eq!(code, ExitCode::SUCCESS);
    let project = dir.join("demo");
    for file in [
        "package.json",
        "src/connector.js",
        "src/synchost-sdk.js",
        "wit/connector.wit",
        "README.md",
        ".gitignore",
    ] {
        assert!(
            project.join(file).exists(),
            "`connector new` wrote no {file}"
        );
    }
    let wasm = build(&project, "demo").await;

    let runtime = synchost_e2e::runtime();
    let connector = load(&runtime, &wasm).await;
    assert_eq!(
        connector.descriptor.name, "demo",
        "the project's name reaches describe()"
    );
    assert_eq!(connector.descriptor.contract, "0.2.0");

    let started = Instant::now();
    let checks = acceptance::run(&runtime, &wasm, "items").await.unwrap();
    eprintln!("acceptance suite in {:.1?}", started.elapsed());
    assert_all_passed(
        &checks,
        &[
            "writes round-trip",
            "each op of a write batch gets its own outcome",
        ],
    );
    // The CLI's own `connector test` agrees (the component is compiled by now).
    let code = synchost(&[
        "connector",
        "test",
        &wasm.display().to_string(),
        "--simulator",
        "items",
        "--allow-skips",
    ])
    .await;
    assert_eq!(code, ExitCode::SUCCESS);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_js_directus_connector_passes_the_acceptance_suite_against_a_real_directus() {
    let wasm = directus_js().await;
    let directus = Directus::start_async(DirectusOptions::default()).await;
    let runtime = synchost_e2e::runtime();
    let connector = load(&runtime, &wasm).await;
    assert_eq!(connector.descriptor.hosts, vec!["{{setting:url}}"]);
    assert_eq!(
        connector.descriptor.max_batch,
        Some(100),
        "one create batch a write call"
    );
    let fixture = Fixture::directus(directus.url(), directus.token(), acceptance::RECORDS)
        .await
        .expect("seed a Directus collection");
    directus_suite::assert_lists_the_collection(&runtime, &connector, &fixture).await;
    let started = Instant::now();
    let checks = acceptance::run_with(&runtime, connector, fixture)
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", directus.log()));
    eprintln!(
        "acceptance suite against Directus in {:.1?}",
        started.elapsed()
    );
    assert_all_passed(&checks, &[]);
}

/// `connector test --connection` with the JavaScript connector: the suite
/// through a connection file to a real Directus, leaving it as it was.
#[tokio::test(flavor = "multi_thread")]
async fn the_js_directus_connector_passes_the_suite_through_a_connection_file() {
    let wasm = directus_js().await;
    let directus = Directus::start_async(DirectusOptions::default()).await;
    directus_suite::assert_suite_passes_through_a_connection_file(
        &synchost_e2e::runtime(),
        &wasm,
        &directus,
        &scratch("directus-connection"),
    )
    .await;
}

/// The JavaScript SDK is a package of its own (`sdk/js/src/package.json`):
/// `npm pack` makes `synchost-sdk-0.2.0.tgz` holding the one module, for a
/// registry; a scaffold copies the module meanwhile, so a project needs none.
#[test]
fn the_js_sdk_packs_with_npm_pack() {
    let dir = synchost::dev::workspace_root().join("sdk/js/src");
    let out = std::process::Command::new("npm")
        .args(["pack", "--dry-run", "--json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(packed[0]["filename"], "synchost-sdk-0.2.0.tgz");
    let files: Vec<&str> = packed[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["package.json", "synchost-sdk.js"]);
}
