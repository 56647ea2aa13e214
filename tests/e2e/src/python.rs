//! componentize-py for the Python connector tests: a virtualenv of its own
//! under `target/tools/python`, made once and shared by every test process.

use std::path::PathBuf;
use std::process::Command;

/// The componentize-py release synchost's Python SDK is tested with; the same
/// pin `synchost connector build` names when the tool is missing.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The pinned componentize-py, installed on first use into a virtualenv under
/// `<repo>/target/tools/python`. Idempotent, and safe when several test
/// processes race: they serialize on a file lock, and the venv counts as
/// ready only once a marker naming the pin is written after a good install.
pub fn componentize_py() -> PathBuf {
    install().unwrap_or_else(|e| panic!("{e}"))
}

fn install() -> Result<PathBuf, String> {
    let tools = crate::root().join("target/tools");
    std::fs::create_dir_all(&tools).map_err(|e| format!("creating {}: {e}", tools.display()))?;
    let venv = tools.join("python");
    let tool = venv.join("bin/componentize-py");
    let marker = venv.join(format!("componentize-py-{COMPONENTIZE_PY_VERSION}.ok"));
    let lock_path = tools.join("python.lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    if marker.exists() && tool.exists() {
        return Ok(tool);
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    if !venv.join("bin/python").exists() {
        crate::guest::run(
            Command::new(&python).args(["-m", "venv"]).arg(&venv),
            &format!("`{python} -m venv` (is python3 with the venv module installed? on Debian: `apt-get install python3 python3-venv`)"),
        )?;
    }
    crate::guest::run(
        Command::new(venv.join("bin/python"))
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("componentize-py=={COMPONENTIZE_PY_VERSION}")),
        &format!(
            "`pip install componentize-py=={COMPONENTIZE_PY_VERSION}` into {} (is pip in the venv? on Debian: `apt-get install python3-pip python3-venv`)",
            venv.display()
        ),
    )?;
    if !tool.exists() {
        return Err(format!(
            "pip installed componentize-py but {} is missing",
            tool.display()
        ));
    }
    std::fs::write(&marker, COMPONENTIZE_PY_VERSION)
        .map_err(|e| format!("writing {}: {e}", marker.display()))?;
    Ok(tool)
    // `lock` is released when dropped here.
}
