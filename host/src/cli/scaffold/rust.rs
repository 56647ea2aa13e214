//! Rust connectors: a crate from `sdk/template`, built with cargo.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;

/// The template connector's code, as `new` copies it.
const TEMPLATE: &str = include_str!("../../../../sdk/template/src/lib.rs");

/// Writes a connector crate for `name` into `dir/name`.
pub fn new(name: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    let name = super::connector_name(name)?;
    let root = dir.join(&name);
    anyhow::ensure!(!root.exists(), "{} exists already", root.display());
    let sdk = crate::dev::workspace_root()
        .join("sdk")
        .canonicalize()
        .context("the synchost SDK is not beside this binary's source")?;
    std::fs::create_dir_all(root.join("src"))?;
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
synchost-sdk = {{ path = "{sdk}" }}
serde_json = "1"

[profile.release]
opt-level = "s"
lto = true

# A connector builds on its own, not as part of an enclosing workspace.
[workspace]
"#,
            sdk = sdk.display()
        ),
    )?;
    let code = TEMPLATE.replacen(
        "Descriptor::new(\"items\"",
        &format!("Descriptor::new(\"{name}\""),
        1,
    );
    std::fs::write(root.join("src/lib.rs"), code)?;
    std::fs::write(root.join(".gitignore"), "target/\n*.wasm\n")?;
    std::fs::write(
        root.join("README.md"),
        format!(
            "# {name}\n\nA synchost connector, started from the SDK's template: it reads the \"items\" API\n(`https://items.example.com/v1/items`) that synchost simulates. Replace the URLs, the\nentity and the JSON mapping with your platform's.\n\n```sh\nsynchost connector build {name}                         # -> {name}/{name}.wasm\nsynchost connector test {name}/{name}.wasm --simulator items --allow-skips\nsynchost connector inspect {name}/{name}.wasm\n```\n"
        ),
    )?;
    println!(
        "created {} (build it with `synchost connector build {}`)",
        root.display(),
        root.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Builds the connector crate in `dir` for wasm32-wasip2 and puts `NAME.wasm` beside its Cargo.toml.
pub fn build(dir: &Path) -> anyhow::Result<ExitCode> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("no connector crate at {}", dir.display()))?;
    let name = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("name = ")
                .map(|v| v.trim_matches('"').to_string())
        })
        .with_context(|| format!("{} has no package name", manifest.display()))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(dir)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .status()
        .context("running cargo")?;
    anyhow::ensure!(
        status.success(),
        "the build failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let built: PathBuf = target
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    let out = dir.join(format!("{name}.wasm"));
    std::fs::copy(&built, &out).with_context(|| format!("copying {}", built.display()))?;
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}
