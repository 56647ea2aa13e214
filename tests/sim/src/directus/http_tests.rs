//! The Directus simulator's HTTP surface as the connector meets it: tokens,
//! collections and fields, errors, writes and their answers, the activity
//! log, the rate limiter.

use super::*;

async fn sim(opts: DirectusOptions) -> (DirectusSim, reqwest::Client) {
    let sim = DirectusSim::start(opts).await.unwrap();
    sim.create_collection("tasks", &[("name", "string"), ("points", "float")])
        .unwrap();
    (sim, reqwest::Client::builder().no_proxy().build().unwrap())
}

async fn call(
    client: &reqwest::Client,
    sim: &DirectusSim,
    m: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client.request(m.parse().unwrap(), format!("{}{path}", sim.base_url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn tokens_are_checked_as_directus_checks_them() {
    let (sim, client) = sim(DirectusOptions {
        token: "tok".into(),
        ..Default::default()
    })
    .await;
    let (s, body) = call(&client, &sim, "GET", "/items/tasks", Some("wrong"), None).await;
    assert_eq!(
        (s, body["errors"][0]["extensions"]["code"].clone()),
        (401, json!("INVALID_CREDENTIALS"))
    );
    assert_eq!(body["errors"][0]["message"], "Invalid user credentials.");
    let (s, body) = call(&client, &sim, "GET", "/items/tasks", None, None).await;
    assert_eq!(
        (s, body["errors"][0]["extensions"]["code"].clone()),
        (403, json!("FORBIDDEN")),
        "the public role"
    );
    assert_eq!(
        call(
            &client,
            &sim,
            "GET",
            "/items/tasks?access_token=tok",
            None,
            None
        )
        .await
        .0,
        200
    );
    let jwt = sim.issue_access_token(chrono::Duration::minutes(15));
    assert_eq!(
        call(&client, &sim, "GET", "/items/tasks", Some(&jwt), None)
            .await
            .0,
        200
    );
    let (s, body) = call(
        &client,
        &sim,
        "GET",
        "/items/tasks",
        Some(&format!("{jwt}x")),
        None,
    )
    .await;
    assert_eq!(
        (s, body["errors"][0]["extensions"]["code"].clone()),
        (403, json!("INVALID_TOKEN"))
    );
    sim.clock().advance(chrono::Duration::minutes(16));
    let (s, body) = call(&client, &sim, "GET", "/items/tasks", Some(&jwt), None).await;
    assert_eq!(
        (s, body["errors"][0]["extensions"]["code"].clone()),
        (401, json!("TOKEN_EXPIRED"))
    );
    let (s, body) = call(&client, &sim, "GET", "/server/health", None, None).await;
    assert_eq!((s, body), (200, json!({"status": "ok"})));
}

#[tokio::test]
async fn collections_fields_and_unknown_collections_as_the_connector_reads_them() {
    let (sim, client) = sim(DirectusOptions::default()).await;
    let t = Some(sim.token().to_string());
    let (s, body) = call(
        &client,
        &sim,
        "GET",
        "/collections?fields=collection",
        t.as_deref(),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["collection"].as_str())
        .collect();
    assert!(
        names.contains(&"tasks") && names.contains(&"directus_users"),
        "{names:?}"
    );
    assert_eq!(
        body["data"][0].as_object().unwrap().len(),
        1,
        "fields=collection keeps one key"
    );
    let (_, body) = call(&client, &sim, "GET", "/fields/tasks", t.as_deref(), None).await;
    let id = &body["data"][0];
    assert_eq!(
        (id["field"].clone(), id["schema"]["is_primary_key"].clone()),
        (json!("id"), json!(true))
    );
    assert_eq!(id["schema"]["has_auto_increment"], true);
    assert_eq!(body["data"][4]["meta"]["special"], json!(["date-updated"]));
    for path in [
        "/fields/nope",
        "/items/nope",
        "/items/directus_users",
        "/items/tasks/1",
    ] {
        let (s, body) = call(&client, &sim, "GET", path, t.as_deref(), None).await;
        assert_eq!(s, 403, "{path}");
        assert_eq!(
            body["errors"][0]["message"], "You don't have permission to access this.",
            "{path}"
        );
    }
    let (s, body) = call(&client, &sim, "GET", "/nope", t.as_deref(), None).await;
    assert_eq!(
        (s, body["errors"][0]["extensions"]["code"].clone()),
        (404, json!("ROUTE_NOT_FOUND"))
    );
}

#[tokio::test]
async fn writes_answer_as_the_items_endpoints_do_and_are_logged() {
    let (sim, client) = sim(DirectusOptions::default()).await;
    let t = Some(sim.token().to_string());
    let batch = json!([{"name": "a", "points": 1}, {"name": "b", "points": "2.5"}]);
    let (s, body) = call(
        &client,
        &sim,
        "POST",
        "/items/tasks",
        t.as_deref(),
        Some(batch),
    )
    .await;
    assert_eq!(s, 200);
    let created = body["data"].as_array().unwrap();
    assert_eq!(
        (created[0]["id"].clone(), created[1]["points"].clone()),
        (json!(1), json!(2.5))
    );
    assert!(created[0]["date_created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created[0]["date_updated"], Value::Null);
    let (s, body) = call(
        &client,
        &sim,
        "POST",
        "/items/tasks",
        t.as_deref(),
        Some(json!({"nope": 1})),
    )
    .await;
    assert_eq!(
        (s, body["errors"][0]["extensions"]["code"].clone()),
        (400, json!("INVALID_PAYLOAD"))
    );
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("\"nope\""));
    let (s, body) = call(
        &client,
        &sim,
        "PATCH",
        "/items/tasks/2",
        t.as_deref(),
        Some(json!({"points": 9})),
    )
    .await;
    assert_eq!((s, body["data"]["points"].clone()), (200, json!(9)));
    assert!(body["data"]["date_updated"].is_string());
    let (s, _) = call(
        &client,
        &sim,
        "PATCH",
        "/items/tasks/99",
        t.as_deref(),
        Some(json!({"points": 9})),
    )
    .await;
    assert_eq!(
        s, 204,
        "an admin's update of a missing item changes nothing"
    );
    assert_eq!(
        call(
            &client,
            &sim,
            "DELETE",
            "/items/tasks/1",
            t.as_deref(),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(
            &client,
            &sim,
            "DELETE",
            "/items/tasks/1",
            t.as_deref(),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(sim.count("tasks"), 1);
    let (_, lookup) = call(&client, &sim, "GET", "/items/tasks?limit=1&fields=id,date_updated,date_created&filter=%7B%22id%22%3A%7B%22_eq%22%3A2%7D%7D", t.as_deref(), None).await;
    assert_eq!(lookup["data"][0].as_object().unwrap().len(), 3);
    let actions: Vec<(String, String)> = sim
        .activity()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().into(),
                a["item"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("create", "1"),
        ("create", "2"),
        ("update", "2"),
        ("delete", "1"),
        ("delete", "1"),
    ];
    assert_eq!(
        actions,
        expected.map(|(a, i)| (a.to_string(), i.to_string()))
    );
    let writes: Vec<(String, u16)> = sim
        .writes()
        .into_iter()
        .map(|w| (format!("{} {}", w.method, w.path), w.status))
        .collect();
    assert_eq!(writes[0], ("POST /items/tasks".to_string(), 200));
    assert_eq!(writes[1].1, 400);
    assert_eq!(writes.len(), 6);
}

#[tokio::test]
async fn a_batch_create_answers_in_key_order_not_in_the_order_sent() {
    // readMany reads the created keys back in the collection's default
    // order: with keys that are not increasing, not the order of the body.
    let (sim, client) = sim(DirectusOptions::default()).await;
    let spec = json!({"collection": "codes", "schema": {}, "fields": [
        {"field": "code", "type": "string", "schema": {"is_primary_key": true}, "meta": null},
        {"field": "label", "type": "string", "schema": {}, "meta": null}]});
    sim.create_collection_raw(&spec).unwrap();
    let t = Some(sim.token().to_string());
    let body = json!([{"code": "b", "label": "B"}, {"code": "a", "label": "A"}]);
    let (_, created) = call(
        &client,
        &sim,
        "POST",
        "/items/codes",
        t.as_deref(),
        Some(body),
    )
    .await;
    assert_eq!(
        created["data"],
        json!([{"code": "a", "label": "A"}, {"code": "b", "label": "B"}])
    );
}

#[tokio::test]
async fn the_rate_limiter_answers_429_with_retry_after() {
    let (sim, client) = sim(DirectusOptions {
        rate_limit: Some(3),
        rate_window: Duration::from_secs(5),
        ..Default::default()
    })
    .await;
    let t = Some(sim.token().to_string());
    for _ in 0..3 {
        assert_eq!(
            call(&client, &sim, "GET", "/items/tasks", t.as_deref(), None)
                .await
                .0,
            200
        );
    }
    let resp = client
        .get(format!("{}/items/tasks", sim.base_url()))
        .bearer_auth(sim.token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((4..=5).contains(&wait), "{wait}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "REQUESTS_EXCEEDED");
    assert_eq!(body["errors"][0]["extensions"]["limit"], 3);
    assert_eq!(sim.rate_limited_count(), 1);
    sim.set_rate_limit(None, Duration::from_secs(1));
    assert_eq!(
        call(&client, &sim, "GET", "/items/tasks", t.as_deref(), None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn batch_updates_and_deletes_take_every_documented_body() {
    let opts = DirectusOptions {
        max_payload: 4096,
        ..Default::default()
    };
    let (sim, client) = sim(opts).await;
    let t = Some(sim.token().to_string());
    let items: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("N{i}"), "points": i}))
        .collect();
    sim.insert_many("tasks", items).unwrap();
    // Update Multiple Items: an array of items with their keys...
    let body = json!([{"id": 2, "name": "two"}, {"id": 1, "name": "one"}]);
    let (s, out) = call(
        &client,
        &sim,
        "PATCH",
        "/items/tasks?fields=id,name",
        t.as_deref(),
        Some(body),
    )
    .await;
    assert_eq!(
        (s, out["data"].clone()),
        (
            200,
            json!([{"id": 1, "name": "one"}, {"id": 2, "name": "two"}])
        )
    );
    // ...keys and data, or a query and data.
    let body = json!({"keys": [3, 4], "data": {"points": 30}});
    assert_eq!(
        call(
            &client,
            &sim,
            "PATCH",
            "/items/tasks",
            t.as_deref(),
            Some(body)
        )
        .await
        .0,
        200
    );
    let body = json!({"query": {"filter": {"points": {"_eq": 30}}}, "data": {"name": "thirty"}});
    let (_, out) = call(
        &client,
        &sim,
        "PATCH",
        "/items/tasks",
        t.as_deref(),
        Some(body),
    )
    .await;
    assert_eq!(out["data"].as_array().unwrap().len(), 2);
    let (s, one) = call(
        &client,
        &sim,
        "GET",
        "/items/tasks/4?fields=name,points",
        t.as_deref(),
        None,
    )
    .await;
    assert_eq!(
        (s, one["data"].clone()),
        (200, json!({"name": "thirty", "points": 30}))
    );
    // Delete Multiple Items: keys as an array, as `keys`, or by query.
    assert_eq!(
        call(
            &client,
            &sim,
            "DELETE",
            "/items/tasks",
            t.as_deref(),
            Some(json!([1]))
        )
        .await
        .0,
        204
    );
    let keys = json!({"keys": [2]});
    assert_eq!(
        call(
            &client,
            &sim,
            "DELETE",
            "/items/tasks",
            t.as_deref(),
            Some(keys)
        )
        .await
        .0,
        204
    );
    let query = json!({"query": {"filter": {"name": {"_eq": "thirty"}}}});
    assert_eq!(
        call(
            &client,
            &sim,
            "DELETE",
            "/items/tasks",
            t.as_deref(),
            Some(query)
        )
        .await
        .0,
        204
    );
    assert_eq!(sim.count("tasks"), 2);
    let (s, e) = call(
        &client,
        &sim,
        "DELETE",
        "/items/tasks",
        t.as_deref(),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (s, e["errors"][0]["extensions"]["code"].clone()),
        (400, json!("INVALID_PAYLOAD"))
    );
    // A field added later holds null in the items there were.
    let field = json!({"field": "extra", "type": "integer", "schema": {}, "meta": null});
    assert_eq!(
        call(
            &client,
            &sim,
            "POST",
            "/fields/tasks",
            t.as_deref(),
            Some(field)
        )
        .await
        .0,
        200
    );
    assert_eq!(sim.items("tasks")[0]["extra"], Value::Null);
    // MAX_PAYLOAD_SIZE, and injected faults.
    let big = json!({"name": "x".repeat(5000)});
    let (s, e) = call(
        &client,
        &sim,
        "POST",
        "/items/tasks",
        t.as_deref(),
        Some(big),
    )
    .await;
    assert_eq!(
        (s, e["errors"][0]["message"].clone()),
        (400, json!("Invalid payload. request entity too large."))
    );
    sim.fail_next(1, 503);
    let (s, e) = call(&client, &sim, "GET", "/items/tasks", t.as_deref(), None).await;
    assert_eq!(
        (s, e["errors"][0]["extensions"]["code"].clone()),
        (503, json!("SERVICE_UNAVAILABLE"))
    );
    assert_eq!(
        call(&client, &sim, "GET", "/items/tasks", t.as_deref(), None)
            .await
            .0,
        200
    );
}
