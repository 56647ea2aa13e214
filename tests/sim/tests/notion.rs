//! The Notion simulator, driven over HTTP as a connector would drive Notion.

use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use synchost_sim::clock::Clock;
use synchost_sim::notion::{NotionOptions, NotionSim, RateLimit};

const TOKEN: &str = "secret_sim_notion";

async fn sim_with(rate_limit: Option<RateLimit>, clock: Clock) -> NotionSim {
    NotionSim::start(NotionOptions {
        rate_limit,
        clock,
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn sim() -> NotionSim {
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
}

async fn raw(
    sim: &NotionSim,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Reply {
    let mut req = CLIENT.with(|c| c.request(method, format!("{}{path}", sim.base_url())));
    for (k, v) in headers {
        req = req.header(*k, *v);
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

async fn call(sim: &NotionSim, method: Method, path: &str, body: Option<Value>) -> Reply {
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("authorization", auth.as_str()),
        ("notion-version", "2022-06-28"),
    ];
    raw(sim, method, path, &headers, body.map(|b| b.to_string())).await
}

async fn query(sim: &NotionSim, db: &str, body: Value) -> Reply {
    call(
        sim,
        Method::POST,
        &format!("/v1/databases/{db}/query"),
        Some(body),
    )
    .await
}

fn ids(r: &Reply) -> Vec<String> {
    r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

fn title(s: &str) -> Value {
    json!({"Name": {"title": [{"text": {"content": s}}]}})
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["object"], "error");
    assert_eq!(r.body["status"], status);
    assert_eq!(r.body["code"], code, "{}", r.body);
    assert!(r.body["message"].is_string() && r.body["request_id"].is_string());
}

#[tokio::test]
async fn pagination_returns_every_page_exactly_once() {
    let sim = sim().await;
    let db = sim.create_database("Tasks", &[("Name", "title")]);
    let mut inserted = HashSet::new();
    for i in 0..250 {
        inserted.insert(sim.insert_page(&db, title(&format!("task {i}"))).unwrap());
    }
    let (mut seen, mut sizes, mut cursor) = (Vec::new(), Vec::new(), Value::Null);
    loop {
        let mut body = json!({"page_size": 100});
        if !cursor.is_null() {
            body["start_cursor"] = cursor.clone();
        }
        let r = query(&sim, &db, body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["object"], "list");
        assert_eq!(r.body["type"], "page_or_database");
        assert_eq!(r.body["page_or_database"], json!({}));
        sizes.push(ids(&r).len());
        seen.extend(ids(&r));
        cursor = r.body["next_cursor"].clone();
        assert_eq!(r.body["has_more"], json!(!cursor.is_null()));
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(sizes, vec![100, 100, 50]);
    assert_eq!(seen.len(), 250);
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), inserted);
    // The default order is creation order.
    let all: Vec<String> = sim
        .pages(&db)
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, all);
    assert_eq!(sim.request_count(), 3);
}

#[tokio::test]
async fn page_size_and_cursor_are_validated() {
    let sim = sim().await;
    let db = sim.create_database("Tasks", &[]);
    for body in [
        json!({"page_size": 101}),
        json!({"page_size": 0}),
        json!({"start_cursor": "not-a-cursor"}),
    ] {
        let r = query(&sim, &db, body).await;
        assert_error(&r, 400, "validation_error");
    }
    let r = query(&sim, &db, json!({"page_size": 101})).await;
    assert!(r.body["message"].as_str().unwrap().contains("page_size"));
    // No body at all is a query with defaults.
    let r = call(
        &sim,
        Method::POST,
        &format!("/v1/databases/{db}/query"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn notion_version_header_is_required() {
    let sim = sim().await;
    let db = sim.create_database("Tasks", &[]);
    let auth = format!("Bearer {TOKEN}");
    let r = raw(
        &sim,
        Method::GET,
        &format!("/v1/databases/{db}"),
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_error(&r, 400, "missing_version");
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .starts_with("Notion-Version header failed validation"));
    let headers = [
        ("authorization", auth.as_str()),
        ("notion-version", "2021-08-16"),
    ];
    let r = raw(
        &sim,
        Method::GET,
        &format!("/v1/databases/{db}"),
        &headers,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["object"], "database");
}

#[tokio::test]
async fn bad_or_missing_token_is_unauthorized() {
    let sim = sim().await;
    let db = sim.create_database("Tasks", &[]);
    let path = format!("/v1/databases/{db}");
    let r = raw(
        &sim,
        Method::GET,
        &path,
        &[
            ("authorization", "Bearer wrong"),
            ("notion-version", "2022-06-28"),
        ],
        None,
    )
    .await;
    assert_error(&r, 401, "unauthorized");
    assert_eq!(r.body["message"], "API token is invalid.");
    let r = raw(
        &sim,
        Method::GET,
        &path,
        &[("notion-version", "2022-06-28")],
        None,
    )
    .await;
    assert_error(&r, 401, "unauthorized");
}

fn minute_str(t: DateTime<Utc>) -> String {
    t.duration_trunc(Duration::minutes(1))
        .unwrap()
        .format("%Y-%m-%dT%H:%M:00.000Z")
        .to_string()
}

#[tokio::test]
async fn timestamps_are_rounded_down_to_the_minute_and_filters_see_that() {
    let clock = Clock::default();
    // Put the clock at second 30 of a minute, so rounding is visible.
    let now = clock.now();
    let into_minute = (now.second() * 1000 + now.timestamp_subsec_millis()) as i64;
    clock.advance(Duration::milliseconds(
        (30_000 - into_minute).rem_euclid(60_000),
    ));
    let sim = sim_with(None, clock.clone()).await;
    let db = sim.create_database(
        "Tasks",
        &[("Name", "title"), ("Edited", "last_edited_time")],
    );
    let t0 = clock.now();
    let a = sim.insert_page(&db, title("a")).unwrap();
    let b = sim.insert_page(&db, title("b")).unwrap();
    clock.advance(Duration::minutes(5));
    let t1 = clock.now();
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/pages/{b}"),
        Some(json!({"properties": title("b2")})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let page = call(&sim, Method::GET, &format!("/v1/pages/{b}"), None)
        .await
        .body;
    assert_eq!(page["created_time"], minute_str(t0));
    assert_eq!(page["last_edited_time"], minute_str(t1));
    assert!(page["last_edited_time"]
        .as_str()
        .unwrap()
        .ends_with(":00.000Z"));
    assert_eq!(
        page["properties"]["Edited"]["last_edited_time"],
        minute_str(t1)
    );

    let filter = |op: &str, t: String| json!({"filter": {"timestamp": "last_edited_time", "last_edited_time": {op: t}}});
    // b was edited at t1 (second 30) but its last_edited_time reads t1's minute:
    // on_or_after the exact edit instant does not find it.
    let exact = t1.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    assert_eq!(
        ids(&query(&sim, &db, filter("on_or_after", exact)).await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&query(&sim, &db, filter("on_or_after", minute_str(t1))).await),
        vec![b.clone()]
    );
    assert_eq!(
        ids(&query(&sim, &db, filter("after", minute_str(t1))).await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&query(&sim, &db, filter("equals", minute_str(t1))).await),
        vec![b.clone()]
    );
    assert_eq!(
        ids(&query(&sim, &db, filter("before", minute_str(t1))).await),
        vec![a.clone()]
    );
    let both = json!({"filter": {"and": [
        {"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": minute_str(t0)}},
        {"timestamp": "last_edited_time", "last_edited_time": {"on_or_before": minute_str(t0)}},
    ]}});
    assert_eq!(ids(&query(&sim, &db, both).await), vec![a.clone()]);
    let bad = json!({"filter": {"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": "yesterday"}}});
    assert_error(&query(&sim, &db, bad).await, 400, "validation_error");
}

#[tokio::test]
async fn trashed_pages_leave_queries_but_can_be_retrieved() {
    let sim = sim().await;
    let db = sim.create_database("Tasks", &[]);
    let pages: Vec<String> = (0..3)
        .map(|i| sim.insert_page(&db, title(&format!("p{i}"))).unwrap())
        .collect();
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/pages/{}", pages[1]),
        Some(json!({"in_trash": true})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["in_trash"], true);
    assert_eq!(
        ids(&query(&sim, &db, json!({})).await),
        vec![pages[0].clone(), pages[2].clone()]
    );

    let got = call(
        &sim,
        Method::GET,
        &format!("/v1/pages/{}", pages[1].replace('-', "")),
        None,
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["in_trash"], true);
    assert_eq!(got.body["archived"], true);

    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/pages/{}", pages[1]),
        Some(json!({"properties": title("x")})),
    )
    .await;
    assert_error(&r, 400, "validation_error");
    assert!(r.body["message"].as_str().unwrap().contains("archived"));

    // The legacy `archived` flag restores, and may carry properties along.
    let body = json!({"archived": false, "properties": title("back")});
    let r = call(
        &sim,
        Method::PATCH,
        &format!("/v1/pages/{}", pages[1]),
        Some(body),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["in_trash"], false);
    assert_eq!(ids(&query(&sim, &db, json!({})).await).len(), 3);

    sim.trash_page(&pages[2]).unwrap();
    assert_eq!(ids(&query(&sim, &db, json!({})).await).len(), 2);
    assert_eq!(sim.pages(&db).len(), 3);
    assert_eq!(sim.page(&pages[2]).unwrap()["in_trash"], true);
}

#[tokio::test]
async fn bursts_beyond_the_rate_limit_get_429_with_retry_after() {
    let clock = Clock::default();
    let sim = sim_with(
        Some(RateLimit {
            per_second: 3.0,
            burst: 5,
        }),
        clock.clone(),
    )
    .await;
    let db = sim.create_database("Tasks", &[]);
    let mut limited = 0;
    for i in 0..12 {
        let r = call(&sim, Method::GET, &format!("/v1/databases/{db}"), None).await;
        if i < 5 {
            assert_eq!(r.status, 200);
        }
        if r.status == 429 {
            limited += 1;
            assert_error(&r, 429, "rate_limited");
            let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!(retry >= 1);
        }
    }
    assert!(limited >= 6, "{limited}");
    assert_eq!(sim.rate_limited_count(), limited);
    clock.advance(Duration::seconds(2));
    assert_eq!(
        call(&sim, Method::GET, &format!("/v1/databases/{db}"), None)
            .await
            .status,
        200
    );
    assert_eq!(sim.request_count(), 13);
    sim.set_rate_limit(None);
    for _ in 0..20 {
        assert_eq!(
            call(&sim, Method::GET, &format!("/v1/databases/{db}"), None)
                .await
                .status,
            200
        );
    }
}

#[tokio::test]
async fn pages_round_trip_through_create_and_update() {
    let sim = sim().await;
    let kinds = [
        ("Name", "title"),
        ("Notes", "rich_text"),
        ("Count", "number"),
        ("Done", "checkbox"),
        ("Priority", "select"),
        ("Tags", "multi_select"),
        ("Stage", "status"),
        ("Due", "date"),
        ("Email", "email"),
        ("Site", "url"),
        ("Phone", "phone_number"),
        ("Links", "relation"),
        ("Created", "created_time"),
    ];
    let db = sim.create_database("Everything", &kinds);
    let other = sim.insert_page(&db, title("other")).unwrap();
    let props = json!({
        "Name": {"title": [{"text": {"content": "Write docs"}}]},
        "Notes": {"rich_text": [{"type": "text", "text": {"content": "first"}, "annotations": {"bold": true}}]},
        "Count": {"number": 3.5},
        "Done": {"checkbox": true},
        "Priority": {"select": {"name": "Urgent"}},
        "Tags": {"multi_select": [{"name": "a"}, {"name": "b"}]},
        "Stage": {"status": {"name": "In progress"}},
        "Due": {"date": {"start": "2024-05-01"}},
        "Email": {"email": "a@example.com"},
        "Site": {"url": "https://example.com"},
        "Phone": {"phone_number": "+1 555"},
        "Links": {"relation": [{"id": other.replace('-', "")}]},
    });
    let r = call(
        &sim,
        Method::POST,
        "/v1/pages",
        Some(json!({"parent": {"database_id": db}, "properties": props})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let got = call(&sim, Method::GET, &format!("/v1/pages/{id}"), None)
        .await
        .body;
    assert_eq!(got["object"], "page");
    assert_eq!(
        got["parent"],
        json!({"type": "database_id", "database_id": db})
    );
    assert_eq!(got["in_trash"], false);
    let p = &got["properties"];
    assert_eq!(p["Name"]["title"][0]["plain_text"], "Write docs");
    assert_eq!(p["Notes"]["rich_text"][0]["text"]["content"], "first");
    assert_eq!(p["Notes"]["rich_text"][0]["annotations"]["bold"], true);
    assert_eq!(p["Count"]["number"], 3.5);
    assert_eq!(p["Done"]["checkbox"], true);
    assert_eq!(p["Priority"]["select"]["name"], "Urgent");
    assert_eq!(p["Tags"]["multi_select"].as_array().unwrap().len(), 2);
    assert_eq!(p["Stage"]["status"]["name"], "In progress");
    assert_eq!(
        p["Due"]["date"],
        json!({"start": "2024-05-01", "end": null, "time_zone": null})
    );
    assert_eq!(p["Email"]["email"], "a@example.com");
    assert_eq!(p["Site"]["url"], "https://example.com");
    assert_eq!(p["Phone"]["phone_number"], "+1 555");
    assert_eq!(p["Links"]["relation"], json!([{"id": other}]));
    assert_eq!(p["Created"]["type"], "created_time");
    assert!(got["url"]
        .as_str()
        .unwrap()
        .starts_with("https://www.notion.so/Write-docs-"));

    // The new select option joined the schema.
    let schema = call(&sim, Method::GET, &format!("/v1/databases/{db}"), None)
        .await
        .body;
    let options = &schema["properties"]["Priority"]["select"]["options"];
    assert_eq!(options[0]["name"], "Urgent");
    assert_eq!(schema["properties"]["Name"]["id"], "title");

    let upd = json!({"properties": {"Count": {"number": null}, "Priority": {"select": null}, "Tags": {"multi_select": []}}});
    let r = call(&sim, Method::PATCH, &format!("/v1/pages/{id}"), Some(upd)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = &sim.page(&id).unwrap()["properties"];
    assert_eq!(p["Count"]["number"], Value::Null);
    assert_eq!(p["Priority"]["select"], Value::Null);
    assert_eq!(p["Tags"]["multi_select"], json!([]));
    assert_eq!(p["Name"]["title"][0]["plain_text"], "Write docs");

    // Property filter and sort.
    let r = query(
        &sim,
        &db,
        json!({"filter": {"property": "Done", "checkbox": {"equals": true}}}),
    )
    .await;
    assert_eq!(ids(&r), vec![id.clone()]);
    let r = query(
        &sim,
        &db,
        json!({"sorts": [{"property": "Name", "direction": "descending"}]}),
    )
    .await;
    assert_eq!(ids(&r), vec![id.clone(), other.clone()]);
}

#[tokio::test]
async fn invalid_writes_are_validation_errors_naming_the_property() {
    let sim = sim().await;
    let db = sim.create_database(
        "Tasks",
        &[("Name", "title"), ("Count", "number"), ("Stage", "status")],
    );
    let create = |props: Value| json!({"parent": {"database_id": db}, "properties": props});
    let r = call(
        &sim,
        Method::POST,
        "/v1/pages",
        Some(create(json!({"Nope": {"number": 1}}))),
    )
    .await;
    assert_error(&r, 400, "validation_error");
    assert!(r.body["message"].as_str().unwrap().contains("Nope"));
    let r = call(
        &sim,
        Method::POST,
        "/v1/pages",
        Some(create(json!({"Count": {"number": "three"}}))),
    )
    .await;
    assert_error(&r, 400, "validation_error");
    assert!(r.body["message"].as_str().unwrap().contains("Count"));
    let r = call(
        &sim,
        Method::POST,
        "/v1/pages",
        Some(create(json!({"Stage": {"status": {"name": "Nope"}}}))),
    )
    .await;
    assert_error(&r, 400, "validation_error");
    let long = "x".repeat(2001);
    let r = call(&sim, Method::POST, "/v1/pages", Some(create(title(&long)))).await;
    assert_error(&r, 400, "validation_error");
    let r = call(
        &sim,
        Method::POST,
        "/v1/pages",
        Some(json!({"parent": {"database_id": db}})),
    )
    .await;
    assert_error(&r, 400, "validation_error");
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("authorization", auth.as_str()),
        ("notion-version", "2022-06-28"),
    ];
    let r = raw(
        &sim,
        Method::POST,
        "/v1/pages",
        &headers,
        Some("{not json".into()),
    )
    .await;
    assert_error(&r, 400, "invalid_json");
    let missing = "0b6c1a2e-8d5f-4b1e-9c3a-2f4e6d8a0b1c";
    assert_error(
        &call(&sim, Method::GET, &format!("/v1/pages/{missing}"), None).await,
        404,
        "object_not_found",
    );
    assert_error(
        &call(&sim, Method::GET, &format!("/v1/databases/{missing}"), None).await,
        404,
        "object_not_found",
    );
    assert_error(
        &query(&sim, missing, json!({})).await,
        404,
        "object_not_found",
    );
    assert_eq!(sim.pages(&db).len(), 0);
}

#[tokio::test]
async fn injected_faults_answer_before_anything_else() {
    let sim = sim().await;
    let db = sim.create_database("Tasks", &[]);
    sim.fail_next(2, 503);
    for _ in 0..2 {
        assert_error(
            &call(&sim, Method::GET, &format!("/v1/databases/{db}"), None).await,
            503,
            "service_unavailable",
        );
    }
    assert_eq!(
        call(&sim, Method::GET, &format!("/v1/databases/{db}"), None)
            .await
            .status,
        200
    );
    sim.fail_next(1, 502);
    let r = call(&sim, Method::GET, &format!("/v1/databases/{db}"), None).await;
    assert_eq!((r.status, r.body), (502, Value::Null));
}

#[tokio::test]
async fn pagination_is_stable_while_pages_are_edited() {
    let clock = Clock::default();
    let sim = sim_with(None, clock.clone()).await;
    let db = sim.create_database("Tasks", &[]);
    let mut pages = Vec::new();
    for i in 0..50 {
        pages.push(sim.insert_page(&db, title(&format!("p{i}"))).unwrap());
        clock.advance(Duration::seconds(1));
    }
    let sorts = json!([{"timestamp": "last_edited_time", "direction": "ascending"}]);
    let first = query(&sim, &db, json!({"page_size": 10, "sorts": sorts})).await;
    assert_eq!(ids(&first), pages[..10].to_vec());
    // Meanwhile: edit two seen and two unseen pages, trash one, add one.
    for i in [2, 5, 20, 30] {
        sim.update_page(&pages[i], title("edited")).unwrap();
    }
    sim.trash_page(&pages[40]).unwrap();
    let added = sim.insert_page(&db, title("new")).unwrap();
    let mut seen = ids(&first);
    let mut cursor = first.body["next_cursor"].clone();
    while !cursor.is_null() {
        let r = query(
            &sim,
            &db,
            json!({"page_size": 10, "sorts": sorts, "start_cursor": cursor}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(ids(&r));
        cursor = r.body["next_cursor"].clone();
    }
    for (i, p) in pages.iter().enumerate() {
        let n = seen.iter().filter(|s| *s == p).count();
        let expected = match i {
            40 => 0,
            2 | 5 => 2,
            _ => 1,
        };
        assert_eq!(n, expected, "page {i}");
    }
    assert!(seen.contains(&added));
    // Descending order is the reverse.
    let sorts = json!([{"timestamp": "last_edited_time", "direction": "descending"}]);
    let r = query(&sim, &db, json!({"page_size": 3, "sorts": sorts})).await;
    assert_eq!(ids(&r)[0], added);
}

// Size limits, references cut short, API versions and overload answers.
#[path = "notion/mod.rs"]
mod since;
