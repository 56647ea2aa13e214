//! What the Python and JavaScript connector tests share: the CLI run
//! in-process, scratch folders, a timed `connector build`, the acceptance
//! suite's verdict, and running the tools that install the toolchains.
//!
//! The CLI runs in-process (`synchost::cli::run` on parsed arguments): the
//! e2e crate cannot name the `synchost` binary, and building one from a test
//! would wait on the lock `cargo test` holds on the target directory.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::Parser;
use synchost::acceptance::Check;

/// Runs `synchost ARGS` as the binary would, with the tests' compile cache.
pub async fn synchost(args: &[&str]) -> ExitCode {
    let cache = crate::root().join("target/test-cache");
    let mut argv = vec!["synchost".to_string(), "--cache-dir".into()];
    argv.push(cache.display().to_string());
    argv.extend(args.iter().map(|a| a.to_string()));
    let cli = synchost::cli::Cli::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("synchost {}: {e}", args.join(" ")));
    synchost::cli::run(cli)
        .await
        .unwrap_or_else(|e| panic!("synchost {}: {e:#}", args.join(" ")))
}

/// A fresh directory `target/tmp/GROUP/NAME-PID`.
pub fn scratch(group: &str, name: &str) -> PathBuf {
    let dir = crate::root()
        .join("target/tmp")
        .join(group)
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `synchost connector build DIR`, timed; returns DIR/NAME.wasm. The
/// language's tool must be set up first.
pub async fn build(dir: &Path, name: &str) -> PathBuf {
    let started = Instant::now();
    let code = synchost(&["connector", "build", &dir.display().to_string()]).await;
    assert_eq!(code, ExitCode::SUCCESS, "connector build {}", dir.display());
    let wasm = dir.join(format!("{name}.wasm"));
    let size = std::fs::metadata(&wasm)
        .unwrap_or_else(|e| panic!("{}: {e}", wasm.display()))
        .len();
    eprintln!(
        "built {} ({:.1} MB) in {:.1?}",
        wasm.display(),
        size as f64 / 1e6,
        started.elapsed()
    );
    wasm
}

/// Every check passed, and exactly the checks named were skipped.
pub fn assert_all_passed(checks: &[Check], skipped: &[&str]) {
    let report: Vec<String> = checks
        .iter()
        .map(|c| match (&c.failure, c.skipped) {
            (Some(why), _) => format!("FAIL {}: {why}", c.name),
            (None, true) => format!("skip {}", c.name),
            (None, false) => format!("ok   {}", c.name),
        })
        .collect();
    let report = report.join("\n");
    assert!(checks.len() >= 8, "{report}");
    assert!(!checks.iter().any(Check::failed), "{report}");
    let were_skipped: Vec<&str> = checks
        .iter()
        .filter(|c| c.skipped)
        .map(|c| c.name)
        .collect();
    assert_eq!(were_skipped, skipped, "{report}");
    eprintln!("{report}");
}

/// Runs `cmd`; the error says `what` failed, with its output.
pub(crate) fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("running {what} failed: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The tool at `dir/tool` (`dir` = `<repo>/target/tools/NAME`), installed by
/// `install(dir)` on first use. Idempotent, and safe when several test
/// processes race: they serialize on a file lock, and the install counts as
/// done only once a marker naming `version` is written after a good install.
pub(crate) fn install_once(
    name: &str,
    version: &str,
    tool: &str,
    install: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    let tools = crate::root().join("target/tools");
    std::fs::create_dir_all(&tools).map_err(|e| format!("creating {}: {e}", tools.display()))?;
    let dir = tools.join(name);
    let tool = dir.join(tool);
    let marker = dir.join(format!("{name}-{version}.ok"));
    let lock_path = tools.join(format!("{name}.lock"));
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    if marker.exists() && tool.exists() {
        return Ok(tool);
    }
    install(&dir)?;
    if !tool.exists() {
        return Err(format!(
            "the {name} install finished but {} is missing",
            tool.display()
        ));
    }
    std::fs::write(&marker, version).map_err(|e| format!("writing {}: {e}", marker.display()))?;
    Ok(tool)
    // `lock` is released when dropped here.
}
