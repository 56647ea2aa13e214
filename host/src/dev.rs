//! Building connectors from this source tree: used by `synchost demo` and the
//! test suite, which run the connectors built from source, never prebuilt ones.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace this binary was built from.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the connector crate `package` for wasm32-wasip2 (profile `wasm`) into
/// `target/wasm` and returns the `.wasm`. A separate target directory, because
/// a running `cargo test` holds the lock on the main one.
pub fn build_connector(package: &str) -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    anyhow::ensure!(
        root.join("Cargo.toml").exists(),
        "the synchost source tree is not at {}; pass connector files instead",
        root.display()
    );
    let target_dir = root.join("target/wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "wasm",
            "-p",
            package,
            "--target-dir",
        ])
        .arg(&target_dir)
        .output()?;
    if !output.status.success() {
        anyhow::bail!(
            "building {package} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let path = target_dir
        .join("wasm32-wasip2/wasm")
        .join(format!("{}.wasm", package.replace('-', "_")));
    anyhow::ensure!(path.exists(), "{} was not produced", path.display());
    Ok(path)
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`), for `pid` a
/// process id or `"self"`; `None` once the process is gone (Linux). How the
/// tests and benchmarks measure memory.
pub fn status_kib(pid: impl std::fmt::Display, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits for `child`, reading its `VmHWM` every 5 ms until it exits: its exit
/// status and its peak resident memory in KiB. Not `wait4`'s `ru_maxrss`: a
/// child spawned with vfork starts from its parent's high-water mark, and a
/// test or bench process holds the simulators.
pub fn wait_with_peak(
    mut child: std::process::Child,
) -> std::io::Result<(std::process::ExitStatus, u64)> {
    let mut peak = 0;
    loop {
        peak = peak.max(status_kib(child.id(), "VmHWM").unwrap_or(0));
        if let Some(status) = child.try_wait()? {
            return Ok((status, peak));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
