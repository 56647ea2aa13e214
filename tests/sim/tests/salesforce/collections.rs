//! sObject Collections: create, update, delete and retrieve in one call.

use super::*;

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
