//! `sdk/README.md` runs: its shell blocks, in order, in an empty folder, with
//! this build's `synchost` on the PATH — from a new connector to a new
//! version hot-loaded into a running daemon and a broken one refused.

use std::process::Command;

/// The README's `sh` blocks, in order.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn every_command_of_the_sdk_readme_runs() {
    let root = synchost::dev::workspace_root();
    let readme = std::fs::read_to_string(root.join("sdk/README.md")).unwrap();
    let blocks = shell_blocks(&readme);
    assert!(blocks.len() >= 6, "the README's walkthrough: {blocks:?}");

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sdk-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_synchost"), bin.join("synchost")).unwrap();
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();

    // The daemon the script starts is stopped however the script ends.
    let script = format!(
        "DAEMON=\ntrap '[ -n \"$DAEMON\" ] && kill $DAEMON 2>/dev/null; true' EXIT\n{}",
        blocks.join("\n")
    )
    .replace("8686", &free_port().to_string());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        .args(["900", "bash", "-euo", "pipefail", "-c", &script])
        .current_dir(&work)
        .env("PATH", path)
        .env("SYNCHOST_CACHE_DIR", dir.join("cache"))
        // The scaffold's build shares a target folder kept between test runs.
        .env("CARGO_TARGET_DIR", root.join("target/scaffold"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("checks: 8 passed, 0 failed, 2 skipped (allowed)"),
        "{stdout}"
    );
    assert!(stdout.contains("\"status\":\"loaded\""), "{stdout}");
    assert!(
        stdout.contains("rejected; the previous version keeps serving"),
        "{stdout}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("\"acme-items\"") && last.contains("\"0.2.0\""),
        "the last listing shows the new version serving: {last}"
    );
    // The scaffold stands alone: its SDK is the vendored copy, not the checkout.
    let manifest = std::fs::read_to_string(work.join("acme-items/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"path = "vendor/synchost-sdk""#),
        "{manifest}"
    );
    let checkout = root.canonicalize().unwrap();
    assert!(
        !manifest.contains(&*checkout.to_string_lossy()),
        "{manifest}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The Rust SDK is a package of its own: `cargo package` (which builds it
/// from the packaged files alone) passes, so it can go to a registry and a
/// project can depend on it by version.
#[test]
fn the_rust_sdk_passes_cargo_package() {
    let root = synchost::dev::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .args([
            "package",
            "-p",
            "synchost-sdk",
            "--allow-dirty",
            "--target-dir",
        ])
        // Not the test's own target folder: this test's cargo holds its lock.
        .arg(root.join("target/sdk-package"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
