//! Both data models, selected by `Notion-Version`, and what a second data
//! source does to the old one (https://developers.notion.com/docs/upgrade-guide-2025-09-03).

use reqwest::Method;
use serde_json::json;

use super::{assert_error, call, sim, title, CURRENT, LEGACY};

#[tokio::test]
async fn a_database_of_one_data_source_answers_in_the_model_of_each_version() {
    let sim = sim().await;
    let db = sim.create_database("Tasks", &[("Done", "checkbox"), ("Links", "relation")]);
    let ds = sim.data_sources(&db).pop().unwrap();
    let page = sim.insert_page(&db, title("a")).unwrap();

    let old = call(
        &sim,
        LEGACY,
        Method::GET,
        &format!("/v1/databases/{db}"),
        None,
    )
    .await;
    assert_eq!(
        (old.body["object"].as_str(), old.body["id"].as_str()),
        (Some("database"), Some(db.as_str()))
    );
    assert_eq!(old.body["properties"]["Done"]["type"], "checkbox");
    assert!(old.body.get("data_sources").is_none());

    let new = call(
        &sim,
        CURRENT,
        Method::GET,
        &format!("/v1/databases/{db}"),
        None,
    )
    .await;
    assert_eq!(
        new.body["data_sources"],
        json!([{"id": ds, "name": "Tasks"}])
    );
    assert!(new.body.get("properties").is_none(), "{}", new.body);
    let source = call(
        &sim,
        CURRENT,
        Method::GET,
        &format!("/v1/data_sources/{ds}"),
        None,
    )
    .await;
    assert_eq!(source.body["object"], "data_source");
    assert_eq!(
        source.body["parent"],
        json!({"type": "database_id", "database_id": db})
    );
    assert_eq!(source.body["properties"]["Done"]["type"], "checkbox");
    assert_eq!(
        source.body["properties"]["Links"]["relation"]["data_source_id"],
        ds
    );

    let q = call(
        &sim,
        CURRENT,
        Method::POST,
        &format!("/v1/data_sources/{ds}/query"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (q.body["type"].as_str(), q.body["results"][0]["id"].as_str()),
        (Some("page_or_data_source"), Some(page.as_str()))
    );
    assert_eq!(
        q.body["results"][0]["parent"],
        json!({"type": "data_source_id", "data_source_id": ds, "database_id": db})
    );
    let q = call(
        &sim,
        LEGACY,
        Method::POST,
        &format!("/v1/databases/{db}/query"),
        Some(json!({})),
    )
    .await;
    assert_eq!(q.body["type"], "page_or_database");
    assert_eq!(
        q.body["results"][0]["parent"],
        json!({"type": "database_id", "database_id": db})
    );

    // Each model's paths exist only in its versions.
    let r = call(
        &sim,
        LEGACY,
        Method::GET,
        &format!("/v1/data_sources/{ds}"),
        None,
    )
    .await;
    assert_error(&r, 400, "invalid_request_url");
    let r = call(
        &sim,
        CURRENT,
        Method::POST,
        &format!("/v1/databases/{db}/query"),
        Some(json!({})),
    )
    .await;
    assert_error(&r, 400, "invalid_request_url");

    // A data source parent "works for any API version".
    for version in [LEGACY, CURRENT] {
        let body = json!({"parent": {"type": "data_source_id", "data_source_id": ds}, "properties": title(version)});
        let r = call(&sim, version, Method::POST, "/v1/pages", Some(body)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(sim.pages(&db).len(), 3);
}

#[tokio::test]
async fn a_second_data_source_fails_the_old_versions_database_calls_as_documented() {
    let sim = sim().await;
    let db = sim.create_database("Tasks", &[("Links", "relation"), ("Done", "checkbox")]);
    let first = sim.data_sources(&db).pop().unwrap();
    let page = sim.insert_page(&db, title("a")).unwrap();
    let second = sim
        .add_data_source(&db, "Bugs", &[("Severity", "select")])
        .unwrap();
    assert_eq!(sim.data_sources(&db), [first.clone(), second.clone()]);

    let refused = [
        call(
            &sim,
            LEGACY,
            Method::GET,
            &format!("/v1/databases/{db}"),
            None,
        )
        .await,
        call(
            &sim,
            LEGACY,
            Method::POST,
            &format!("/v1/databases/{db}/query"),
            Some(json!({})),
        )
        .await,
        call(
            &sim,
            LEGACY,
            Method::POST,
            "/v1/pages",
            Some(json!({"parent": {"database_id": db}, "properties": title("b")})),
        )
        .await,
        call(
            &sim,
            LEGACY,
            Method::PATCH,
            &format!("/v1/pages/{page}"),
            Some(json!({"properties": {"Links": {"relation": [{"id": page}]}}})),
        )
        .await,
    ];
    for r in refused {
        assert_error(&r, 400, "validation_error");
        assert_eq!(
            r.body["message"],
            "Databases with multiple data sources are not supported in this API version."
        );
        assert_eq!(
            r.body["additional_data"],
            json!({
                "error_type": "multiple_data_sources_for_database",
                "database_id": db,
                "child_data_source_ids": [first, second],
                "minimum_api_version": "2025-09-03",
            })
        );
    }
    // Other edits of its pages go on.
    let r = call(
        &sim,
        LEGACY,
        Method::PATCH,
        &format!("/v1/pages/{page}"),
        Some(json!({"properties": {"Done": {"checkbox": true}}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The data-source model reaches each data source.
    let r = call(
        &sim,
        CURRENT,
        Method::GET,
        &format!("/v1/databases/{db}"),
        None,
    )
    .await;
    assert_eq!(
        r.body["data_sources"][1],
        json!({"id": second, "name": "Bugs"})
    );
    let r = call(
        &sim,
        CURRENT,
        Method::POST,
        &format!("/v1/data_sources/{first}/query"),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.body["results"].as_array().unwrap().len(), 1);
    let body = json!({"parent": {"data_source_id": second}, "properties": {"Severity": {"select": {"name": "High"}}}});
    let r = call(&sim, CURRENT, Method::POST, "/v1/pages", Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        &sim,
        CURRENT,
        Method::PATCH,
        &format!("/v1/pages/{page}"),
        Some(json!({"properties": {"Links": {"relation": [{"id": page}]}}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sim.pages(&second).len(), 1);
    assert_eq!(sim.pages(&db).len(), 2);
}
