//! `synchost connector new` and `synchost connector build`: a new connector
//! from one of the SDK's templates, and its build to a `.wasm`. One module
//! per language; `build` knows a project's language by the files it holds.

mod js;
mod python;
mod rust;

use std::path::Path;
use std::process::ExitCode;

/// The languages `connector new --lang` scaffolds.
pub const LANGUAGES: &[&str] = &["rust", "python", "js"];

fn connector_name(name: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && name.starts_with(|c: char| c.is_ascii_lowercase()),
        "a connector name is lowercase letters, digits and `-`, starting with a letter (got `{name}`)"
    );
    Ok(name.to_string())
}

/// Writes a new connector project for `name` into `dir/name`.
pub fn new(name: &str, lang: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    match lang {
        "rust" => rust::new(name, dir),
        "python" => python::new(name, dir),
        "js" => js::new(name, dir),
        other => anyhow::bail!(
            "`--lang {other}`: the languages are {}",
            LANGUAGES.join(", ")
        ),
    }
}

/// Builds the connector project in `dir` to `NAME.wasm` beside its manifest.
pub fn build(dir: &Path) -> anyhow::Result<ExitCode> {
    if dir.join("Cargo.toml").exists() {
        return rust::build(dir);
    }
    if dir.join("pyproject.toml").exists() || dir.join("app.py").exists() {
        return python::build(dir);
    }
    if dir.join("package.json").exists() {
        return js::build(dir);
    }
    anyhow::bail!(
        "{} holds no connector project (a Cargo.toml for Rust, a pyproject.toml for Python, a package.json for JavaScript)",
        dir.display()
    )
}
