//! The HubSpot simulator, driven over HTTP as a connector would drive HubSpot.

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use synchost_sim::clock::Clock;
use synchost_sim::hubspot::{BatchResults, HubSpotOptions, HubSpotSim, RateLimit};

const TOKEN: &str = "pat-na1-sim-hubspot";

/// A simulator without rate limits, unless a test asks for them.
async fn sim_with(opts: HubSpotOptions) -> HubSpotSim {
    HubSpotSim::start(opts).await.unwrap()
}

async fn sim() -> HubSpotSim {
    sim_with(HubSpotOptions {
        rate_limit: None,
        search_per_second: None,
        daily_budget: None,
        ..Default::default()
    })
    .await
}

thread_local! {
    // One client per test (each #[tokio::test] runs on its own thread).
    static CLIENT: reqwest::Client = reqwest::Client::new();
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn raw(
    sim: &HubSpotSim,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Reply {
    let mut req = CLIENT.with(|c| c.request(method, format!("{}{path}", sim.base_url())));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
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

async fn call(sim: &HubSpotSim, method: Method, path: &str, body: Option<Value>) -> Reply {
    raw(sim, method, path, Some(TOKEN), body.map(|b| b.to_string())).await
}

async fn get(sim: &HubSpotSim, path: &str) -> Reply {
    call(sim, Method::GET, path, None).await
}

async fn post(sim: &HubSpotSim, path: &str, body: Value) -> Reply {
    call(sim, Method::POST, path, Some(body)).await
}

fn ids(r: &Reply) -> Vec<String> {
    r.body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {}", r.body))
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_error(r: &Reply, status: u16, category: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["status"], "error", "{}", r.body);
    assert_eq!(r.body["category"], category, "{}", r.body);
    assert!(r.body["message"].is_string() && r.body["correlationId"].is_string());
}

fn contact(i: usize) -> Value {
    json!({"email": format!("person{i}@example.com"), "firstname": format!("Person {i}"), "lastname": "Sim"})
}

fn seed(sim: &HubSpotSim, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| sim.insert("contacts", contact(i)).unwrap())
        .collect()
}

#[tokio::test]
async fn list_returns_every_record_exactly_once_in_pages_of_at_most_100() {
    let sim = sim().await;
    let inserted = seed(&sim, 250);
    let (mut seen, mut sizes, mut after) = (Vec::new(), Vec::new(), None::<String>);
    loop {
        let mut path = "/crm/v3/objects/contacts?limit=100".to_string();
        if let Some(a) = &after {
            path.push_str(&format!("&after={}", a.replace('=', "%3D")));
        }
        let r = get(&sim, &path).await;
        assert_eq!(r.status, 200, "{}", r.body);
        sizes.push(ids(&r).len());
        seen.extend(ids(&r));
        after = r.body["paging"]["next"]["after"].as_str().map(String::from);
        if let Some(a) = &after {
            let link = r.body["paging"]["next"]["link"].as_str().unwrap();
            assert!(link.starts_with("https://api.hubapi.com/crm/v3/objects/contacts?after="));
            assert!(!a.is_empty());
        } else {
            assert!(r.body.get("paging").is_none());
            break;
        }
    }
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(seen, inserted, "every record once, in id order");
    assert_eq!(sim.request_count(), 3);
    // Defaults and bounds of `limit`.
    assert_eq!(ids(&get(&sim, "/crm/v3/objects/contacts").await).len(), 10);
    let r = get(&sim, "/crm/v3/objects/contacts?limit=101").await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    let r = get(&sim, "/crm/v3/objects/contacts?after=not-a-cursor").await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    let r = get(&sim, "/crm/v3/objects/tickets").await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    assert_eq!(
        r.body["message"],
        "Unable to infer object type from: tickets"
    );
}

#[tokio::test]
async fn records_carry_default_or_requested_properties() {
    let sim = sim().await;
    let id = sim.insert("contacts", contact(1)).unwrap();
    let r = get(&sim, "/crm/v3/objects/contacts").await;
    let record = &r.body["results"][0];
    assert_eq!(record["id"], id.as_str());
    assert_eq!(record["archived"], false);
    let names: HashSet<&str> = record["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let defaults = [
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ];
    assert_eq!(names, defaults.into_iter().collect());
    assert_eq!(record["properties"]["hs_object_id"], id.as_str());
    assert_eq!(
        record["properties"]["lastmodifieddate"],
        record["updatedAt"]
    );
    assert_eq!(record["properties"]["createdate"], record["createdAt"]);
    let created = record["createdAt"].as_str().unwrap();
    assert!(DateTime::parse_from_rfc3339(created).is_ok() && created.ends_with('Z'));
    // Named properties: unset ones are null, unknown ones are ignored, the
    // system ones are always there.
    let r = get(&sim, "/crm/v3/objects/contacts?properties=email,phone,nope").await;
    let props = r.body["results"][0]["properties"].as_object().unwrap();
    assert_eq!(props["email"], "person1@example.com");
    assert_eq!(props["phone"], Value::Null);
    assert!(!props.contains_key("nope") && !props.contains_key("firstname"));
    assert!(props.contains_key("hs_object_id") && props.contains_key("lastmodifieddate"));
    // Companies and deals name their last-modified date hs_lastmodifieddate.
    let company = sim
        .insert(
            "companies",
            json!({"name": "Acme", "numberofemployees": 12}),
        )
        .unwrap();
    let r = get(
        &sim,
        &format!("/crm/v3/objects/companies/{company}?properties=numberofemployees"),
    )
    .await;
    assert_eq!(r.body["properties"]["numberofemployees"], "12");
    assert!(r.body["properties"]["hs_lastmodifieddate"].is_string());
}

#[tokio::test]
async fn archived_records_leave_lists_and_are_listed_with_archived_true() {
    let clock = Clock::default();
    let sim = sim_with(HubSpotOptions {
        rate_limit: None,
        clock: clock.clone(),
        ..Default::default()
    })
    .await;
    let ids_ = seed(&sim, 5);
    clock.advance(Duration::seconds(30));
    let r = call(
        &sim,
        Method::DELETE,
        &format!("/crm/v3/objects/contacts/{}", ids_[1]),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    // Archiving twice is still 204.
    let r = call(
        &sim,
        Method::DELETE,
        &format!("/crm/v3/objects/contacts/{}", ids_[1]),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let active = get(&sim, "/crm/v3/objects/contacts?limit=100").await;
    assert_eq!(ids(&active).len(), 4);
    assert!(!ids(&active).contains(&ids_[1]));
    let archived = get(&sim, "/crm/v3/objects/contacts?archived=true").await;
    assert_eq!(ids(&archived), [ids_[1].clone()]);
    let tomb = &archived.body["results"][0];
    assert_eq!(tomb["archived"], true);
    let at = tomb["archivedAt"].as_str().unwrap();
    let at: DateTime<Utc> = at.parse().unwrap();
    assert!((at - clock.now()).num_seconds().abs() < 5);
    let path = format!("/crm/v3/objects/contacts/{}", ids_[1]);
    assert_error(&get(&sim, &path).await, 404, "OBJECT_NOT_FOUND");
    assert_eq!(
        get(&sim, &format!("{path}?archived=true")).await.status,
        200
    );
    // Archived records cannot be updated; they can be restored.
    let r = call(
        &sim,
        Method::PATCH,
        &path,
        Some(json!({"properties": {"firstname": "x"}})),
    )
    .await;
    assert_error(&r, 404, "OBJECT_NOT_FOUND");
    sim.restore("contacts", &ids_[1]).unwrap();
    assert_eq!(get(&sim, &path).await.status, 200);
}

#[tokio::test]
async fn list_paging_is_stable_while_records_change() {
    let sim = sim().await;
    let all = seed(&sim, 50);
    let first = get(&sim, "/crm/v3/objects/contacts?limit=10").await;
    assert_eq!(ids(&first), all[..10].to_vec());
    for i in [2, 20, 30] {
        sim.update("contacts", &all[i], json!({"firstname": "edited"}))
            .unwrap();
    }
    sim.archive("contacts", &all[40]).unwrap();
    let added = sim.insert("contacts", contact(99)).unwrap();
    let mut seen = ids(&first);
    let mut after = first.body["paging"]["next"]["after"]
        .as_str()
        .map(String::from);
    while let Some(a) = after {
        let r = get(
            &sim,
            &format!("/crm/v3/objects/contacts?limit=10&after={a}"),
        )
        .await;
        seen.extend(ids(&r));
        after = r.body["paging"]["next"]["after"].as_str().map(String::from);
    }
    let mut expected: Vec<String> = all.iter().filter(|i| **i != all[40]).cloned().collect();
    expected.push(added);
    assert_eq!(
        seen, expected,
        "each record once, edits do not move records between pages"
    );
}

fn since_filter(property: &str, value: Value) -> Value {
    json!({"filterGroups": [{"filters": [{"propertyName": property, "operator": "GTE", "value": value}]}],
           "sorts": [{"propertyName": property, "direction": "ASCENDING"}]})
}

#[tokio::test]
async fn search_filters_by_last_modified_date_sorted_ascending() {
    let clock = Clock::default();
    let sim = sim_with(HubSpotOptions {
        rate_limit: None,
        search_per_second: None,
        clock: clock.clone(),
        ..Default::default()
    })
    .await;
    let all = seed(&sim, 30);
    clock.advance(Duration::seconds(10));
    let cut = clock.now();
    clock.advance(Duration::seconds(1));
    for i in [25, 3, 17] {
        sim.update("contacts", &all[i], json!({"lastname": "Changed"}))
            .unwrap();
        clock.advance(Duration::milliseconds(5));
    }
    sim.archive("contacts", &all[17]).unwrap();
    // Milliseconds or ISO 8601, same answer; archived records never match.
    for value in [
        json!(cut.timestamp_millis().to_string()),
        json!(cut.to_rfc3339()),
    ] {
        let r = post(
            &sim,
            "/crm/v3/objects/contacts/search",
            since_filter("lastmodifieddate", value),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["total"], 2);
        assert_eq!(ids(&r), [all[25].clone(), all[3].clone()]);
        assert_eq!(r.body["results"][0]["properties"]["lastname"], "Changed");
        assert!(r.body.get("paging").is_none());
    }
    // Offset paging with `after`.
    let mut body = since_filter("lastmodifieddate", json!("0"));
    body["limit"] = json!(12);
    let r = post(&sim, "/crm/v3/objects/contacts/search", body.clone()).await;
    assert_eq!((r.body["total"].as_u64(), ids(&r).len()), (Some(29), 12));
    assert_eq!(r.body["paging"]["next"]["after"], "12");
    body["after"] = json!("24");
    let r = post(&sim, "/crm/v3/objects/contacts/search", body).await;
    assert_eq!(ids(&r).len(), 5);
    assert_eq!(ids(&r)[4], all[3]);
    // Companies filter on hs_lastmodifieddate.
    sim.insert("companies", json!({"name": "Acme"})).unwrap();
    let r = post(
        &sim,
        "/crm/v3/objects/companies/search",
        since_filter("hs_lastmodifieddate", json!("0")),
    )
    .await;
    assert_eq!(r.body["total"], 1);
}

#[tokio::test]
async fn search_requests_are_validated() {
    let sim = sim().await;
    seed(&sim, 3);
    let path = "/crm/v3/objects/contacts/search";
    let too_many_groups: Vec<Value> = (0..6)
        .map(|_| json!({"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}))
        .collect();
    for body in [
        json!({"limit": 201}),
        json!({"after": "10000"}),
        json!({"filterGroups": too_many_groups}),
        json!({"sorts": ["createdate", "-lastname"]}),
        json!({"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "x"}]}]}),
        json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}]}),
        json!({"properties": vec!["email"; 400]}),
    ] {
        let r = post(&sim, path, body.clone()).await;
        assert_error(&r, 400, "VALIDATION_ERROR");
    }
    let r = call(&sim, Method::POST, path, None).await;
    assert_eq!((r.status, r.body["total"].as_u64()), (200, Some(3)));
    assert_eq!(ids(&r).len(), 3, "no body: every record, 10 at most");
    let r = post(
        &sim,
        path,
        json!({"filterGroups": [
        {"filters": [{"propertyName": "email", "operator": "EQ", "value": "PERSON1@example.com"}]},
        {"filters": [{"propertyName": "firstname", "operator": "IN", "values": ["person 2"]}]}]}),
    )
    .await;
    assert_eq!(
        r.body["total"], 2,
        "groups are ORed, strings compare without case"
    );
}

#[tokio::test]
async fn search_never_pages_past_10000_results() {
    let sim = sim().await;
    for _ in 0..10_050 {
        sim.insert("deals", json!({"dealname": "d"})).unwrap();
    }
    let mut body = since_filter("hs_lastmodifieddate", json!("0"));
    body["limit"] = json!(200);
    body["after"] = json!("9800");
    let r = post(&sim, "/crm/v3/objects/deals/search", body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["total"].as_u64(), ids(&r).len()),
        (Some(10_050), 200)
    );
    assert_eq!(r.body["paging"]["next"]["after"], "10000");
    body["after"] = json!("10000");
    let r = post(&sim, "/crm/v3/objects/deals/search", body).await;
    assert_error(&r, 400, "VALIDATION_ERROR");
}

#[path = "hubspot/batches.rs"]
mod batches;
#[path = "hubspot/limits.rs"]
mod limits;
