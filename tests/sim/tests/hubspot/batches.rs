//! Batch writes, multi-status answers and merges.

use super::*;

#[tokio::test]
async fn batch_create_update_archive_and_read() {
    let sim = sim().await;
    let inputs: Vec<Value> = (0..5)
        .map(|i| json!({"properties": {"dealname": format!("deal {i}"), "amount": i * 10, "dealstage": "qualifiedtobuy"}, "objectWriteTraceId": i.to_string()}))
        .collect();
    let r = post(
        &sim,
        "/crm/v3/objects/deals/batch/create",
        json!({"inputs": inputs}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "COMPLETE");
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    // Results are matched to inputs by objectWriteTraceId, not by position.
    let mut by_trace = std::collections::BTreeMap::new();
    for res in results {
        let trace = res["objectWriteTraceId"].as_str().unwrap().to_string();
        let i: usize = trace.parse().unwrap();
        assert_eq!(res["properties"]["dealname"], format!("deal {i}"));
        assert_eq!(res["properties"]["amount"], (i * 10).to_string());
        by_trace.insert(i, res["id"].as_str().unwrap().to_string());
    }
    let ids_: Vec<String> = by_trace.into_values().collect();
    let r = post(&sim, "/crm/v3/objects/deals/batch/update", json!({"inputs": [
        {"id": ids_[0], "properties": {"amount": "1500.5"}},
        {"id": "999999", "properties": {"amount": 1}},
        {"id": ids_[1], "properties": {"dealstage": "closedwon", "closedate": "2024-05-01T12:00:00Z"}}]})).await;
    assert_eq!(r.status, 207, "{}", r.body);
    assert_eq!(r.body["numErrors"], 1);
    assert_eq!(r.body["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(r.body["errors"][0]["context"]["ids"], json!(["999999"]));
    assert_eq!(r.body["results"].as_array().unwrap().len(), 2);
    let deal = sim.record("deals", &ids_[1]).unwrap();
    assert_eq!(deal["properties"]["dealstage"], "closedwon");
    assert_eq!(deal["properties"]["closedate"], "2024-05-01T12:00:00.000Z");
    assert_eq!(
        sim.record("deals", &ids_[0]).unwrap()["properties"]["amount"],
        "1500.5"
    );
    let r = post(
        &sim,
        "/crm/v3/objects/deals/batch/update",
        json!({"inputs": [
        {"id": ids_[0], "properties": {}}, {"id": ids_[0], "properties": {}}]}),
    )
    .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .starts_with("Duplicate IDs found in batch input"));

    let r = post(
        &sim,
        "/crm/v3/objects/deals/batch/archive",
        json!({"inputs": [{"id": ids_[2]}, {"id": "424242"}]}),
    )
    .await;
    assert_eq!((r.status, r.body.clone()), (204, Value::Null));
    let r = post(
        &sim,
        "/crm/v3/objects/deals/batch/read",
        json!({"properties": ["dealname"], "inputs": [{"id": ids_[2]}, {"id": ids_[3]}]}),
    )
    .await;
    assert_eq!(r.status, 207);
    assert_eq!(ids(&r), [ids_[3].clone()]);
    let r = post(
        &sim,
        "/crm/v3/objects/deals/batch/read?archived=true",
        json!({"inputs": [{"id": ids_[2]}]}),
    )
    .await;
    assert_eq!((r.status, ids(&r)), (200, vec![ids_[2].clone()]));
    assert!(r.body["results"][0]["archivedAt"].is_string());
}

#[tokio::test]
async fn invalid_values_fail_the_whole_batch() {
    let sim = sim().await;
    let existing = sim.insert("contacts", contact(1)).unwrap();
    let path = "/crm/v3/objects/contacts/batch/create";
    let cases = [
        (json!({"nope": "x"}), "PROPERTY_DOESNT_EXIST"),
        (json!({"lifecyclestage": "royalty"}), "INVALID_OPTION"),
        (json!({"hs_object_id": "5"}), "READ_ONLY_VALUE"),
        (json!({"email": "not an email"}), "INVALID_EMAIL"),
    ];
    for (props, code) in cases {
        let inputs =
            json!({"inputs": [{"properties": {"firstname": "ok"}}, {"properties": props}]});
        let r = post(&sim, path, inputs).await;
        assert_error(&r, 400, "VALIDATION_ERROR");
        let message = r.body["message"].as_str().unwrap();
        assert!(
            message.starts_with("Property values were not valid: ["),
            "{message}"
        );
        assert!(message.contains(code), "{message}");
    }
    let r = post(
        &sim,
        path,
        json!({"inputs": [{"properties": {"email": "PERSON1@example.com"}}]}),
    )
    .await;
    assert_error(&r, 409, "CONFLICT");
    assert_eq!(
        r.body["message"],
        format!("Contact already exists. Existing ID: {existing}")
    );
    let many: Vec<Value> = (0..101).map(|_| json!({"properties": {}})).collect();
    assert_error(
        &post(&sim, path, json!({"inputs": many})).await,
        400,
        "VALIDATION_ERROR",
    );
    assert_eq!(sim.records("contacts").len(), 1, "nothing was created");
}

#[tokio::test]
async fn traced_creates_answer_multi_status_with_or_without_the_echo() {
    let sim = sim().await;
    let existing = sim.insert("contacts", contact(1)).unwrap();
    sim.set_batch_results(BatchResults {
        echo_write_trace_ids: false,
        shuffle: false,
    });
    let inputs = json!({"inputs": [
        {"objectWriteTraceId": "a", "properties": {"firstname": "Ann"}},
        {"objectWriteTraceId": "b", "properties": {"nope": "x"}},
        {"objectWriteTraceId": "c", "properties": {"email": "PERSON1@example.com"}},
        {"objectWriteTraceId": "d", "properties": {"firstname": "Dan"}}]});
    let r = post(&sim, "/crm/v3/objects/contacts/batch/create", inputs).await;
    assert_eq!(r.status, 207, "{}", r.body);
    let results = r.body["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|o| o["properties"]["firstname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ann", "Dan"], "in input order, as switched");
    assert!(results
        .iter()
        .all(|o| o.get("objectWriteTraceId").is_none()));
    let errors = &r.body["errors"];
    assert_eq!(r.body["numErrors"], 2);
    assert_eq!(errors[0]["category"], "VALIDATION_ERROR");
    assert_eq!(errors[0]["context"]["objectWriteTraceId"], json!(["b"]));
    assert_eq!(errors[1]["category"], "CONFLICT");
    assert_eq!(
        errors[1]["message"],
        format!("Contact already exists. Existing ID: {existing}")
    );
    assert_eq!(errors[1]["context"]["objectWriteTraceId"], json!(["c"]));
    assert_eq!(sim.records("contacts").len(), 3);
}

#[tokio::test]
async fn merged_records_leave_lists_and_search_and_their_ids_read_as_the_result() {
    let sim = sim().await;
    let (a, b) = (seed(&sim, 2)[0].clone(), "10002".to_string());
    let body = json!({"primaryObjectId": a, "objectIdToMerge": b});
    let r = post(&sim, "/crm/v3/objects/contacts/merge", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let merged = r.body["id"].as_str().unwrap().to_string();
    assert!(merged != a && merged != b, "a new record");
    let live = get(&sim, "/crm/v3/objects/contacts?limit=100").await;
    let archived = get(&sim, "/crm/v3/objects/contacts?limit=100&archived=true").await;
    assert_eq!((ids(&live), ids(&archived)), (vec![merged.clone()], vec![]));
    let body = json!({"properties": ["hs_merged_object_ids"], "filterGroups": []});
    let r = post(&sim, "/crm/v3/objects/contacts/search", body).await;
    assert_eq!(ids(&r), std::slice::from_ref(&merged));
    let listed = &r.body["results"][0]["properties"]["hs_merged_object_ids"];
    assert_eq!(listed.as_str(), Some(format!("{a};{b}").as_str()));
    let old = get(&sim, &format!("/crm/v3/objects/contacts/{b}")).await;
    assert_eq!(
        old.body["id"],
        merged.as_str(),
        "an old id reads the result"
    );
}
