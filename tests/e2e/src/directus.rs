//! A real Directus for tests: installed once by `tests/directus/setup.sh`
//! (npm `directus@11.3.5`, shared under `target/tools/directus`), one fresh
//! SQLite instance per [`Directus::start`] on a free loopback port, stopped
//! on drop. A watchdog in the script stops the server too when the test
//! process dies without dropping it, so a killed test run leaves nothing
//! behind.
//!
//! The helpers speak Directus' REST API as an admin would
//! (https://docs.directus.io/reference/items.html,
//! https://docs.directus.io/reference/system/collections.html).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// How to start an instance.
#[derive(Debug, Clone, Default)]
pub struct DirectusOptions {
    /// Directus' own rate limiter: (points, seconds) per client IP; `None`
    /// leaves it off.
    pub rate_limit: Option<(u32, u32)>,
}

/// A running Directus instance, stopped on drop.
pub struct Directus {
    url: String,
    token: String,
    pid: u32,
    dir: PathBuf,
    client: reqwest::Client,
}

fn script() -> PathBuf {
    crate::root().join("tests/directus/setup.sh")
}

/// Fails unless node and npm are on PATH, naming what to install.
fn check_node() -> Result<()> {
    for tool in ["node", "npm"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            bail!(
                "the Directus tests need Node.js (18 or 20) and npm, and `{tool}` is not on PATH: \
                 install them (Debian: `apt-get install nodejs npm`), then rerun; \
                 tests/directus/setup.sh installs Directus itself"
            );
        }
    }
    Ok(())
}

/// Installs Directus unless it is installed (the script is idempotent and
/// serialises concurrent installs with flock).
pub fn install() -> Result<()> {
    check_node()?;
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(script())
        .arg("install")
        .output()
        .context("running tests/directus/setup.sh install")?;
    if !out.status.success() {
        bail!(
            "tests/directus/setup.sh install failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if started.elapsed() > Duration::from_secs(5) {
        eprintln!("directus: installed in {:.0?}", started.elapsed());
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Directus {
    /// [`Directus::start`] off the async runtime's threads (it takes seconds).
    pub async fn start_async(options: DirectusOptions) -> Directus {
        tokio::task::spawn_blocking(move || Directus::start(options))
            .await
            .expect("the thread starting Directus")
    }

    /// Installs if needed and starts a fresh instance; panics with the reason.
    pub fn start(options: DirectusOptions) -> Directus {
        Self::try_start(options).unwrap_or_else(|e| panic!("starting Directus: {e:#}"))
    }

    pub fn try_start(options: DirectusOptions) -> Result<Directus> {
        install()?;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = crate::root()
            .join("target/tmp/directus")
            .join(format!("{}-{n}", std::process::id()));
        let token = format!("test-admin-token-{}-{n}", std::process::id());
        // A port can be taken between the probe and the server's bind: try a few.
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            let mut cmd = Command::new("bash");
            cmd.arg(script())
                .args(["start", &dir.display().to_string(), &port.to_string()])
                .env("DIRECTUS_TOKEN", &token)
                .env("DIRECTUS_WATCH_PID", std::process::id().to_string());
            match options.rate_limit {
                Some((points, secs)) => {
                    cmd.env("DIRECTUS_RATE_LIMIT", points.to_string())
                        .env("DIRECTUS_RATE_DURATION", secs.to_string());
                }
                None => {
                    cmd.env_remove("DIRECTUS_RATE_LIMIT");
                }
            }
            let started = Instant::now();
            let out = cmd
                .output()
                .context("running tests/directus/setup.sh start")?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                last_error = Some(format!(
                    "tests/directus/setup.sh start failed on port {port}:\n{}{}",
                    stdout,
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            }
            let value = |key: &str| {
                stdout
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .map(str::to_string)
                    .with_context(|| format!("setup.sh printed no {key} in:\n{stdout}"))
            };
            let pid: u32 = value("DIRECTUS_PID=")?.parse()?;
            eprintln!(
                "directus: started on port {port} (pid {pid}) in {:.1?}",
                started.elapsed()
            );
            return Ok(Directus {
                url: value("DIRECTUS_URL=")?,
                token: value("DIRECTUS_TOKEN=")?,
                pid,
                dir,
                client: reqwest::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(60))
                    .build()?,
            });
        }
        bail!("{}", last_error.unwrap_or_default())
    }

    /// The instance's origin, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The static admin token.
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("directus.log")).unwrap_or_default()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        // An instance started with a low rate limit answers the helpers 429
        // too: wait as Retry-After says, a few times.
        let mut tries = 0;
        let resp = loop {
            let mut req = self
                .client
                .request(method.clone(), format!("{}{path}", self.url))
                .bearer_auth(&self.token);
            if let Some(body) = &body {
                req = req.json(body);
            }
            let resp = req
                .send()
                .await
                .with_context(|| format!("{method} {path}"))?;
            if resp.status() != reqwest::StatusCode::TOO_MANY_REQUESTS || tries == 5 {
                break resp;
            }
            tries += 1;
            let wait = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_millis(wait.max(1) * 1000)).await;
        };
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("Directus answered {method} {path} with {status}: {text}");
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: {text}"))
    }

    /// Creates collection `name` with an auto-increment `id`, `fields`
    /// (`(name, directus type)`, e.g. `("points", "float")`; a field named
    /// `status` gets a select interface with `choices` when given), and
    /// `date_created`/`date_updated` maintained by Directus.
    pub async fn create_collection(&self, name: &str, fields: &[(&str, &str)]) -> Result<()> {
        let mut all = vec![json!({"field": "id", "type": "integer",
            "meta": {"hidden": true, "readonly": true, "interface": "input"},
            "schema": {"is_primary_key": true, "has_auto_increment": true}})];
        for (field, kind) in fields {
            all.push(
                json!({"field": field, "type": kind, "meta": {"interface": "input"}, "schema": {}}),
            );
        }
        all.push(json!({"field": "date_created", "type": "timestamp",
            "meta": {"special": ["date-created"], "readonly": true, "interface": "datetime"}, "schema": {}}));
        all.push(json!({"field": "date_updated", "type": "timestamp",
            "meta": {"special": ["date-updated"], "readonly": true, "interface": "datetime"}, "schema": {}}));
        self.call(
            reqwest::Method::POST,
            "/collections",
            Some(json!({"collection": name, "schema": {}, "meta": {"accountability": "all"}, "fields": all})),
        )
        .await?;
        Ok(())
    }

    /// A `tasks`-like collection: `name`, `email`, `status` (a select with
    /// `choices`), `points`.
    pub async fn create_tasks(&self, name: &str, choices: &[&str]) -> Result<()> {
        self.create_collection(
            name,
            &[("name", "string"), ("email", "string"), ("points", "float")],
        )
        .await?;
        let choices: Vec<Value> = choices
            .iter()
            .map(|c| json!({"text": c, "value": c}))
            .collect();
        self.call(
            reqwest::Method::POST,
            &format!("/fields/{name}"),
            Some(json!({"field": "status", "type": "string", "schema": {},
                "meta": {"interface": "select-dropdown", "options": {"choices": choices}}})),
        )
        .await?;
        Ok(())
    }

    /// Creates `items` (an array) in one request; returns them as created.
    pub async fn insert(&self, collection: &str, items: Value) -> Result<Vec<Value>> {
        let created = self
            .call(
                reqwest::Method::POST,
                &format!("/items/{collection}"),
                Some(items),
            )
            .await?;
        Ok(created["data"].as_array().cloned().unwrap_or_default())
    }

    /// Creates one item; returns its id.
    pub async fn insert_one(&self, collection: &str, item: Value) -> Result<String> {
        let created = self
            .call(
                reqwest::Method::POST,
                &format!("/items/{collection}"),
                Some(item),
            )
            .await?;
        Ok(created["data"]["id"]
            .to_string()
            .trim_matches('"')
            .to_string())
    }

    pub async fn update(&self, collection: &str, id: &str, patch: Value) -> Result<Value> {
        let updated = self
            .call(
                reqwest::Method::PATCH,
                &format!("/items/{collection}/{id}"),
                Some(patch),
            )
            .await?;
        Ok(updated["data"].clone())
    }

    pub async fn delete(&self, collection: &str, id: &str) -> Result<()> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/items/{collection}/{id}"),
            None,
        )
        .await?;
        Ok(())
    }

    /// Every item of `collection`, by id.
    pub async fn items(&self, collection: &str) -> Result<Vec<Value>> {
        let all = self
            .call(
                reqwest::Method::GET,
                &format!("/items/{collection}?limit=-1&sort=id"),
                None,
            )
            .await?;
        Ok(all["data"].as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Directus {
    fn drop(&mut self) {
        // The server leads a process group of its own (setsid in the script).
        let group = format!("-{}", self.pid);
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let alive = Command::new("kill")
                .args(["-0", &self.pid.to_string()])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !alive {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(std::process::Stdio::null())
            .status();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
