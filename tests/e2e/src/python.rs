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
    crate::guest::install_once(
        "python",
        COMPONENTIZE_PY_VERSION,
        "bin/componentize-py",
        |venv| {
            let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
            if !venv.join("bin/python").exists() {
                crate::guest::run(
                Command::new(&python).args(["-m", "venv"]).arg(venv),
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
        )
        },
    )
}
