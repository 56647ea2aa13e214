//! References cut at 25 in page objects; whole through the property item endpoint.

use reqwest::Method;
use serde_json::{json, Value};

use super::{assert_error, call, sim, title, LEGACY};

fn uuid(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn refs(n: usize) -> Value {
    Value::Array((0..n).map(|i| json!({"id": uuid(i)})).collect())
}

fn ids(list: &Value, key: Option<&str>) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| match key {
            Some(k) => v[k]["id"].as_str().unwrap().to_string(),
            None => v["id"].as_str().unwrap().to_string(),
        })
        .collect()
}

#[tokio::test]
async fn page_objects_show_25_references_and_the_property_item_endpoint_all_of_them() {
    let sim = sim().await;
    let db = sim.create_database(
        "Tasks",
        &[
            ("Links", "relation"),
            ("Owners", "people"),
            ("Points", "number"),
        ],
    );
    let mut props = title("many");
    props["Links"] = json!({"relation": refs(30)});
    props["Owners"] = json!({"people": refs(30)});
    props["Points"] = json!({"number": 3});
    let page = sim.insert_page(&db, props).unwrap();
    let all: Vec<String> = (0..30).map(uuid).collect();

    for object in [
        call(
            &sim,
            LEGACY,
            Method::GET,
            &format!("/v1/pages/{page}"),
            None,
        )
        .await
        .body,
        call(
            &sim,
            LEGACY,
            Method::POST,
            &format!("/v1/databases/{db}/query"),
            Some(json!({})),
        )
        .await
        .body["results"][0]
            .clone(),
    ] {
        let p = &object["properties"];
        assert_eq!(ids(&p["Links"]["relation"], None), all[..25]);
        assert_eq!(p["Links"]["has_more"], true);
        assert_eq!(ids(&p["Owners"]["people"], None), all[..25]);
    }
    // The simulator's handle shows what the page holds.
    assert_eq!(
        ids(
            &sim.page(&page).unwrap()["properties"]["Links"]["relation"],
            None
        ),
        all
    );

    let schema = call(
        &sim,
        LEGACY,
        Method::GET,
        &format!("/v1/databases/{db}"),
        None,
    )
    .await;
    for (name, kind) in [("Links", "relation"), ("Owners", "people")] {
        let prop = schema.body["properties"][name]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (mut seen, mut cursor) = (Vec::new(), None::<String>);
        loop {
            let mut path = format!("/v1/pages/{page}/properties/{prop}?page_size=10");
            if let Some(c) = &cursor {
                path.push_str(&format!("&start_cursor={c}"));
            }
            let r = call(&sim, LEGACY, Method::GET, &path, None).await;
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(
                (r.body["object"].as_str(), r.body["type"].as_str()),
                (Some("list"), Some("property_item"))
            );
            assert_eq!(r.body["property_item"]["type"], kind);
            assert_eq!(r.body["results"][0]["object"], "property_item");
            seen.extend(ids(&r.body["results"], Some(kind)));
            match r.body["next_cursor"].as_str() {
                Some(c) => {
                    assert_eq!(r.body["has_more"], true);
                    assert!(r.body["property_item"]["next_url"].is_string());
                    cursor = Some(c.to_string());
                }
                None => break,
            }
        }
        assert_eq!(seen, all, "{name}");
    }
    // A simple property is one item; a property that does not exist is not found.
    let prop = schema.body["properties"]["Points"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(
        &sim,
        LEGACY,
        Method::GET,
        &format!("/v1/pages/{page}/properties/{prop}"),
        None,
    )
    .await;
    assert_eq!(
        r.body,
        json!({"object": "property_item", "id": prop, "type": "number", "number": 3})
    );
    let r = call(
        &sim,
        LEGACY,
        Method::GET,
        &format!("/v1/pages/{page}/properties/nope"),
        None,
    )
    .await;
    assert_error(&r, 404, "object_not_found");
    let bad = format!("/v1/pages/{page}/properties/{prop}?page_size=101");
    let r = call(&sim, LEGACY, Method::GET, &bad, None).await;
    assert_eq!(r.status, 200, "a simple property has no pages: {}", r.body);
}

#[tokio::test]
async fn a_write_of_more_than_100_related_pages_or_users_is_refused() {
    let sim = sim().await;
    let db = sim.create_database("Tasks", &[("Links", "relation"), ("Owners", "people")]);
    for (name, kind) in [("Links", "relation"), ("Owners", "people")] {
        let mut props = title("x");
        props[name] = json!({kind: refs(101)});
        let body = json!({"parent": {"database_id": db}, "properties": props});
        let r = call(&sim, LEGACY, Method::POST, "/v1/pages", Some(body)).await;
        assert_error(&r, 400, "validation_error");
        let message = r.body["message"].as_str().unwrap();
        assert!(
            message.contains(&format!(
                "body.properties.{name}.{kind}.length should be ≤ `100`"
            )),
            "{message}"
        );
        props[name] = json!({kind: refs(100)});
        let body = json!({"parent": {"database_id": db}, "properties": props});
        assert_eq!(
            call(&sim, LEGACY, Method::POST, "/v1/pages", Some(body))
                .await
                .status,
            200
        );
    }
}
