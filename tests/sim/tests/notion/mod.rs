//! The simulator over HTTP: size limits counted as the API counts them,
//! references cut short in page objects and the property item endpoint, both
//! API versions and multi-source databases, overload answers. Included by
//! `tests/sim/tests/notion.rs`.

mod limits;
mod references;
mod versions;

use reqwest::Method;
use serde_json::Value;

use synchost_sim::notion::{NotionOptions, NotionSim};

pub(super) const TOKEN: &str = "secret_sim_notion";
pub(super) const LEGACY: &str = "2022-06-28";
pub(super) const CURRENT: &str = "2025-09-03";

pub(super) async fn sim() -> NotionSim {
    NotionSim::start(NotionOptions {
        rate_limit: None,
        ..Default::default()
    })
    .await
    .unwrap()
}

pub(super) struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// A request with the token and `version` as `Notion-Version`.
pub(super) async fn call(
    sim: &NotionSim,
    version: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let client = reqwest::Client::new();
    let mut req = client
        .request(method, format!("{}{path}", sim.base_url()))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("notion-version", version);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

pub(super) fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["object"], "error", "{}", r.body);
    assert_eq!(r.body["code"], code, "{}", r.body);
}

pub(super) fn title(s: &str) -> Value {
    serde_json::json!({"Name": {"title": [{"text": {"content": s}}]}})
}
