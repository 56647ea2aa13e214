//! The Salesforce simulator, driven over HTTP as a connector would drive the
//! Salesforce REST API.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use synchost_sim::clock::Clock;
use synchost_sim::salesforce::{oauth_signature, SalesforceOptions, SalesforceSim};

const TOKEN: &str = "00D5g00000SIMORG!AR8AQtest_token";
const V: &str = "/services/data/v59.0";

async fn sim_with(daily_limit: Option<u64>, clock: Clock) -> SalesforceSim {
    SalesforceSim::start(SalesforceOptions {
        access_token: TOKEN.into(),
        // Tests that move the clock by days keep their session; token
        // expiry has a test of its own.
        token_ttl: Duration::days(3650),
        daily_limit,
        clock,
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn sim() -> SalesforceSim {
    sim_with(None, Clock::default()).await
}

thread_local! {
    // One client per test (each #[tokio::test] runs on its own thread).
    static CLIENT: reqwest::Client = reqwest::Client::new();
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

async fn raw(
    sim: &SalesforceSim,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut req = CLIENT.with(|c| c.request(method, format!("{}{path}", sim.base_url())));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

async fn call(sim: &SalesforceSim, method: Method, path: &str, body: Option<Value>) -> Reply {
    let auth = format!("Bearer {TOKEN}");
    raw(sim, method, path, &[("authorization", &auth)], body).await
}

/// Every byte but letters and digits percent-encoded.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET .../query?q=` with the query percent-encoded, as a client must.
async fn query(sim: &SalesforceSim, soql: &str, batch: Option<u32>) -> Reply {
    let auth = format!("Bearer {TOKEN}");
    let option = batch.map(|n| format!("batchSize={n}"));
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(o) = &option {
        headers.push(("sforce-query-options", o.as_str()));
    }
    raw(
        sim,
        Method::GET,
        &format!("{V}/query?q={}", encode(soql)),
        &headers,
        None,
    )
    .await
}

fn ids(r: &Reply) -> Vec<String> {
    r.body["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.text))
        .iter()
        .map(|x| x["Id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body[0]["errorCode"], code, "{}", r.text);
    assert!(r.body[0]["message"].is_string(), "{}", r.text);
}

fn contact(i: usize) -> Value {
    json!({ "FirstName": "Ada", "LastName": format!("Contact {i}"), "Email": format!("c{i}@example.com") })
}

fn stamp(sim: &SalesforceSim, id: &str) -> String {
    sim.record(id).unwrap()["SystemModstamp"]
        .as_str()
        .unwrap()
        .to_string()
}

#[path = "salesforce/collections.rs"]
mod collections;
#[path = "salesforce/deleted.rs"]
mod deleted;
#[path = "salesforce/limits.rs"]
mod limits;
#[path = "salesforce/queries.rs"]
mod queries;
#[path = "salesforce/wide.rs"]
mod wide;
