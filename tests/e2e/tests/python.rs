//! Python connectors, end to end: the SDK's helper and the Directus
//! connector's unit tests under CPython; `synchost connector new --lang
//! python` + `connector build` giving a component that passes the acceptance
//! suite against the items simulator; and connectors/directus-py, built from
//! source, passing it against a real Directus.
//!
//! The CLI runs in-process (see `synchost_e2e::guest`).
//!
//! componentize-py comes from `synchost_e2e::python::componentize_py()`
//! (a pinned install under target/tools/python).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::OnceLock;
use std::time::Instant;

use synchost::acceptance::{self, Fixture};
use synchost_e2e::directus::{Directus, DirectusOptions};
use synchost_e2e::directus_suite;
use synchost_e2e::guest::{self, assert_all_passed, synchost};
use synchost_e2e::python::componentize_py;

/// Points `connector build` at the pinned componentize-py, once per process.
fn tool() -> PathBuf {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        let started = Instant::now();
        let tool = componentize_py();
        eprintln!("componentize-py ready in {:.1?}", started.elapsed());
        // SAFETY: set once, before any build reads it, to the same value.
        unsafe { std::env::set_var("SYNCHOST_COMPONENTIZE_PY", &tool) };
        tool
    })
    .clone()
}

/// `synchost connector build DIR` with the pinned tool.
async fn build(dir: &Path, name: &str) -> PathBuf {
    tool();
    guest::build(dir, name).await
}

/// connectors/directus-py built once for the tests that need it (two builds
/// at once would write the same file).
async fn directus_py() -> PathBuf {
    static WASM: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    WASM.get_or_init(|| async {
        let project = synchost_e2e::root().join("connectors/directus-py");
        build(&project, "directus-py").await
    })
    .await
    .clone()
}

/// A fresh directory under target/tmp for this test.
fn scratch(name: &str) -> PathBuf {
    guest::scratch("python-e2e", name)
}

/// Runs `python3 -m unittest` on `tests/` of `project`, with the generated
/// bindings and `paths` on PYTHONPATH.
fn unittest(project: &Path, paths: &[PathBuf]) {
    let bindings = scratch(&format!(
        "bindings-{}",
        project.file_name().unwrap().to_string_lossy()
    ));
    let out = Command::new(tool())
        .arg("-d")
        .arg(synchost_e2e::root().join("wit/since_v0.2.0"))
        .args(["-w", "connector", "bindings"])
        .arg(&bindings)
        .output()
        .expect("componentize-py bindings");
    assert!(
        out.status.success(),
        "componentize-py bindings: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut path = vec![bindings.clone()];
    path.extend(paths.iter().cloned());
    let out = Command::new("python3")
        .current_dir(project)
        .args(["-m", "unittest", "discover", "-s", "tests"])
        .env("PYTHONPATH", std::env::join_paths(&path).unwrap())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 (install python3 to run the Python connector tests)");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "unittest in {}:\n{text}",
        project.display()
    );
    assert!(text.contains("\nOK"), "{text}");
    let _ = std::fs::remove_dir_all(&bindings);
}

#[test]
fn the_sdk_helper_and_the_directus_connector_pass_their_unit_tests() {
    let root = synchost_e2e::root();
    let sdk = root.join("sdk/python");
    unittest(&sdk, std::slice::from_ref(&sdk));
    let directus = root.join("connectors/directus-py");
    unittest(&directus, &[directus.clone(), sdk]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_python_connector_builds_and_passes_the_acceptance_suite() {
    let dir = scratch("new");
    let code = synchost(&[
        "connector",
        "new",
        "demo",
        "--lang",
        "python",
        "--dir",
        &dir.display().to_string(),
    ])
    .await;
    assert_eq!(code, ExitCode::SUCCESS);
    let project = dir.join("demo");
    for file in [
        "pyproject.toml",
        "app.py",
        "synchost_sdk.py",
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
    let connector = runtime.load(&wasm).await.expect("load the built component");
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
async fn the_python_directus_connector_passes_the_acceptance_suite_against_a_real_directus() {
    let wasm = directus_py().await;
    let directus = Directus::start(DirectusOptions::default());
    let runtime = synchost_e2e::runtime();
    let connector = runtime.load(&wasm).await.expect("load the built component");
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

/// `connector test --connection` with the Python connector: the suite
/// through a connection file to a real Directus, leaving it as it was.
#[tokio::test(flavor = "multi_thread")]
async fn the_python_directus_connector_passes_the_suite_through_a_connection_file() {
    let wasm = directus_py().await;
    let directus = Directus::start_async(DirectusOptions::default()).await;
    directus_suite::assert_suite_passes_through_a_connection_file(
        &synchost_e2e::runtime(),
        &wasm,
        &directus,
        &scratch("suite-connection"),
    )
    .await;
}

/// The Python SDK builds as a wheel with nothing but pip (setuptools comes
/// from the index in pip's isolated build), holding the one module.
#[test]
fn the_python_sdk_builds_as_a_wheel() {
    let venv = tool().parent().unwrap().parent().unwrap().to_path_buf();
    let out_dir = scratch("wheel");
    let sdk = synchost::dev::workspace_root().join("sdk/python");
    let out = std::process::Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
        ])
        .arg(&out_dir)
        .arg(&sdk)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wheel = out_dir.join("synchost_sdk-0.2.0-py3-none-any.whl");
    assert!(wheel.exists(), "no {}", wheel.display());
    let listed = std::process::Command::new(venv.join("bin/python"))
        .args(["-m", "zipfile", "-l"])
        .arg(&wheel)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("synchost_sdk.py"), "{listed}");
    // setuptools leaves its build folders in the source: none are kept.
    let _ = std::fs::remove_dir_all(sdk.join("build"));
    let _ = std::fs::remove_dir_all(sdk.join("synchost_sdk.egg-info"));
}
