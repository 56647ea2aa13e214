//! Rust connectors: a crate from `sdk/template`, built with cargo.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;

/// The template connector's code, as `new` copies it.
const TEMPLATE: &str = include_str!("../../../../sdk/template/src/lib.rs");

/// The Rust SDK this binary was built with, as `new` vendors it into a
/// project: a scaffold then builds on a machine that has the `synchost`
/// binary and cargo, and no checkout. (`sdk_sources_are_all_vendored`
/// keeps the list whole.)
const SDK_SOURCES: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../../../../sdk/src/lib.rs")),
    (
        "src/builders.rs",
        include_str!("../../../../sdk/src/builders.rs"),
    ),
    (
        "src/cursor.rs",
        include_str!("../../../../sdk/src/cursor.rs"),
    ),
    (
        "src/errors.rs",
        include_str!("../../../../sdk/src/errors.rs"),
    ),
    ("src/http.rs", include_str!("../../../../sdk/src/http.rs")),
    ("src/log.rs", include_str!("../../../../sdk/src/log.rs")),
    (
        "src/settings.rs",
        include_str!("../../../../sdk/src/settings.rs"),
    ),
    (
        "src/signature.rs",
        include_str!("../../../../sdk/src/signature.rs"),
    ),
    ("src/time.rs", include_str!("../../../../sdk/src/time.rs")),
    (
        "wit/connector.wit",
        include_str!("../../../../wit/since_v0.2.0/connector.wit"),
    ),
];

/// The vendored SDK's manifest: the workspace's versions, written out.
const SDK_MANIFEST: &str = r#"[package]
name = "synchost-sdk"
description = "Write a synchost connector: implement one trait, call one macro, build for wasm32-wasip2"
version = "0.2.0"
edition = "2021"
license = "Apache-2.0"
publish = false

[dependencies]
wit-bindgen = { version = "0.61", default-features = false, features = ["macros", "realloc", "std"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
base64 = "0.22"
"#;

/// Writes the SDK into `dir` (`vendor/synchost-sdk` of a new project).
fn vendor_sdk(dir: &Path) -> anyhow::Result<()> {
    for (path, text) in SDK_SOURCES {
        let to = dir.join(path);
        std::fs::create_dir_all(to.parent().expect("a file in a folder"))?;
        std::fs::write(&to, text).with_context(|| format!("writing {}", to.display()))?;
    }
    std::fs::write(dir.join("Cargo.toml"), SDK_MANIFEST)?;
    Ok(())
}

/// Writes a connector crate for `name` into `dir/name`.
pub fn new(name: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    let name = super::connector_name(name)?;
    let root = dir.join(&name);
    anyhow::ensure!(!root.exists(), "{} exists already", root.display());
    std::fs::create_dir_all(root.join("src"))?;
    vendor_sdk(&root.join("vendor/synchost-sdk"))?;
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
# The SDK this synchost was built with (contract 0.2.0), vendored: it is not
# on a registry, and the project builds with no synchost checkout around.
synchost-sdk = {{ path = "vendor/synchost-sdk" }}
serde_json = "1"

[profile.release]
opt-level = "s"
lto = true

# A connector builds on its own, not as part of an enclosing workspace.
[workspace]
"#
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_sources_are_all_vendored() {
        let src = crate::dev::workspace_root().join("sdk/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| format!("src/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut vendored: Vec<String> = SDK_SOURCES
            .iter()
            .map(|(p, _)| p.to_string())
            .filter(|p| p.starts_with("src/"))
            .collect();
        vendored.sort();
        assert_eq!(vendored, on_disk, "add the SDK's new files to SDK_SOURCES");
        // The SDK carries its contract inside its package (so that it
        // packages and vendors whole): a copy of the frozen WIT, kept equal.
        let root = crate::dev::workspace_root();
        assert_eq!(
            std::fs::read(root.join("sdk/wit/connector.wit")).unwrap(),
            std::fs::read(root.join("wit/since_v0.2.0/connector.wit")).unwrap(),
            "sdk/wit/connector.wit differs from the frozen wit/since_v0.2.0"
        );
        let manifest =
            std::fs::read_to_string(crate::dev::workspace_root().join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(r#"wit-bindgen = { version = "0.61""#),
            "the vendored manifest's wit-bindgen follows the workspace's"
        );
    }
}
