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

/// `GET .../query?q=` with the query percent-encoded, as a client must.
async fn query(sim: &SalesforceSim, soql: &str, batch: Option<u32>) -> Reply {
    let auth = format!("Bearer {TOKEN}");
    let option = batch.map(|n| format!("batchSize={n}"));
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(o) = &option {
        headers.push(("sforce-query-options", o.as_str()));
    }
    let q: String = soql
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    raw(
        sim,
        Method::GET,
        &format!("{V}/query?q={q}"),
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

#[tokio::test]
async fn queries_return_every_record_once_in_batches_followed_by_next_records_url() {
    let sim = sim().await;
    let inserted: HashSet<String> = (0..2500)
        .map(|i| sim.insert("Contact", contact(i)).unwrap())
        .collect();
    let soql = "SELECT Id, LastName FROM Contact";
    let (mut seen, mut sizes) = (Vec::new(), Vec::new());
    let mut r = query(&sim, soql, None).await;
    loop {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["totalSize"], 2500);
        sizes.push(ids(&r).len());
        seen.extend(ids(&r));
        let row = &r.body["records"][0];
        assert_eq!(row["attributes"]["type"], "Contact");
        assert_eq!(
            row["attributes"]["url"],
            format!("{V}/sobjects/Contact/{}", row["Id"].as_str().unwrap())
        );
        assert_eq!(
            row.as_object().unwrap().len(),
            3,
            "only the selected fields: {row}"
        );
        if r.body["done"] == true {
            assert!(r.body.get("nextRecordsUrl").is_none());
            break;
        }
        let next = r.body["nextRecordsUrl"].as_str().unwrap().to_string();
        assert!(next.starts_with(&format!("{V}/query/01g")), "{next}");
        r = call(&sim, Method::GET, &next, None).await;
    }
    assert_eq!(sizes, [2000, 500], "2,000 records a batch by default");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), inserted);
    assert_eq!(seen.len(), 2500);

    // Sforce-Query-Options: batchSize=N, within 200..=2000.
    let r = query(&sim, soql, Some(1000)).await;
    assert_eq!(ids(&r).len(), 1000);
    let r = query(&sim, soql, Some(50)).await;
    assert_eq!(ids(&r).len(), 200, "the minimum batch is 200");
    // A locator can be read again from where it points: a resumed read gets the rest.
    let next = r.body["nextRecordsUrl"].as_str().unwrap().to_string();
    let a = call(&sim, Method::GET, &next, None).await;
    let b = call(&sim, Method::GET, &next, None).await;
    assert_eq!(ids(&a), ids(&b));
    assert!(next.ends_with("-200"));
}

#[tokio::test]
async fn query_locators_are_fixed_and_expire_after_two_days() {
    let clock = Clock::default();
    let sim = sim_with(None, clock.clone()).await;
    let first: Vec<String> = (0..450)
        .map(|i| sim.insert("Contact", contact(i)).unwrap())
        .collect();
    let r = query(&sim, "SELECT Id FROM Contact", Some(200)).await;
    let next = r.body["nextRecordsUrl"].as_str().unwrap().to_string();
    // Records created or deleted after the query do not move its batches.
    sim.insert("Contact", contact(999)).unwrap();
    sim.delete(&first[300]).unwrap();
    let more = call(&sim, Method::GET, &next, None).await;
    assert_eq!(more.body["totalSize"], 450);
    assert!(ids(&more).contains(&first[300]));
    let bogus = call(
        &sim,
        Method::GET,
        &format!("{V}/query/01gNOTALOCATOR00-200"),
        None,
    )
    .await;
    assert_error(&bogus, 400, "INVALID_QUERY_LOCATOR");
    clock.advance(Duration::days(2) + Duration::seconds(1));
    let expired = call(&sim, Method::GET, &next, None).await;
    assert_error(&expired, 400, "INVALID_QUERY_LOCATOR");
}

#[tokio::test]
async fn soql_filters_by_system_modstamp_and_sorts() {
    let clock = Clock::default();
    let sim = sim_with(None, clock.clone()).await;
    let all: Vec<String> = (0..10)
        .map(|i| sim.insert("Contact", contact(i)).unwrap())
        .collect();
    clock.advance(Duration::minutes(5));
    let cut = clock.now();
    clock.advance(Duration::seconds(2));
    sim.update(&all[3], json!({ "Title": "CEO" })).unwrap();
    clock.advance(Duration::seconds(2));
    sim.update(&all[7], json!({ "Title": "CTO" })).unwrap();
    let literal = cut.format("%Y-%m-%dT%H:%M:%SZ");
    let r = query(&sim, &format!("SELECT Id, Title, SystemModstamp FROM Contact WHERE SystemModstamp >= {literal} ORDER BY SystemModstamp DESC"), None).await;
    assert_eq!(ids(&r), [all[7].clone(), all[3].clone()]);
    assert_eq!(r.body["records"][0]["Title"], "CTO");
    let modstamp = r.body["records"][0]["SystemModstamp"].as_str().unwrap();
    assert!(
        modstamp.ends_with("+0000") && modstamp.len() == 28,
        "{modstamp}"
    );
    // Offsets are honoured, and both bounds combine with AND.
    let plus_one = (cut + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S+01:00");
    let upper = (cut + Duration::seconds(3)).format("%Y-%m-%dT%H:%M:%SZ");
    let r = query(&sim, &format!("select id from CONTACT where systemmodstamp >= {plus_one} and SystemModstamp < {upper}"), None).await;
    assert_eq!(ids(&r), [all[3].clone()]);
    let r = query(
        &sim,
        "SELECT Id FROM Contact WHERE Title = 'ceo' LIMIT 5",
        None,
    )
    .await;
    assert_eq!(
        ids(&r),
        [all[3].clone()],
        "text compares case-insensitively"
    );
    let r = query(
        &sim,
        "SELECT Id FROM Contact ORDER BY Title DESC NULLS LAST LIMIT 2 OFFSET 1",
        None,
    )
    .await;
    assert_eq!(ids(&r)[0], all[3]);
    assert_eq!(r.body["totalSize"], 2);
    // An unencoded `+` is a space in a query string: the dateTime breaks.
    let auth = format!("Bearer {TOKEN}");
    let path = format!(
        "{V}/query/?q=SELECT+Id+FROM+Contact+WHERE+SystemModstamp+>=+2024-01-01T00:00:00+01:00"
    );
    let r = raw(&sim, Method::GET, &path, &[("authorization", &auth)], None).await;
    assert_error(&r, 400, "MALFORMED_QUERY");
}

#[tokio::test]
async fn bad_queries_answer_malformed_query_invalid_field_or_invalid_type() {
    let sim = sim().await;
    let r = query(&sim, "SELECT Id FROM Contact WHERE", None).await;
    assert_error(&r, 400, "MALFORMED_QUERY");
    assert!(r.body[0]["message"]
        .as_str()
        .unwrap()
        .contains("ERROR at Row:1:Column:29"));
    let r = query(&sim, "SELECT Id, Shoe_Size__c FROM Contact", None).await;
    assert_error(&r, 400, "INVALID_FIELD");
    assert!(r.body[0]["message"]
        .as_str()
        .unwrap()
        .contains("No such column 'Shoe_Size__c' on entity 'Contact'"));
    let r = query(
        &sim,
        "SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01T00:00:00Z'",
        None,
    )
    .await;
    assert_error(&r, 400, "INVALID_FIELD");
    let r = query(&sim, "SELECT Id FROM Opportunity", None).await;
    assert_error(&r, 400, "INVALID_TYPE");
    let r = call(&sim, Method::GET, &format!("{V}/query"), None).await;
    assert_error(&r, 400, "MALFORMED_QUERY");
    let r = call(
        &sim,
        Method::GET,
        "/services/data/v12.0/query?q=SELECT+Id+FROM+Contact",
        None,
    )
    .await;
    assert_error(&r, 404, "NOT_FOUND");
}

#[tokio::test]
async fn describe_lists_fields_with_types_and_permissions() {
    let sim = sim().await;
    let mut types = HashSet::new();
    for object in ["Contact", "Account"] {
        let r = call(
            &sim,
            Method::GET,
            &format!("{V}/sobjects/{object}/describe"),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["name"], object);
        for f in r.body["fields"].as_array().unwrap() {
            types.insert(f["type"].as_str().unwrap().to_string());
        }
    }
    for t in [
        "id",
        "string",
        "email",
        "phone",
        "url",
        "textarea",
        "double",
        "int",
        "currency",
        "boolean",
        "date",
        "datetime",
        "picklist",
        "multipicklist",
        "reference",
    ] {
        assert!(types.contains(t), "no field of type {t}");
    }
    let d = call(
        &sim,
        Method::GET,
        &format!("{V}/sobjects/contact/describe/"),
        None,
    )
    .await
    .body;
    let field = |n: &str| {
        d["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(field("LastName")["nillable"], false);
    assert_eq!(
        (
            field("SystemModstamp")["createable"].clone(),
            field("SystemModstamp")["updateable"].clone()
        ),
        (json!(false), json!(false))
    );
    assert_eq!(field("AccountId")["referenceTo"], json!(["Account"]));
    let level = field("Level__c");
    let levels: Vec<&str> = level["picklistValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["Primary", "Secondary", "Tertiary"]);
    assert_eq!(field("Level__c")["restrictedPicklist"], true);
    let r = call(
        &sim,
        Method::GET,
        &format!("{V}/sobjects/Widget__c/describe"),
        None,
    )
    .await;
    assert_error(&r, 404, "NOT_FOUND");
}

async fn get_deleted(
    sim: &SalesforceSim,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> Reply {
    let f = |t: chrono::DateTime<chrono::Utc>| {
        t.format("%Y-%m-%dT%H%%3A%M%%3A%S%%2B00%%3A00").to_string()
    };
    call(
        sim,
        Method::GET,
        &format!(
            "{V}/sobjects/Contact/deleted/?start={}&end={}",
            f(start),
            f(end)
        ),
        None,
    )
    .await
}

#[tokio::test]
async fn get_deleted_reports_deletions_within_the_window() {
    let clock = Clock::default();
    let sim = sim_with(None, clock.clone()).await;
    let ids: Vec<String> = (0..5)
        .map(|i| sim.insert("Contact", contact(i)).unwrap())
        .collect();
    let before = clock.now();
    clock.advance(Duration::minutes(3));
    sim.delete(&ids[1]).unwrap();
    let r = call(
        &sim,
        Method::DELETE,
        &format!("{V}/composite/sobjects?ids={}&allOrNone=false", ids[2]),
        None,
    )
    .await;
    assert_eq!(r.body[0]["success"], true, "{}", r.text);
    clock.advance(Duration::minutes(3));
    let now = clock.now();

    let r = get_deleted(&sim, before, now).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let deleted: Vec<&str> = r.body["deletedRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        deleted.iter().copied().collect::<HashSet<_>>(),
        HashSet::from([ids[1].as_str(), ids[2].as_str()])
    );
    assert!(r.body["deletedRecords"][0]["deletedDate"]
        .as_str()
        .unwrap()
        .ends_with("+0000"));
    // The seconds of `end` are ignored: the last date covered is a whole minute.
    let covered = r.body["latestDateCovered"].as_str().unwrap();
    assert!(covered.ends_with(":00.000+0000"), "{covered}");
    assert!(r.body["earliestDateAvailable"].is_string());
    // Deleted records leave queries; queryAll still has them, flagged.
    let q = query(&sim, "SELECT Id FROM Contact", None).await;
    assert_eq!(q.body["totalSize"], 3);
    let all = call(
        &sim,
        Method::GET,
        &format!("{V}/queryAll?q=SELECT+Id,IsDeleted+FROM+Contact+WHERE+IsDeleted+=+true"),
        None,
    )
    .await;
    assert_eq!(all.body["totalSize"], 2, "{}", all.text);

    // A window before the deletions is empty; windows of a minute or less,
    // reversed, or starting more than 30 days ago are refused.
    let r = get_deleted(&sim, before - Duration::minutes(10), before).await;
    assert_eq!(r.body["deletedRecords"], json!([]));
    for (start, end) in [
        (now - Duration::seconds(30), now),
        (now, now - Duration::minutes(5)),
        (now - Duration::days(31), now),
    ] {
        let r = get_deleted(&sim, start, end).await;
        assert_error(&r, 400, "INVALID_REPLICATION_DATE");
    }
    let r = call(
        &sim,
        Method::GET,
        &format!("{V}/sobjects/Contact/deleted/"),
        None,
    )
    .await;
    assert_error(&r, 400, "MISSING_ARGUMENT");

    // After 15 days the delete log is purged: the deletion is no longer reported.
    clock.advance(Duration::days(16));
    let r = get_deleted(&sim, clock.now() - Duration::days(20), clock.now()).await;
    assert_eq!(r.body["deletedRecords"], json!([]), "{}", r.text);
    assert!(sim.record(&ids[1]).is_none(), "purged for good");
}

#[tokio::test]
async fn collections_create_update_delete_and_retrieve_in_order() {
    let clock = Clock::default();
    let sim = sim_with(None, clock.clone()).await;
    let account = sim.insert("Account", json!({ "Name": "Acme" })).unwrap();
    let created = call(&sim, Method::POST, &format!("{V}/composite/sobjects"), Some(json!({
        "allOrNone": false,
        "records": [
            { "attributes": { "type": "Contact" }, "LastName": "One", "AccountId": account, "Languages__c": "English;French;English", "Score__c": 1.5 },
            { "attributes": { "type": "Contact" }, "FirstName": "No last name" },
            { "attributes": { "type": "Contact" }, "LastName": "Two", "Email": "not an email" },
            { "attributes": { "type": "Contact" }, "LastName": "Three", "Level__c": "Quaternary" },
            { "attributes": { "type": "Contact" }, "LastName": "x".repeat(81) },
            { "attributes": { "type": "Contact" }, "LastName": "Four", "AccountId": "001000000000000AAA" },
            { "attributes": { "type": "Account" }, "Name": "Globex", "NumberOfEmployees": 12 }
        ]
    }))).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let results = created.body.as_array().unwrap();
    assert_eq!(results.len(), 7);
    let one = results[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        (results[0]["success"].clone(), results[0]["errors"].clone()),
        (json!(true), json!([]))
    );
    assert!(one.starts_with("003") && one.len() == 18);
    let code = |i: usize| {
        results[i]["errors"][0]["statusCode"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(code(1), "REQUIRED_FIELD_MISSING");
    assert_eq!(results[1]["errors"][0]["fields"], json!(["LastName"]));
    assert_eq!(code(2), "INVALID_EMAIL_ADDRESS");
    assert_eq!(code(3), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
    assert_eq!(code(4), "STRING_TOO_LONG");
    assert_eq!(code(5), "INVALID_CROSS_REFERENCE_KEY");
    assert!(results[6]["id"].as_str().unwrap().starts_with("001"));
    let rec = sim.record(&one).unwrap();
    assert_eq!(
        (rec["Name"].clone(), rec["Languages__c"].clone()),
        (json!("One"), json!("English;French"))
    );
    assert_eq!(rec["HasOptedOutOfEmail"], false);

    clock.advance(Duration::seconds(5));
    let gone = sim.insert("Contact", contact(1)).unwrap();
    sim.delete(&gone).unwrap();
    let before = stamp(&sim, &one);
    let updated = call(&sim, Method::PATCH, &format!("{V}/composite/sobjects"), Some(json!({
        "records": [
            { "attributes": { "type": "Contact" }, "id": one.to_lowercase(), "FirstName": "Uno" },
            { "attributes": { "type": "Contact" }, "id": gone, "FirstName": "x" },
            { "attributes": { "type": "Contact" }, "id": "003bogus", "FirstName": "x" },
            { "attributes": { "type": "Contact" }, "FirstName": "no id" }
        ]
    }))).await;
    let u = updated.body.as_array().unwrap();
    assert_eq!(
        u[0]["success"], true,
        "an 18-character id is case-insensitive: {}",
        updated.text
    );
    assert_eq!(u[0]["id"], one);
    assert_eq!(u[1]["errors"][0]["statusCode"], "ENTITY_IS_DELETED");
    assert_eq!(u[2]["errors"][0]["statusCode"], "MALFORMED_ID");
    assert_eq!(u[3]["errors"][0]["statusCode"], "MISSING_ARGUMENT");
    assert_eq!(sim.record(&one).unwrap()["Name"], "Uno One");
    assert!(stamp(&sim, &one) > before, "an update moves SystemModstamp");

    let got = call(
        &sim,
        Method::GET,
        &format!("{V}/composite/sobjects/Contact?ids={one},{gone}&fields=Id,SystemModstamp"),
        None,
    )
    .await;
    assert_eq!(
        got.body[0]["SystemModstamp"],
        json!(stamp(&sim, &one)),
        "{}",
        got.text
    );
    assert_eq!(got.body[1], Value::Null);

    let deleted = call(
        &sim,
        Method::DELETE,
        &format!("{V}/composite/sobjects?ids={one},{gone},0035g0000099999AAA&allOrNone=false"),
        None,
    )
    .await;
    let d = deleted.body.as_array().unwrap();
    assert_eq!(d[0]["success"], true);
    assert_eq!(d[1]["errors"][0]["statusCode"], "ENTITY_IS_DELETED");
    assert_eq!(
        d[2]["errors"][0]["statusCode"],
        "INVALID_CROSS_REFERENCE_KEY"
    );
    assert_eq!(sim.record(&one).unwrap()["IsDeleted"], true);
}

#[tokio::test]
async fn malformed_collections_fail_whole_and_all_or_none_rolls_back() {
    let sim = sim().await;
    let path = format!("{V}/composite/sobjects");
    let post = |body: Value| call(&sim, Method::POST, &path, Some(body));
    let r = post(json!({ "records": [{ "attributes": { "type": "Contact" }, "LastName": "a" }, { "attributes": { "type": "Contact" }, "Shoe__c": 1 }] })).await;
    assert_error(&r, 400, "INVALID_FIELD");
    let r = post(json!({ "records": [{ "attributes": { "type": "Contact" }, "LastName": "a", "Score__c": "high" }] })).await;
    assert_error(&r, 400, "JSON_PARSER_ERROR");
    let r = post(json!({ "records": [{ "LastName": "a" }] })).await;
    assert_error(&r, 400, "INVALID_TYPE");
    let many: Vec<Value> = (0..201)
        .map(|i| json!({ "attributes": { "type": "Contact" }, "LastName": format!("c{i}") }))
        .collect();
    let r = post(json!({ "records": many })).await;
    assert_error(&r, 400, "EXCEEDED_ID_LIMIT");
    assert!(sim.records("Contact").is_empty(), "nothing was written");

    let r = post(json!({ "allOrNone": true, "records": [
        { "attributes": { "type": "Contact" }, "LastName": "kept?" },
        { "attributes": { "type": "Contact" }, "FirstName": "no last name" }
    ] }))
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(
        r.body[1]["errors"][0]["statusCode"],
        "REQUIRED_FIELD_MISSING"
    );
    assert!(sim.records("Contact").is_empty(), "rolled back");
    let r = post(json!({ "allOrNone": true, "records": [{ "attributes": { "type": "Contact" }, "LastName": "ok" }] })).await;
    assert_eq!(r.body[0]["success"], true);
    assert_eq!(sim.records("Contact").len(), 1);

    let id = sim.records("Contact")[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(
        &sim,
        Method::PATCH,
        &path,
        Some(json!({ "records": [
        { "attributes": { "type": "Contact" }, "id": id, "SystemModstamp": "2020-01-01T00:00:00Z" }
    ] })),
    )
    .await;
    assert_eq!(
        r.body[0]["errors"][0]["statusCode"],
        "INVALID_FIELD_FOR_INSERT_UPDATE"
    );
    let ids: Vec<String> = (0..201).map(|_| id.clone()).collect();
    let r = call(
        &sim,
        Method::DELETE,
        &format!("{path}?ids={}", ids.join(",")),
        None,
    )
    .await;
    assert_error(&r, 400, "EXCEEDED_ID_LIMIT");
}

#[tokio::test]
async fn past_the_daily_allocation_every_call_answers_request_limit_exceeded() {
    let clock = Clock::default();
    let sim = sim_with(Some(3), clock.clone()).await;
    sim.insert("Contact", contact(0)).unwrap();
    for n in 1..=3 {
        let r = query(&sim, "SELECT Id FROM Contact", None).await;
        assert_eq!(r.status, 200);
        let info = r.headers["sforce-limit-info"].to_str().unwrap();
        assert_eq!(info, format!("api-usage={n}/3"));
    }
    let r = query(&sim, "SELECT Id FROM Contact", None).await;
    assert_error(&r, 403, "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(r.body[0]["message"], "TotalRequests Limit exceeded.");
    let r = call(
        &sim,
        Method::GET,
        &format!("{V}/sobjects/Contact/describe"),
        None,
    )
    .await;
    assert_error(&r, 403, "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(sim.limited_count(), 2);
    assert_eq!(sim.api_usage(), 3);
    // The versions resource and the token endpoint are not API calls.
    let r = raw(&sim, Method::GET, "/services/data/", &[], None).await;
    assert_eq!(r.status, 200);
    assert!(r
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["version"] == "59.0" && v["label"] == "Winter '24"));
    // The allocation counts a rolling 24 hours.
    clock.advance(Duration::hours(24));
    assert_eq!(
        query(&sim, "SELECT Id FROM Contact", None).await.status,
        200
    );
    sim.set_daily_limit(None);
    for _ in 0..5 {
        assert_eq!(
            query(&sim, "SELECT Id FROM Contact", None).await.status,
            200
        );
    }
}

async fn refresh(sim: &SalesforceSim, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = CLIENT
        .with(|c| c.post(format!("{}/services/oauth2/token", sim.base_url())))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn access_tokens_expire_and_the_refresh_token_flow_issues_new_ones() {
    let clock = Clock::default();
    let sim = SalesforceSim::start(SalesforceOptions {
        access_token: TOKEN.into(),
        token_ttl: Duration::minutes(30),
        daily_limit: None,
        clock: clock.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let opts = SalesforceOptions::default();
    let path = format!("{V}/sobjects/Contact/describe");
    assert_eq!(call(&sim, Method::GET, &path, None).await.status, 200);
    let r = raw(&sim, Method::GET, &path, &[], None).await;
    assert_error(&r, 401, "INVALID_SESSION_ID");
    assert_eq!(r.body[0]["message"], "Session expired or invalid");
    let r = raw(
        &sim,
        Method::GET,
        &path,
        &[("authorization", "Bearer not-a-token")],
        None,
    )
    .await;
    assert_error(&r, 401, "INVALID_SESSION_ID");
    clock.advance(Duration::minutes(31));
    assert_error(
        &call(&sim, Method::GET, &path, None).await,
        401,
        "INVALID_SESSION_ID",
    );

    let good = [
        ("grant_type", "refresh_token"),
        ("client_id", opts.client_id.as_str()),
        ("client_secret", opts.client_secret.as_str()),
        ("refresh_token", opts.refresh_token.as_str()),
    ];
    let (status, body) = refresh(&sim, &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["instance_url"], sim.base_url());
    let (id, issued_at) = (
        body["id"].as_str().unwrap(),
        body["issued_at"].as_str().unwrap(),
    );
    assert_eq!(
        body["signature"],
        oauth_signature(&opts.client_secret, id, issued_at)
    );
    let fresh = body["access_token"].as_str().unwrap().to_string();
    let auth = format!("Bearer {fresh}");
    assert_eq!(
        raw(&sim, Method::GET, &path, &[("authorization", &auth)], None)
            .await
            .status,
        200
    );
    sim.expire_tokens();
    assert_error(
        &raw(&sim, Method::GET, &path, &[("authorization", &auth)], None).await,
        401,
        "INVALID_SESSION_ID",
    );

    for (field, value, error) in [
        ("grant_type", "password", "unsupported_grant_type"),
        ("client_id", "someone-else", "invalid_client_id"),
        ("client_secret", "wrong", "invalid_client"),
        ("refresh_token", "revoked", "invalid_grant"),
    ] {
        let form: Vec<(&str, &str)> = good
            .iter()
            .map(|(k, v)| if *k == field { (*k, value) } else { (*k, *v) })
            .collect();
        let (status, body) = refresh(&sim, &form).await;
        assert_eq!(
            (status, body["error"].as_str().unwrap()),
            (400, error),
            "{body}"
        );
        assert!(body["error_description"].is_string());
    }
}

#[tokio::test]
async fn injected_faults_answer_before_anything_else() {
    let sim = sim_with(Some(10), Clock::default()).await;
    sim.fail_next(2, 503);
    for _ in 0..2 {
        assert_error(
            &query(&sim, "SELECT Id FROM Contact", None).await,
            503,
            "SERVER_UNAVAILABLE",
        );
    }
    sim.fail_next(1, 502);
    let r = query(&sim, "SELECT Id FROM Contact", None).await;
    assert_eq!(r.status, 502);
    assert!(r.text.contains("Bad Gateway"));
    sim.fail_next(1, 403);
    assert_error(
        &query(&sim, "SELECT Id FROM Contact", None).await,
        403,
        "REQUEST_LIMIT_EXCEEDED",
    );
    assert_eq!(
        query(&sim, "SELECT Id FROM Contact", None).await.status,
        200
    );
    assert_eq!(sim.request_count(), 5);
    assert_eq!(sim.api_usage(), 1, "faults do not spend the allocation");
}
