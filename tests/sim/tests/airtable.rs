//! The Airtable simulator, driven over HTTP as a connector would drive it.

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use synchost_sim::airtable::{AirtableOptions, AirtableRateLimit, AirtableSim, BatchFailure};

const TOKEN: &str = "pat_sim_airtable";

struct Fx {
    sim: AirtableSim,
    http: Client,
    base: String,
    url: String,
}

impl Fx {
    async fn new(rate_limit: Option<AirtableRateLimit>) -> Fx {
        let sim = AirtableSim::start(AirtableOptions {
            rate_limit,
            ..Default::default()
        })
        .await
        .unwrap();
        let base = sim.create_base();
        sim.create_table(
            &base,
            "Tasks",
            &[
                ("Name", "singleLineText"),
                ("Count", "number"),
                ("Done", "checkbox"),
                ("Status", "singleSelect"),
                ("Due", "date"),
                ("Modified", "lastModifiedTime"),
            ],
        );
        sim.set_choices(&base, "Tasks", "Status", &["Todo", "Doing"]);
        let url = format!("{}/v0/{}/Tasks", sim.base_url(), base);
        Fx {
            sim,
            http: Client::new(),
            base,
            url,
        }
    }
    fn seed(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                self.sim
                    .insert(
                        &self.base,
                        "Tasks",
                        json!({"Name": format!("t{i}"), "Count": i}),
                    )
                    .unwrap()
            })
            .collect()
    }
    async fn get(&self, url: &str, query: &[(&str, &str)]) -> Response {
        self.http
            .get(url)
            .bearer_auth(TOKEN)
            .query(query)
            .send()
            .await
            .unwrap()
    }
    async fn send(&self, method: reqwest::Method, url: &str, body: Value) -> Response {
        self.http
            .request(method, url)
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

async fn body(r: Response) -> (StatusCode, Value) {
    let s = r.status();
    (s, r.json().await.unwrap())
}

fn ids(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn paging_returns_every_record_once_even_while_records_change() {
    let fx = Fx::new(None).await;
    let created = fx.seed(250);
    let (s, p1) = body(fx.get(&fx.url, &[("pageSize", "100")]).await).await;
    assert_eq!(s, 200);
    assert_eq!(ids(&p1), created[..100]);
    // Between pages: edit a record on page 2, delete one on page 3, add a new one.
    fx.sim
        .update(&fx.base, "Tasks", &created[150], json!({"Name": "edited"}))
        .unwrap();
    fx.sim.delete(&fx.base, "Tasks", &created[240]).unwrap();
    fx.sim
        .insert(&fx.base, "Tasks", json!({"Name": "late"}))
        .unwrap();
    let off = p1["offset"].as_str().unwrap();
    assert!(off.starts_with("itr") && off.contains("/rec"), "{off}");
    let (_, p2) = body(
        fx.get(&fx.url, &[("pageSize", "100"), ("offset", off)])
            .await,
    )
    .await;
    // Retrying a page with the same offset gives the same page.
    let (_, again) = body(
        fx.get(&fx.url, &[("pageSize", "100"), ("offset", off)])
            .await,
    )
    .await;
    assert_eq!(ids(&p2), ids(&again));
    assert_eq!(p2["records"][50]["fields"]["Name"], "edited");
    let (_, p3) = body(
        fx.get(
            &fx.url,
            &[
                ("pageSize", "100"),
                ("offset", p2["offset"].as_str().unwrap()),
            ],
        )
        .await,
    )
    .await;
    assert!(p3.get("offset").is_none(), "the last page has no offset");
    let all: Vec<String> = [ids(&p1), ids(&p2), ids(&p3)].concat();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 249);
    assert_eq!(unique.len(), 249);
    // Empty values are omitted: "Done" is false everywhere.
    assert!(p1["records"][0]["fields"].get("Done").is_none());
    assert_eq!(p1["records"][0]["fields"]["Count"], 0);
}

#[tokio::test]
async fn offsets_expire_and_bad_offsets_are_rejected() {
    let fx = Fx::new(None).await;
    fx.seed(5);
    let (_, p1) = body(fx.get(&fx.url, &[("pageSize", "2")]).await).await;
    let off = p1["offset"].as_str().unwrap().to_string();
    fx.sim.clock().advance(chrono::Duration::minutes(10));
    let (s, e) = body(fx.get(&fx.url, &[("offset", off.as_str())]).await).await;
    assert_eq!(s, 422);
    assert_eq!(e["error"]["type"], "LIST_RECORDS_ITERATOR_NOT_AVAILABLE");
    let (s, e) = body(
        fx.get(
            &fx.url,
            &[("offset", "itrNOPE00000000000/recNOPE0000000000")],
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["error"]["type"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("LIST_RECORDS_ITERATOR_NOT_AVAILABLE")
        )
    );
    let (s, e) = body(fx.get(&fx.url, &[("offset", "garbage")]).await).await;
    assert_eq!(
        (s, e["error"]["type"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("INVALID_OFFSET_VALUE")
        )
    );
    let (s, _) = body(fx.get(&fx.url, &[("pageSize", "101")]).await).await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn filter_by_last_modified_time_returns_only_changed_records() {
    let fx = Fx::new(None).await;
    let created = fx.seed(6);
    let clock = fx.sim.clock();
    clock.advance(chrono::Duration::seconds(5));
    let since = (clock.now() - chrono::Duration::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    fx.sim
        .update(&fx.base, "Tasks", &created[1], json!({"Count": 100}))
        .unwrap();
    clock.advance(chrono::Duration::milliseconds(10));
    fx.sim
        .update(&fx.base, "Tasks", &created[4], json!({"Status": "Doing"}))
        .unwrap();
    // An update that changes nothing does not touch the record.
    fx.sim
        .update(&fx.base, "Tasks", &created[2], json!({"Name": "t2"}))
        .unwrap();
    let expect = vec![created[1].clone(), created[4].clone()];
    for f in [
        format!("IS_AFTER(LAST_MODIFIED_TIME(), '{since}')"),
        format!("LAST_MODIFIED_TIME() > '{since}'"),
        format!("AND(LAST_MODIFIED_TIME() >= DATETIME_PARSE('{since}'), NOT(FALSE()))"),
        format!("IS_AFTER({{Modified}}, \"{since}\")"),
    ] {
        let (s, p) = body(fx.get(&fx.url, &[("filterByFormula", f.as_str())]).await).await;
        assert_eq!(s, 200, "{f}: {p}");
        assert_eq!(ids(&p), expect, "{f}");
    }
    let (_, p) = body(
        fx.get(
            &fx.url,
            &[("filterByFormula", "OR({Name} = 't3', {Count} = 100)")],
        )
        .await,
    )
    .await;
    assert_eq!(ids(&p), vec![created[1].clone(), created[3].clone()]);
    // The same through POST listRecords, with fields and sort.
    let list = format!("{}/listRecords", fx.url);
    let req = json!({"filterByFormula": "{Count} < 3", "fields": ["Name"], "sort": [{"field": "Count", "direction": "desc"}]});
    let (s, p) = body(fx.send(reqwest::Method::POST, &list, req).await).await;
    assert_eq!(s, 200);
    assert_eq!(ids(&p), vec![created[2].clone(), created[0].clone()]);
    assert_eq!(p["records"][0]["fields"], json!({"Name": "t2"}));
    // Modification time is reported at millisecond precision and equals the formula's.
    let (_, r) = body(fx.get(&format!("{}/{}", fx.url, created[1]), &[]).await).await;
    let m = r["fields"]["Modified"].as_str().unwrap();
    let (_, p) = body(
        fx.get(
            &fx.url,
            &[(
                "filterByFormula",
                &*format!("IS_SAME(LAST_MODIFIED_TIME(), '{m}')"),
            )],
        )
        .await,
    )
    .await;
    assert_eq!(ids(&p), vec![created[1].clone()]);
}

#[tokio::test]
async fn invalid_formulas_are_422() {
    let fx = Fx::new(None).await;
    for f in ["AND(", "{Nope} = 1", "FOO(1)", "'unterminated"] {
        let (s, e) = body(fx.get(&fx.url, &[("filterByFormula", f)]).await).await;
        assert_eq!(s, 422, "{f}");
        assert_eq!(e["error"]["type"], "INVALID_FILTER_BY_FORMULA");
        assert!(e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("The formula for filtering records is invalid:"));
    }
}

#[tokio::test]
async fn create_update_delete() {
    let fx = Fx::new(None).await;
    let post = |b: Value| fx.send(reqwest::Method::POST, &fx.url, b);
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"fields": {"Name": format!("n{i}")}}))
        .collect();
    let (s, e) = body(post(json!({"records": eleven})).await).await;
    assert_eq!(
        (s, e["error"]["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("INVALID_RECORDS"))
    );
    let (s, c) = body(post(json!({"records": [{"fields": {"Name": "a", "Count": 1, "Done": true}}, {"fields": {"Name": "b"}}]})).await).await;
    assert_eq!(s, 200);
    let (a, b) = (
        c["records"][0]["id"].as_str().unwrap().to_string(),
        c["records"][1]["id"].as_str().unwrap().to_string(),
    );
    assert!(a.starts_with("rec") && a.len() == 17);
    // Single-record form answers the record itself.
    let (_, single) = body(post(json!({"fields": {"Name": "c"}})).await).await;
    assert_eq!(single["fields"]["Name"], "c");
    // Field errors.
    for (fields, typ) in [
        (json!({"Nope": 1}), "UNKNOWN_FIELD_NAME"),
        (json!({"Count": "many"}), "INVALID_VALUE_FOR_COLUMN"),
        (
            json!({"Modified": "2024-01-01T00:00:00.000Z"}),
            "INVALID_VALUE_FOR_COLUMN",
        ),
        (
            json!({"Status": "Blocked"}),
            "INVALID_MULTIPLE_CHOICE_OPTIONS",
        ),
    ] {
        let (s, e) = body(post(json!({"fields": fields})).await).await;
        assert_eq!(
            (s, e["error"]["type"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(typ))
        );
    }
    let (s, _) = body(post(json!({"fields": {"Status": "Blocked"}, "typecast": true})).await).await;
    assert_eq!(s, 200);
    let (_, meta) = body(
        fx.get(
            &format!("{}/v0/meta/bases/{}/tables", fx.sim.base_url(), fx.base),
            &[],
        )
        .await,
    )
    .await;
    let status = &meta["tables"][0]["fields"][3];
    assert_eq!(status["type"], "singleSelect");
    assert_eq!(status["options"]["choices"].as_array().unwrap().len(), 3);
    assert_eq!(
        meta["tables"][0]["primaryFieldId"],
        meta["tables"][0]["fields"][0]["id"]
    );
    // PATCH merges, PUT replaces.
    let (s, u) = body(
        fx.send(
            reqwest::Method::PATCH,
            &fx.url,
            json!({"records": [{"id": a, "fields": {"Count": 2}}]}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(u["records"][0]["fields"]["Name"], "a");
    assert_eq!(u["records"][0]["fields"]["Count"], 2);
    let (_, u) = body(
        fx.send(
            reqwest::Method::PUT,
            &format!("{}/{a}", fx.url),
            json!({"fields": {"Count": 3}}),
        )
        .await,
    )
    .await;
    assert!(u["fields"].get("Name").is_none() && u["fields"].get("Done").is_none());
    let (s, e) = body(
        fx.send(
            reqwest::Method::PATCH,
            &fx.url,
            json!({"records": [{"id": "recAAAAAAAAAAAAAA", "fields": {}}]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["error"]["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ROW_DOES_NOT_EXIST"))
    );
    // DELETE with records[].
    let r = fx
        .http
        .delete(&fx.url)
        .bearer_auth(TOKEN)
        .query(&[("records[]", &a), ("records[]", &b)])
        .send()
        .await
        .unwrap();
    let (s, d) = body(r).await;
    assert_eq!(s, 200);
    assert_eq!(
        d,
        json!({"records": [{"id": a, "deleted": true}, {"id": b, "deleted": true}]})
    );
    let (s, e) = body(fx.get(&format!("{}/{a}", fx.url), &[]).await).await;
    assert_eq!(
        (s, e),
        (StatusCode::NOT_FOUND, json!({"error": "NOT_FOUND"}))
    );
    assert_eq!(fx.sim.records(&fx.base, "Tasks").len(), 2);
}

#[tokio::test]
async fn a_refused_batch_writes_what_the_chosen_reading_says() {
    let fx = Fx::new(None).await;
    let names = |fx: &Fx| -> Vec<String> {
        let rows = fx.sim.records(&fx.base, "Tasks");
        rows.iter()
            .map(|r| r["fields"]["Name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    // (reading, records left of [a, b] after deleting [a, gone, b], creates
    // landed of [x, bad, y])
    for (mode, left, landed) in [
        (BatchFailure::NothingWritten, 2, 0),
        (BatchFailure::WrittenUntilRefused, 1, 1),
        (BatchFailure::OthersWritten, 0, 2),
    ] {
        fx.sim.set_batch_failure(mode);
        for id in fx.sim.records(&fx.base, "Tasks") {
            fx.sim
                .delete(&fx.base, "Tasks", id["id"].as_str().unwrap())
                .unwrap();
        }
        let ids = fx.seed(3);
        fx.sim.delete(&fx.base, "Tasks", &ids[1]).unwrap();
        let r = fx
            .http
            .delete(&fx.url)
            .bearer_auth(TOKEN)
            .query(&[
                ("records[]", &ids[0]),
                ("records[]", &ids[1]),
                ("records[]", &ids[2]),
            ])
            .send()
            .await
            .unwrap();
        let (s, e) = body(r).await;
        assert_eq!(
            (s, e["error"]["type"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("ROW_DOES_NOT_EXIST")),
            "{mode:?}"
        );
        assert_eq!(fx.sim.records(&fx.base, "Tasks").len(), left, "{mode:?}");

        let recs = json!([{"fields": {"Name": "x"}}, {"fields": {"Count": "many"}}, {"fields": {"Name": "y"}}]);
        let (s, e) = body(
            fx.send(reqwest::Method::POST, &fx.url, json!({"records": recs}))
                .await,
        )
        .await;
        assert_eq!(
            (s, e["error"]["type"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("INVALID_VALUE_FOR_COLUMN")
            ),
            "{mode:?}"
        );
        let made = names(&fx).iter().filter(|n| *n == "x" || *n == "y").count();
        assert_eq!(made, landed, "{mode:?}");
    }
}

#[tokio::test]
async fn webhooks_expire_after_seven_days_unless_refreshed() {
    let fx = Fx::new(None).await;
    let hooks = format!("{}/v0/bases/{}/webhooks", fx.sim.base_url(), fx.base);
    let spec = json!({"options": {"filters": {"dataTypes": ["tableData"]}}});
    let (s, e) = body(fx.send(reqwest::Method::POST, &hooks, json!({})).await).await;
    assert_eq!(
        (s, e["error"]["type"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("INVALID_REQUEST_UNKNOWN")
        )
    );
    let (s, made) = body(
        fx.send(
            reqwest::Method::POST,
            &hooks,
            json!({"notificationUrl": "https://example.com/hook", "specification": spec}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200);
    let id = made["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ach"), "{id}");
    assert!(made["macSecretBase64"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    let at = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let week = chrono::Duration::days(7);
    let created = fx.sim.clock().now();
    assert!(
        (at(&made["expirationTime"]) - (created + week))
            .num_seconds()
            .abs()
            <= 1
    );

    // Refreshed while active: 7 days after the refresh.
    fx.sim.clock().advance(chrono::Duration::days(6));
    let refresh = format!("{hooks}/{id}/refresh");
    let (s, r) = body(fx.send(reqwest::Method::POST, &refresh, json!({})).await).await;
    assert_eq!(s, 200);
    let now = fx.sim.clock().now();
    assert!(
        (at(&r["expirationTime"]) - (now + week))
            .num_seconds()
            .abs()
            <= 1
    );
    assert!(fx.sim.hook_notification(&id).is_some());

    // Not refreshed: disabled, listed for 7 more days, no longer refreshable.
    fx.sim.clock().advance(chrono::Duration::days(8));
    let (_, listed) = body(fx.get(&hooks, &[]).await).await;
    assert_eq!(listed["webhooks"][0]["id"], id.as_str());
    assert_eq!(listed["webhooks"][0]["isHookEnabled"], false);
    let (s, _) = body(fx.send(reqwest::Method::POST, &refresh, json!({})).await).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(fx.sim.hook_notification(&id).is_none());
    assert_eq!(
        fx.sim.webhook_expiration(&id).map(|(_, on)| on),
        Some(false)
    );
    fx.sim.clock().advance(week);
    let (_, listed) = body(fx.get(&hooks, &[]).await).await;
    assert_eq!(listed["webhooks"], json!([]));
    let (s, _) = body(fx.send(reqwest::Method::POST, &refresh, json!({})).await).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bursts_past_the_limit_get_429_and_a_penalty() {
    let limit = AirtableRateLimit {
        per_second: 5,
        penalty: std::time::Duration::from_secs(1),
    };
    let fx = Fx::new(Some(limit)).await;
    for _ in 0..5 {
        assert_eq!(fx.get(&fx.url, &[]).await.status(), 200);
    }
    let r = fx.get(&fx.url, &[]).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let (_, e) = body(r).await;
    assert_eq!(e["errors"][0]["error"], "RATE_LIMIT_REACHED");
    // The penalty applies to every following request to the base, whatever it is.
    let meta = format!("{}/v0/meta/bases/{}/tables", fx.sim.base_url(), fx.base);
    assert_eq!(fx.get(&meta, &[]).await.status(), 429);
    assert_eq!(fx.sim.rate_limited_count(), 2);
    fx.sim.clock().advance(chrono::Duration::milliseconds(1100));
    assert_eq!(fx.get(&fx.url, &[]).await.status(), 200);
    // Another base is not affected; limits can be switched off.
    fx.sim.set_rate_limit(None);
    for _ in 0..20 {
        assert_eq!(fx.get(&fx.url, &[]).await.status(), 200);
    }
    assert_eq!(fx.sim.request_count(), 28);
}

#[tokio::test]
async fn auth_and_faults() {
    let fx = Fx::new(None).await;
    let (s, e) = body(fx.http.get(&fx.url).send().await.unwrap()).await;
    assert_eq!(s, 401);
    assert_eq!(
        e,
        json!({"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}})
    );
    let (s, e) = body(
        fx.http
            .get(&fx.url)
            .bearer_auth("pat_wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, e["error"]["type"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
    let (s, e) = body(
        fx.get(&format!("{}/v0/{}/Nope", fx.sim.base_url(), fx.base), &[])
            .await,
    )
    .await;
    assert_eq!(
        (s, e["error"]["type"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND")
        )
    );
    fx.sim.fail_next(2, 503);
    for _ in 0..2 {
        let (s, e) = body(fx.get(&fx.url, &[]).await).await;
        assert_eq!(
            (s, e["error"]["type"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE"))
        );
    }
    assert_eq!(fx.get(&fx.url, &[]).await.status(), 200);
}
