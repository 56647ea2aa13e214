//! JavaScript connectors: an ES module from `sdk/js`, built with
//! componentize-js (npm `@bytecodealliance/componentize-js`), which embeds
//! the SpiderMonkey engine and the module's pre-initialised state in a
//! component.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;

const TEMPLATE: &str = include_str!("../../../../sdk/js/src/connector.js");
const SDK: &str = include_str!("../../../../sdk/js/src/synchost-sdk.js");
/// The template's package.json: it pins componentize-js, for `new` and for the error `build` gives.
const PACKAGE: &str = include_str!("../../../../sdk/js/package.json");
const WIT: &str = include_str!("../../../../wit/since_v0.2.0/connector.wit");

/// Set to a componentize-js CLI to use instead of the project's or PATH's.
const TOOL_ENV: &str = "SYNCHOST_COMPONENTIZE_JS";

/// WASI features componentize-js would otherwise import. The host links
/// WASI 0.2's core interfaces (clocks, random, stdio) with nothing granted,
/// but not `wasi:http`: connectors reach the network only through the
/// contract's `http` import, which the host checks and rate-limits.
const DISABLED_FEATURES: &[&str] = &["http", "fetch-event"];

/// Writes a connector project for `name` into `dir/name`.
pub fn new(name: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    let name = super::connector_name(name)?;
    let root = dir.join(&name);
    anyhow::ensure!(!root.exists(), "{} exists already", root.display());
    std::fs::create_dir_all(root.join("src"))?;
    std::fs::create_dir_all(root.join("wit"))?;
    let package = PACKAGE.replacen("\"name\": \"items\"", &format!("\"name\": \"{name}\""), 1);
    anyhow::ensure!(
        package != PACKAGE,
        "the template's package.json has no name to replace"
    );
    std::fs::write(root.join("package.json"), package)?;
    let code = TEMPLATE.replacen("name: 'items'", &format!("name: '{name}'"), 1);
    anyhow::ensure!(
        code != TEMPLATE,
        "the template's describe() has no name to replace"
    );
    std::fs::write(root.join("src/connector.js"), code)?;
    std::fs::write(root.join("src/synchost-sdk.js"), SDK)?;
    std::fs::write(root.join("wit/connector.wit"), WIT)?;
    std::fs::write(root.join(".gitignore"), "node_modules/\n*.wasm\n")?;
    std::fs::write(
        root.join("README.md"),
        format!(
            "# {name}\n\nA synchost connector in JavaScript, started from the SDK's template: it reads the\n\"items\" API (`https://items.example.com/v1/items`) that synchost simulates. Replace the\nURLs, the entity and the JSON mapping in `src/connector.js` with your platform's;\n`src/synchost-sdk.js` has the helpers (HTTP through the host, typed errors, cursors).\n\n```sh\nnpm install                                             # componentize-js, pinned in package.json\nsynchost connector build {name}                         # -> {name}/{name}.wasm\nsynchost connector test {name}/{name}.wasm --simulator items --allow-skips\nsynchost connector inspect {name}/{name}.wasm\n```\n\n`wit/connector.wit` is the contract the component is built against; do not edit it.\n"
        ),
    )?;
    println!(
        "created {} (run `npm install` in it, then build it with `synchost connector build {}`)",
        root.display(),
        root.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Builds the project in `dir` with componentize-js and puts `NAME.wasm` beside its package.json.
pub fn build(dir: &Path) -> anyhow::Result<ExitCode> {
    let manifest = dir.join("package.json");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("no JavaScript connector project at {}", dir.display()))?;
    let package: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", manifest.display()))?;
    let name = package["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .with_context(|| format!("{} has no `name`", manifest.display()))?;
    let name = super::connector_name(name)?;
    let main = package["main"].as_str().unwrap_or("src/connector.js");
    let source = dir.join(main);
    anyhow::ensure!(
        source.is_file(),
        "{} names `{main}` as its main module, which does not exist",
        manifest.display()
    );
    let wit = dir.join("wit");
    anyhow::ensure!(
        wit.join("connector.wit").is_file(),
        "{} is missing: it is the contract the connector is built against (`synchost connector new` writes it)",
        wit.join("connector.wit").display()
    );
    check_syntax(dir, &source)?;
    // Absolute, since the tool runs inside `dir` and `dir` may be relative.
    let tool = std::path::absolute(componentize_js(dir)?).context("locating componentize-js")?;
    let file = format!("{name}.wasm");
    let status = Command::new(&tool)
        .current_dir(dir)
        .arg(main)
        .arg("--wit")
        .arg("wit")
        .args(["--world-name", "connector"])
        .arg("--disable")
        .args(DISABLED_FEATURES)
        .arg("--out")
        .arg(&file)
        .status()
        .with_context(|| format!("running {}", tool.display()))?;
    anyhow::ensure!(
        status.success(),
        "componentize-js failed on {}",
        source.display()
    );
    let out = dir.join(file);
    anyhow::ensure!(
        out.is_file(),
        "componentize-js succeeded but wrote no {}",
        out.display()
    );
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `node --check` on every module beside the main one: componentize-js
/// reports a syntax error without its file or line, node names both.
fn check_syntax(dir: &Path, main: &Path) -> anyhow::Result<()> {
    let folder = main.parent().unwrap_or(dir);
    let mut modules: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("reading {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "js" || e == "mjs"))
        .collect();
    modules.sort();
    for module in modules {
        let out = match Command::new("node").arg("--check").arg(&module).output() {
            Ok(out) => out,
            // No node: componentize-js, which runs on it, says so next.
            Err(_) => return Ok(()),
        };
        anyhow::ensure!(
            out.status.success(),
            "{} does not parse:\n{}",
            module.display(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(())
}

/// The componentize-js CLI: `$SYNCHOST_COMPONENTIZE_JS`, the project's
/// `node_modules/.bin`, or PATH.
fn componentize_js(dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(tool) = std::env::var_os(TOOL_ENV) {
        let tool = PathBuf::from(tool);
        anyhow::ensure!(
            tool.is_file(),
            "{TOOL_ENV} is {}, which does not exist",
            tool.display()
        );
        return Ok(tool);
    }
    let local = dir.join("node_modules/.bin/componentize-js");
    if local.is_file() {
        return Ok(local);
    }
    if let Some(found) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|p| p.join("componentize-js"))
            .find(|p| p.is_file())
    }) {
        return Ok(found);
    }
    anyhow::bail!(
        "componentize-js is not installed: run `npm install` in {} (it installs {}), or set {TOOL_ENV} to its CLI",
        dir.display(),
        pinned_tool()
    )
}

/// `@bytecodealliance/componentize-js@VERSION`, as the template pins it.
fn pinned_tool() -> String {
    serde_json::from_str::<serde_json::Value>(PACKAGE)
        .ok()
        .and_then(|p| {
            p["devDependencies"]["@bytecodealliance/componentize-js"]
                .as_str()
                .map(|v| format!("@bytecodealliance/componentize-js@{v}"))
        })
        .unwrap_or_else(|| "@bytecodealliance/componentize-js".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_pins_an_exact_componentize_js() {
        let tool = pinned_tool();
        let version = tool.rsplit('@').next().unwrap();
        assert!(
            version.split('.').count() == 3
                && version.chars().all(|c| c.is_ascii_digit() || c == '.'),
            "sdk/js/package.json must pin an exact version, not `{version}`"
        );
    }
}
