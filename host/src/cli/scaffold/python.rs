//! Python connectors: a project from `sdk/python`, built with componentize-py.
//!
//! A project is `pyproject.toml` (the connector's name, and under
//! `[tool.synchost]` where its WIT and extra Python paths are), `app.py`
//! (the class `Api` componentize-py exports), `synchost_sdk.py` and the
//! contract's WIT under `wit/`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;

/// The componentize-py release the template and the SDK helper are tested with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

const TEMPLATE: &str = include_str!("../../../../sdk/python/template/app.py");
const SDK: &str = include_str!("../../../../sdk/python/synchost_sdk.py");
const WIT: &str = include_str!("../../../../wit/since_v0.2.0/connector.wit");

/// Writes a connector project for `name` into `dir/name`.
pub fn new(name: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    let name = super::connector_name(name)?;
    let root = dir.join(&name);
    anyhow::ensure!(!root.exists(), "{} exists already", root.display());
    let code = TEMPLATE.replacen("NAME = \"items\"", &format!("NAME = \"{name}\""), 1);
    // The name reaches describe() only through this line: fail loudly if the
    // template stops having it rather than ship a connector called "items".
    anyhow::ensure!(
        code.contains(&format!("NAME = \"{name}\"")),
        "the Python template has no `NAME = \"items\"` line to rename"
    );
    std::fs::create_dir_all(root.join("wit"))?;
    std::fs::write(
        root.join("pyproject.toml"),
        format!(
            r#"[project]
name = "{name}"
version = "0.1.0"
description = "A synchost connector"
requires-python = ">=3.10"

# What `synchost connector build` passes to componentize-py.
[tool.synchost]
app = "app"
wit = "wit"
python-path = ["."]
"#
        ),
    )?;
    std::fs::write(root.join("app.py"), code)?;
    std::fs::write(root.join("synchost_sdk.py"), SDK)?;
    std::fs::write(root.join("wit/connector.wit"), WIT)?;
    std::fs::write(root.join(".gitignore"), "*.wasm\n__pycache__/\n")?;
    std::fs::write(
        root.join("README.md"),
        format!(
            "# {name}\n\nA synchost connector in Python, started from the SDK's template: it reads the \"items\"\nAPI (`https://items.example.com/v1/items`) that synchost simulates. Replace the URLs, the\nentity and the JSON mapping in `app.py` with your platform's; `synchost_sdk.py` has the\nHTTP, error, cursor and record helpers, and `wit/connector.wit` is the contract.\n\n```sh\npip install componentize-py=={COMPONENTIZE_PY_VERSION}\nsynchost connector build {name}                         # -> {name}/{name}.wasm\nsynchost connector test {name}/{name}.wasm --simulator items --allow-skips\nsynchost connector inspect {name}/{name}.wasm\n```\n"
        ),
    )?;
    println!(
        "created {} (build it with `synchost connector build {}`)",
        root.display(),
        root.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What `build` reads from `pyproject.toml`.
#[derive(Debug, PartialEq)]
struct Project {
    name: String,
    app: String,
    wit: String,
    python_path: Vec<String>,
}

/// A line-based reading of the few keys `new` writes, enough without a TOML
/// parser: `name` under `[project]`; `app`, `wit`, `python-path` (a one-line
/// array) under `[tool.synchost]`.
fn project(text: &str) -> anyhow::Result<Project> {
    let mut section = "";
    let mut p = Project {
        name: String::new(),
        app: "app".into(),
        wit: "wit".into(),
        python_path: vec![".".into()],
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let string = || value.trim_matches('"').to_string();
        match (section, key) {
            ("[project]", "name") => p.name = string(),
            ("[tool.synchost]", "app") => p.app = string(),
            ("[tool.synchost]", "wit") => p.wit = string(),
            ("[tool.synchost]", "python-path") => {
                let inner = value
                    .strip_prefix('[')
                    .and_then(|v| v.strip_suffix(']'))
                    .context("`python-path` is a one-line array of strings")?;
                p.python_path = inner
                    .split(',')
                    .map(|s| s.trim().trim_matches('"').to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
            _ => {}
        }
    }
    anyhow::ensure!(!p.name.is_empty(), "no `name` under [project]");
    Ok(p)
}

/// componentize-py: `SYNCHOST_COMPONENTIZE_PY`, else the one on PATH.
fn componentize_py() -> PathBuf {
    std::env::var_os("SYNCHOST_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| "componentize-py".into())
}

/// Builds the project in `dir` with componentize-py to `dir/NAME.wasm`.
pub fn build(dir: &Path) -> anyhow::Result<ExitCode> {
    build_with(dir, &componentize_py())
}

fn build_with(dir: &Path, tool: &Path) -> anyhow::Result<ExitCode> {
    let manifest = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("no Python connector project at {}", dir.display()))?;
    let p = project(&text).with_context(|| format!("reading {}", manifest.display()))?;
    let name = super::connector_name(&p.name)?;
    let wit = dir.join(&p.wit);
    anyhow::ensure!(
        wit.exists(),
        "{} does not exist (`wit` under [tool.synchost] in {})",
        wit.display(),
        manifest.display()
    );
    let out = dir.join(format!("{name}.wasm"));
    let mut cmd = Command::new(tool);
    cmd.current_dir(dir)
        .arg("-d")
        .arg(&p.wit)
        .args(["-w", "connector", "--quiet", "componentize"]);
    for path in &p.python_path {
        cmd.arg("-p").arg(path);
    }
    cmd.arg(&p.app).arg("-o").arg(format!("{name}.wasm"));
    let status = match cmd.status() {
        Ok(status) => status,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "`{}` not found: install it with `pip install componentize-py=={COMPONENTIZE_PY_VERSION}`, or set SYNCHOST_COMPONENTIZE_PY to its path",
            tool.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("running {}", tool.display())),
    };
    anyhow::ensure!(
        status.success(),
        "componentize-py failed on {} ({status}); its message is above",
        dir.display()
    );
    anyhow::ensure!(out.exists(), "{} was not produced", out.display());
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_keys_new_writes_and_the_repo_connectors_use() {
        let p = project(
            "[project]\nname = \"directus-py\"\nversion = \"0.1.0\"\n\n[tool.synchost]\napp = \"app\"\nwit = \"../../wit/since_v0.2.0\"\npython-path = [\".\", \"../../sdk/python\"]\n",
        )
        .unwrap();
        assert_eq!(
            p,
            Project {
                name: "directus-py".into(),
                app: "app".into(),
                wit: "../../wit/since_v0.2.0".into(),
                python_path: vec![".".into(), "../../sdk/python".into()],
            }
        );
        let defaults = project("[project]\nname = \"x\"\n").unwrap();
        assert_eq!(defaults.python_path, vec![".".to_string()]);
        assert!(project("[tool.synchost]\nname = \"x\"\n").is_err());
    }

    #[test]
    fn a_new_project_without_componentize_py_names_the_pip_command() {
        let dir = std::env::temp_dir().join(format!("synchost-py-scaffold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        new("shop", &dir).unwrap();
        let root = dir.join("shop");
        let app = std::fs::read_to_string(root.join("app.py")).unwrap();
        assert!(app.contains("NAME = \"shop\""), "{app}");
        assert_eq!(
            project(&std::fs::read_to_string(root.join("pyproject.toml")).unwrap())
                .unwrap()
                .name,
            "shop"
        );
        let err = build_with(&root, Path::new("/nonexistent/componentize-py")).unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("pip install componentize-py==0.25.1"), "{err}");
        assert!(
            new("shop", &dir).is_err(),
            "a second `new` overwrote the project"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
