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
