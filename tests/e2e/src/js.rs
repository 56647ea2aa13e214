//! componentize-js for the JavaScript connector tests: an npm project of its
//! own under `target/tools/js`, installed once and shared by every test process.

use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "@bytecodealliance/componentize-js";

/// The componentize-js version the JS SDK pins (`sdk/js/package.json`), which
/// is also what `synchost connector new --lang js` writes into a project.
pub fn componentize_js_version() -> String {
    let manifest = crate::root().join("sdk/js/package.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("reading {}: {e}", manifest.display()));
    let json: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", manifest.display()));
    let version = json["devDependencies"][PACKAGE]
        .as_str()
        .unwrap_or_else(|| panic!("{} pins no {PACKAGE}", manifest.display()));
    assert!(
        version.chars().all(|c| c.is_ascii_digit() || c == '.'),
        "{} must pin an exact {PACKAGE} version, not `{version}`",
        manifest.display()
    );
    version.to_string()
}

/// The pinned componentize-js CLI, installed on first use with npm under
/// `<repo>/target/tools/js`. Idempotent, and safe when several test
/// processes race: they serialize on a file lock, and the install counts as
/// done only once a marker naming the pin is written after a good install.
pub fn componentize_js() -> PathBuf {
    install().unwrap_or_else(|e| panic!("{e}"))
}

fn install() -> Result<PathBuf, String> {
    let version = componentize_js_version();
    crate::guest::install_once("js", &version, "node_modules/.bin/componentize-js", |dir| {
        crate::guest::run(
            Command::new("node").arg("--version"),
            "`node --version` (is Node.js 20 or later installed? on Debian: `apt-get install nodejs npm`)",
        )?;
        // npm run over a tree a broken or older install left behind was seen
        // to prune a package componentize-js needs: start from nothing.
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        std::fs::write(
            dir.join("package.json"),
            format!(
                "{{\n  \"private\": true,\n  \"description\": \"componentize-js for synchost's tests\",\n  \"devDependencies\": {{ \"{PACKAGE}\": \"{version}\" }}\n}}\n"
            ),
        )
        .map_err(|e| format!("writing {}: {e}", dir.join("package.json").display()))?;
        crate::guest::run(
            Command::new("npm")
                .current_dir(dir)
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error"]),
            &format!(
                "`npm install {PACKAGE}@{version}` in {} (is npm installed? on Debian: `apt-get install npm`)",
                dir.display()
            ),
        )
    })
}

/// Copies the JS project at `from` into `to` (skipping `node_modules` and
/// built components), so a test builds it without touching the repo.
pub fn copy_project(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let path = entry.path();
        if name == "node_modules" || path.extension().is_some_and(|e| e == "wasm") {
            continue;
        }
        if entry.file_type()?.is_dir() {
            copy_project(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name))?;
        }
    }
    Ok(())
}
