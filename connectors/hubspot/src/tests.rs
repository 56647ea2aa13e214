//! Unit tests of the settings, the descriptor and the read phases.

use super::*;
use read::{after_list, after_search, search_body, CursorState, Phase};
use serde_json::json;
use synchost_sdk::FieldValue;

fn settings(pairs: &[(&str, &str)]) -> Settings {
    Settings::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn describe_declares_host_auth_rate_and_capabilities() {
    let d = HubSpot::describe();
    assert_eq!(d.name, "hubspot");
    assert_eq!(d.contract, "0.2.0");
    assert_eq!(d.entities, ["contacts", "companies", "deals"]);
    assert_eq!(d.hosts, ["https://api.hubapi.com"]);
    assert!(matches!(&d.auth, AuthScheme::Bearer(s) if s == "hubspot_token"));
    let rate = d.rate.as_ref().unwrap();
    assert_eq!(
        (rate.per_second, rate.burst, rate.daily_budget),
        (10.0, 10, Some(250_000))
    );
    let all = Capabilities::READ
        | Capabilities::WRITE
        | Capabilities::INCREMENTAL
        | Capabilities::DELETES
        | Capabilities::WEBHOOKS;
    assert_eq!(d.capabilities.bits(), all.bits());
    let names: Vec<&str> = d.settings.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "object.<entity>",
            "properties.<entity>",
            "webhook_url",
            "webhook_secret"
        ]
    );
}

#[test]
fn settings_map_entities_to_object_types() {
    let defaults = entities_from_settings(&settings(&[])).unwrap();
    assert_eq!(
        defaults.keys().collect::<Vec<_>>(),
        ["companies", "contacts", "deals"]
    );
    assert_eq!(defaults["deals"].object_type, "deals");
    let map = entities_from_settings(&settings(&[
        ("object.people", " contacts "),
        ("object.orgs", "companies"),
        ("properties.people", "email, firstname ,lastname"),
        ("other", "x"),
    ]))
    .unwrap();
    assert_eq!(map.len(), 2);
    assert_eq!(map["people"].object_type, "contacts");
    assert_eq!(
        map["people"].properties.as_deref().unwrap(),
        ["email", "firstname", "lastname"]
    );
    assert_eq!(map["orgs"].properties, None);
}

#[test]
fn settings_errors_name_the_setting() {
    let err = |pairs: &[(&str, &str)]| match entities_from_settings(&settings(pairs)) {
        Err(ConnectorError::InvalidInput(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(err(&[("object.people", "tickets")]).contains("`object.people`"));
    assert!(err(&[("object.", "contacts")]).contains("entity name"));
    assert!(err(&[("properties.nobody", "email")]).contains("`properties.nobody`"));
    assert!(err(&[("properties.contacts", " , ")]).contains("`properties.contacts`"));
    assert!(err(&[("properties.contacts", "email&x=1")]).contains("property names"));
}

#[test]
fn unknown_entity_is_not_found() {
    let hs = HubSpot::configure(settings(&[("object.people", "contacts")])).unwrap();
    assert!(
        matches!(hs.entity("contacts"), Err(ConnectorError::NotFound(m)) if m.contains("`object.contacts`"))
    );
    let read = hs.read(ReadRequest {
        entity: "nope".into(),
        cursor: None,
        since: None,
        page_size: 0,
    });
    assert!(matches!(read, Err(ConnectorError::NotFound(_))));
    assert!(matches!(
        hs.write("nope", vec![]),
        Err(ConnectorError::NotFound(_))
    ));
    assert_eq!(modified_property("contacts"), "lastmodifieddate");
    assert_eq!(modified_property("deals"), "hs_lastmodifieddate");
}

fn schema() -> ObjectSchema {
    let body = json!({"results": [
        {"name": "email", "type": "string", "fieldType": "text"},
        {"name": "score", "type": "number", "fieldType": "number"},
        {"name": "lastmodifieddate", "type": "datetime", "fieldType": "date", "modificationMetadata": {"readOnlyValue": true}}
    ]});
    ObjectSchema::parse("contacts", &body, None).unwrap()
}

fn obj(id: &str, at_ms: i64) -> Value {
    let at = time::from_millis(at_ms);
    json!({"id": id, "properties": {"email": format!("{id}@x.co"), "score": "7", "lastmodifieddate": at},
           "createdAt": at, "updatedAt": at, "archived": false})
}

#[test]
fn a_full_scan_lists_active_then_archived_records() {
    let s = schema();
    let state = CursorState::resume(None, None).unwrap();
    assert_eq!(state.phase, Phase::Active);
    assert_eq!(
        read::list_path("contacts", 100, Some("NTI1Cg=="), false, &s.names()),
        "/crm/v3/objects/contacts?limit=100&archived=false&properties=email%2Clastmodifieddate%2Cscore&after=NTI1Cg%3D%3D"
    );
    let page1 =
        json!({"results": [obj("1", 1000)], "paging": {"next": {"after": "Mgo=", "link": "x"}}});
    let step = after_list(state, &page1, &s).unwrap();
    assert!(!step.done);
    assert_eq!(step.state.after.as_deref(), Some("Mgo="));
    let r = &step.items[0];
    assert_eq!((r.id.as_str(), r.deleted), ("1", false));
    assert_eq!(r.version.as_deref(), Some("1970-01-01T00:00:01.000Z"));
    assert_eq!(r.get("score"), Some(&FieldValue::Number(7.0)));
    let page2 = json!({"results": [obj("2", 3000)]});
    let step = after_list(step.state, &page2, &s).unwrap();
    assert_eq!(
        (step.state.phase, step.state.after.clone(), step.done),
        (Phase::Archived, None, false)
    );
    // Archived records are tombstones without fields.
    let mut tomb = obj("3", 2000);
    tomb["archived"] = json!(true);
    tomb["archivedAt"] = json!(time::from_millis(2000));
    let step = after_list(step.state, &json!({"results": [tomb]}), &s).unwrap();
    assert!(step.done);
    assert!(step.items[0].deleted && step.items[0].fields.is_empty());
    assert_eq!(
        step.state.max_seen.as_deref(),
        Some("1970-01-01T00:00:03.000Z")
    );
    // Without a Date header the checkpoint is the greatest modification seen.
    let page = read::finish(step.items, &step.state, true);
    assert_eq!(page.checkpoint.as_deref(), Some("1970-01-01T00:00:03.000Z"));
    assert!(page.next_cursor.is_none());
}

#[test]
fn an_incremental_read_keeps_only_records_archived_since() {
    let s = schema();
    let state = CursorState {
        phase: Phase::Archived,
        since: Some(time::from_millis(5000)),
        ..Default::default()
    };
    let tomb = |id: &str, at: i64| {
        let mut o = obj(id, at);
        o["archived"] = json!(true);
        o["archivedAt"] = json!(time::from_millis(at));
        o
    };
    let step = after_list(
        state,
        &json!({"results": [tomb("1", 4999), tomb("2", 5000), tomb("3", 9000)]}),
        &s,
    )
    .unwrap();
    let ids: Vec<&str> = step.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["2", "3"]);
    assert!(step.done);
}

#[test]
fn search_windows_move_by_last_modified_date_and_skip_what_was_returned() {
    let since = time::from_millis(1000);
    let state = CursorState::resume(None, Some(&since)).unwrap();
    assert_eq!((state.phase, state.lower_ms), (Phase::Search, Some(1000)));
    assert!(CursorState::resume(None, Some("last tuesday")).is_err());
    let names = vec!["email".to_string()];
    assert_eq!(
        search_body(&state, "lastmodifieddate", 3, &names),
        json!({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1000"}]}],
               "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
               "properties": ["email"], "limit": 3})
    );
    // A full page: the next window starts at its last instant, skipping the
    // ids already returned at that instant.
    let page = json!({"total": 9, "results": [obj("1", 1000), obj("2", 2000), obj("3", 2000)], "paging": {"next": {"after": "3"}}});
    let step = after_search(state, &page, "lastmodifieddate", 3).unwrap();
    assert_eq!(step.items.len(), 3);
    assert_eq!(
        (step.state.lower_ms, step.state.skip.clone()),
        (Some(2000), vec!["2".to_string(), "3".to_string()])
    );
    assert!(
        step.state.after.is_none(),
        "search never follows the offset"
    );
    let encoded = step.state.encode();
    let state = CursorState::resume(Some(&encoded), None).unwrap();
    assert_eq!(state, step.state);
    // The next window returns the skipped ids again; they are not handed out twice.
    let page = json!({"total": 4, "results": [obj("2", 2000), obj("3", 2000), obj("4", 2500), obj("5", 3000)]});
    let step = after_search(state, &page, "lastmodifieddate", 4).unwrap();
    let ids: Vec<&str> = step
        .items
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["4", "5"]);
    assert_eq!(step.state.lower_ms, Some(3000));
    // A page that is not full ends the search: on to the archived records.
    let step = after_search(
        step.state,
        &json!({"total": 0, "results": []}),
        "lastmodifieddate",
        4,
    )
    .unwrap();
    assert_eq!(step.state.phase, Phase::Archived);
    assert_eq!(step.state.since.as_deref(), Some(since.as_str()));
    assert!(!step.done);
}

#[test]
fn a_page_all_at_one_instant_is_paged_by_id() {
    let state = CursorState::resume(None, Some(&time::from_millis(1000))).unwrap();
    let page =
        json!({"results": [obj("7", 1000), obj("8", 1000)], "paging": {"next": {"after": "2"}}});
    let step = after_search(state, &page, "lastmodifieddate", 2).unwrap();
    assert_eq!(step.items.len(), 2);
    let state = step.state;
    assert_eq!(
        (state.phase, state.lower_ms, state.tie_after.clone()),
        (Phase::Ties, Some(1000), None)
    );
    assert_eq!(state.skip, ["7", "8"]);
    assert_eq!(
        search_body(&state, "lastmodifieddate", 2, &[])["filterGroups"][0]["filters"],
        json!([{"propertyName": "lastmodifieddate", "operator": "EQ", "value": "1000"}])
    );
    // Ties come in id order: 3 and 7 are new or skipped, then past 7.
    let page =
        json!({"results": [obj("3", 1000), obj("7", 1000)], "paging": {"next": {"after": "2"}}});
    let step = after_search(state, &page, "lastmodifieddate", 2).unwrap();
    let ids: Vec<&str> = step
        .items
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["3"]);
    let state = step.state;
    assert_eq!(
        (state.tie_after.as_deref(), state.skip.clone()),
        (Some("7"), vec!["8".to_string()])
    );
    let body = search_body(&state, "lastmodifieddate", 2, &[]);
    assert_eq!(
        body["filterGroups"][0]["filters"][1],
        json!({"propertyName": "hs_object_id", "operator": "GT", "value": "7"})
    );
    assert_eq!(body["sorts"][0]["propertyName"], "hs_object_id");
    // The last ties: 8 was returned already; then strictly after the instant.
    let step = after_search(
        state,
        &json!({"results": [obj("8", 1000), obj("9", 1000)]}),
        "lastmodifieddate",
        3,
    )
    .unwrap();
    let ids: Vec<&str> = step
        .items
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["9"]);
    let state = step.state;
    assert_eq!(
        (state.phase, state.strict, state.lower_ms),
        (Phase::Search, true, Some(1000))
    );
    assert!(state.skip.is_empty());
    assert_eq!(
        search_body(&state, "lastmodifieddate", 2, &[])["filterGroups"][0]["filters"][0]
            ["operator"],
        "GT"
    );
}

#[test]
fn search_bodies_over_3000_characters_do_not_fit() {
    let state = CursorState::resume(None, Some("2024-01-01T00:00:00Z")).unwrap();
    let few: Vec<String> = (0..10).map(|i| format!("property_{i}")).collect();
    let many: Vec<String> = (0..300).map(|i| format!("property_{i}")).collect();
    assert!(read::fits(&search_body(
        &state,
        "lastmodifieddate",
        200,
        &few
    )));
    assert!(!read::fits(&search_body(
        &state,
        "lastmodifieddate",
        200,
        &many
    )));
}

#[test]
fn checkpoint_prefers_the_platform_date() {
    let state = CursorState {
        started: Some("2024-01-02T00:00:00Z".into()),
        max_seen: Some("2024-01-03T00:00:00.000Z".into()),
        since: Some("2024-01-01T00:00:00Z".into()),
        ..Default::default()
    };
    assert_eq!(state.checkpoint().as_deref(), Some("2024-01-02T00:00:00Z"));
    let only_since = CursorState {
        since: Some("2024-01-01T00:00:00Z".into()),
        ..Default::default()
    };
    assert_eq!(
        only_since.checkpoint().as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    assert_eq!(CursorState::default().checkpoint(), None);
    assert_eq!(read::page_size(0, 100), 100);
    assert_eq!(read::page_size(500, 200), 200);
    assert_eq!(read::page_size(25, 100), 25);
}

#[test]
fn records_merged_into_a_read_record_are_tombstones() {
    let schema = schema::ObjectSchema::parse(
        "people",
        &json!({"results": [{"name": "firstname", "type": "string", "fieldType": "text"}]}),
        None,
    )
    .unwrap();
    assert_eq!(read::read_names(&schema), ["firstname", read::MERGED_IDS]);
    let merged = json!({"id": "30", "updatedAt": "2024-01-01T00:00:00.000Z",
        "properties": {"firstname": "Ann", "hs_merged_object_ids": "10;11;30;x"}});
    let plain = json!({"id": "40", "updatedAt": "2024-01-01T00:00:00.000Z", "properties": {}});
    let objects = vec![merged.clone(), plain.clone()];
    let records = objects
        .iter()
        .map(|o| read::to_record(o, &schema))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let page = read::with_merged(&objects, records);
    let got: Vec<(&str, bool)> = page.iter().map(|r| (r.id.as_str(), r.deleted)).collect();
    assert_eq!(
        got,
        [("30", false), ("40", false), ("10", true), ("11", true)]
    );
    assert_eq!(
        page[2].updated_at.as_deref(),
        Some("2024-01-01T00:00:00.000Z")
    );
    // A full scan's list page carries them as well.
    let body = json!({"results": [merged, plain]});
    let step = after_list(CursorState::default(), &body, &schema).unwrap();
    assert_eq!(step.items.len(), 4);
}
