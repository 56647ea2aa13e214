//! The daemon as a process on loopback, for the tests that drive it over
//! its HTTP API.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Daemon {
    pub child: Child,
    pub url: String,
    pub token: String,
    pub data: PathBuf,
    pub connectors: PathBuf,
}

/// A fresh data folder for a daemon, with the hostile connector (a test
/// connector whose `slow` entity makes runs of a chosen length) in it.
pub fn hostile_data_dir(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("connectors")).unwrap();
    let hostile = synchost::dev::build_connector("synchost-connector-hostile").unwrap();
    std::fs::copy(hostile, dir.join("connectors/hostile.wasm")).unwrap();
    dir
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Daemon {
    /// Starts a daemon on `data` with a copy of the built connectors.
    pub fn start(data: &Path, per_platform: usize) -> Daemon {
        Daemon::start_with(data, &["--per-platform", &per_platform.to_string()], &[])
    }

    /// Starts a daemon on `data` with more arguments and environment.
    pub fn start_with(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let connectors = data.join("connectors");
        std::fs::create_dir_all(&connectors).unwrap();
        for name in ["notion", "airtable"] {
            let to = connectors.join(format!("{name}.wasm"));
            if !to.exists() {
                std::fs::copy(super::connectors().join(format!("{name}.wasm")), to).unwrap();
            }
        }
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_synchost"))
            .args([
                "daemon",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--watch-every",
                "0.2",
                "--data",
            ])
            .arg(data)
            .arg("--connectors")
            .arg(&connectors)
            .args(args)
            .env(
                "SYNCHOST_CACHE_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("sync-cache"),
            )
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::blocking::get(format!("{url}/healthz")).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let token = std::fs::read_to_string(data.join("api-token")).unwrap();
        Daemon {
            child,
            url,
            token,
            data: data.to_path_buf(),
            connectors,
        }
    }

    pub fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    pub fn get(&self, path: &str) -> Value {
        let resp = Self::client()
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().unwrap()
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = Self::client()
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
    }

    pub fn put_connector(&self, name: &str, wasm: Vec<u8>) -> (u16, Value) {
        let resp = Self::client()
            .put(format!("{}/connectors/{name}", self.url))
            .bearer_auth(&self.token)
            .body(wasm)
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
    }

    /// The SHA-256 of the loaded connector `name`.
    pub fn connector_hash(&self, name: &str) -> String {
        let list = self.get("/connectors");
        let found = list
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no connector {name}: {list}"));
        found["sha256"].as_str().unwrap().to_string()
    }

    pub fn runs(&self, job: &str) -> Vec<Value> {
        self.get(&format!("/runs?job={job}&limit=1000"))
            .as_array()
            .unwrap()
            .clone()
    }

    /// Waits until `job` has a run with one of `statuses`, newest first.
    pub fn wait_for_run(&self, job: &str, statuses: &[&str], within: Duration) -> Value {
        let started = Instant::now();
        loop {
            if let Some(run) = self
                .runs(job)
                .into_iter()
                .find(|r| statuses.contains(&r["report"]["status"].as_str().unwrap_or("")))
            {
                return run;
            }
            assert!(
                started.elapsed() < within,
                "no {statuses:?} run of {job} within {within:?}: {:?}",
                self.runs(job)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> String {
        Daemon::client()
            .get(format!("{}/metrics", self.url))
            .bearer_auth(&self.token)
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    /// A webhook delivery, as a platform (or anyone) sends it.
    pub fn post_hook(
        &self,
        sync_id: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = Daemon::client()
            .post(format!("{}/hooks/{sync_id}", self.url))
            .body(body);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().unwrap();
        (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
    }

    /// `GET path` with `token`: status and JSON body.
    pub fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        let resp = Daemon::client()
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
    }

    /// `METHOD path` with `token` and a JSON body: status and JSON body.
    pub fn send_as(&self, token: &str, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let resp = Daemon::client()
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
    }

    /// The daemon's peak resident memory so far, in bytes (Linux).
    pub fn peak_rss(&self) -> u64 {
        synchost::dev::status_kib(self.child.id(), "VmHWM").expect("the daemon's VmHWM") * 1024
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = T> {
    async move { tokio::task::spawn_blocking(f).await.unwrap() }
}

/// The same component with a custom section appended: a new hash, same code.
pub fn new_version_of(wasm: &[u8]) -> Vec<u8> {
    let name = b"synchost-test-build";
    let payload = format!("built at {:?}", Instant::now()).into_bytes();
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    let mut len = section.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(&section);
    out
}
