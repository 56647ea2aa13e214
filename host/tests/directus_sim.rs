//! The Directus connector, built from source and run in the host's sandbox,
//! against the Directus simulator (`synchost_sim::directus`): syncs with the
//! Notion simulator one way and both ways, deletes through the activity
//! log, Directus' rate limiter, every field type, and the acceptance suite.

#[path = "directus_sim/world.rs"]
mod world;

use std::time::Duration;

use serde_json::{json, Value};
use synchost::acceptance::{self, Fixture};
use synchost::sync::Status;
use synchost_sim::directus::{DirectusOptions, DirectusSim};
use world::{connectors, runtime, summary, World, DIRECTUS_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_from_notion_lands_every_record_in_directus_and_a_second_run_writes_nothing() {
    let w = World::new("pull", "pull", DirectusOptions::default()).await;
    w.seed_notion(0..300);
    let first = w.sync(false).await;
    assert_eq!(first.synced_items, 300, "{first:#?}");
    let directus = w.directus_rows();
    assert_eq!(directus.len(), 300);
    assert_eq!(directus, w.notion_rows());
    assert_eq!(
        directus["n7@example.com"],
        ("Task 7".to_string(), "Doing".to_string(), 3.5)
    );
    let item = w
        .directus
        .item("tasks", &w.directus_id("n7@example.com"))
        .unwrap();
    assert!(
        item["date_created"].as_str().unwrap().ends_with('Z'),
        "{item}"
    );
    // Batched creates, each one request of up to 100 items.
    let writes = w.directus.writes();
    assert!(
        writes
            .iter()
            .all(|x| x.method == "POST" && x.path == "/items/tasks" && x.status == 200),
        "{:?}",
        summary(&writes)
    );
    assert!(writes.len() <= 6, "{:?}", summary(&writes));

    let second = w.sync(false).await;
    assert_eq!(second.synced_items, 0, "{second:#?}");
    let details = second.details.unwrap();
    assert_eq!(
        (details.source.read.as_str(), details.target.read.as_str()),
        ("incremental", "incremental")
    );
    assert!(
        w.writes_since(writes.len()).is_empty(),
        "{:?}",
        summary(&w.writes_since(writes.len()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_run_after_notion_edits_updates_the_directus_items() {
    let w = World::new("edits", "pull", DirectusOptions::default()).await;
    w.seed_notion(0..40);
    assert_eq!(w.sync(false).await.synced_items, 40);
    let before = w.directus.writes().len();
    let updated_before = w
        .directus
        .item("tasks", &w.directus_id("n3@example.com"))
        .unwrap()["date_updated"]
        .clone();
    assert_eq!(updated_before, Value::Null);
    w.notion
        .update_page(
            &w.notion_id("n3@example.com"),
            json!({"Points": {"number": 70}}),
        )
        .unwrap();
    let renamed = json!({"Name": {"title": [{"text": {"content": "Renamed"}}]}, "Status": {"select": {"name": "Done"}}});
    w.notion
        .update_page(&w.notion_id("n8@example.com"), renamed)
        .unwrap();
    w.add_notion("New one", "new@example.com", "Todo", 1.0);
    let report = w.sync(false).await;
    assert_eq!(report.synced_items, 3, "{report:#?}");
    assert_eq!(report.details.as_ref().unwrap().source.read, "incremental");
    let rows = w.directus_rows();
    assert_eq!(rows, w.notion_rows());
    assert_eq!(
        rows["n3@example.com"],
        ("Task 3".to_string(), "Todo".to_string(), 70.0)
    );
    assert_eq!(
        rows["n8@example.com"],
        ("Renamed".to_string(), "Done".to_string(), 4.0)
    );
    let item = w
        .directus
        .item("tasks", &w.directus_id("n3@example.com"))
        .unwrap();
    assert!(
        item["date_updated"].is_string(),
        "Directus stamped the update: {item}"
    );
    let mut writes = summary(&w.writes_since(before));
    writes.sort();
    let (n3, n8) = (
        w.directus_id("n3@example.com"),
        w.directus_id("n8@example.com"),
    );
    let mut expected = vec![
        format!("PATCH /items/tasks/{n3} 200"),
        format!("PATCH /items/tasks/{n8} 200"),
        "POST /items/tasks 200".to_string(),
    ];
    expected.sort();
    assert_eq!(writes, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_trashed_in_notion_is_deleted_from_directus() {
    let w = World::new("trash", "pull", DirectusOptions::default()).await;
    w.seed_notion(0..12);
    w.sync(false).await;
    let gone = w.directus_id("n5@example.com");
    let before = w.directus.writes().len();
    w.notion.trash_page(&w.notion_id("n5@example.com")).unwrap();
    // Notion's reads carry no tombstones: a full scan finds the page gone.
    let report = w.sync(true).await;
    assert_eq!(report.synced_items, 1, "{report:#?}");
    assert_eq!(
        summary(&w.writes_since(before)),
        [format!("DELETE /items/tasks/{gone} 204")]
    );
    let rows = w.directus_rows();
    assert_eq!(rows.len(), 11);
    assert!(!rows.contains_key("n5@example.com"));
    assert_eq!(rows, w.notion_rows());
    let deletes: Vec<Value> = w
        .directus
        .activity()
        .into_iter()
        .filter(|a| a["action"] == "delete")
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0]["item"], json!(gone));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_deletes_in_directus_flow_back_to_notion() {
    let w = World::new("twoway", "bidirectional", DirectusOptions::default()).await;
    w.seed_notion(0..5);
    for i in 0..3 {
        let item = json!({"name": format!("Directus {i}"), "email": format!("d{i}@example.com"), "status": "Doing", "points": 10 + i});
        w.directus.insert("tasks", item).unwrap();
    }
    let first = w.sync(false).await;
    assert_eq!(first.synced_items, 8, "{first:#?}");
    assert_eq!(w.notion_rows(), w.directus_rows());
    assert_eq!(
        w.notion_rows()["d1@example.com"],
        ("Directus 1".to_string(), "Doing".to_string(), 11.0)
    );

    // An edit and a delete in Directus, read incrementally: the edit by its
    // `date_updated`, the delete from the activity log.
    w.directus
        .update(
            "tasks",
            &w.directus_id("n2@example.com"),
            json!({"status": "Done", "points": 42}),
        )
        .unwrap();
    w.directus
        .delete("tasks", &w.directus_id("d0@example.com"))
        .unwrap();
    let before = w.directus.writes().len();
    let report = w.sync(false).await;
    assert_eq!(report.synced_items, 2, "{report:#?}");
    assert_eq!(report.details.as_ref().unwrap().target.read, "incremental");
    let notion = w.notion_rows();
    assert_eq!(
        notion["n2@example.com"],
        ("Task 2".to_string(), "Done".to_string(), 42.0)
    );
    assert!(!notion.contains_key("d0@example.com"), "{notion:#?}");
    assert_eq!(notion, w.directus_rows());
    assert!(
        w.writes_since(before).is_empty(),
        "{:?}",
        summary(&w.writes_since(before))
    );

    // Nothing changed: nothing is written either way.
    let quiet = w.sync(false).await;
    assert_eq!(quiet.synced_items, 0, "{quiet:#?}");
    assert!(
        w.writes_since(before).is_empty(),
        "{:?}",
        summary(&w.writes_since(before))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directus_rate_limiter_is_waited_out() {
    // 4 requests a second: a tenth of what the job lets the host send.
    let limited = DirectusOptions {
        rate_limit: Some(4),
        rate_window: Duration::from_secs(1),
        ..Default::default()
    };
    let w = World::new("limited", "pull", limited).await;
    w.seed_notion(0..250);
    let mut report = w.run(false).await;
    // A 429 the host could not wait out within its retries leaves the
    // run partial; the next run finishes what is left.
    for _ in 0..3 {
        if report.status == Status::Success {
            break;
        }
        report = w.run(false).await;
    }
    assert_eq!(report.status, Status::Success, "{report:#?}");
    assert!(
        w.directus.rate_limited_count() > 0,
        "the limiter never answered 429: the test proves nothing"
    );
    assert_eq!(w.directus_rows(), w.notion_rows());
    assert_eq!(w.directus.count("tasks"), 250);
    let writes = w.directus.writes();
    let created = writes.iter().filter(|x| x.status == 200).count();
    assert!(
        writes
            .iter()
            .all(|x| x.method == "POST" && matches!(x.status, 200 | 429)),
        "{:?}",
        summary(&writes)
    );
    assert!(
        created <= 6,
        "each batch written once: {:?}",
        summary(&writes)
    );
}

/// Directus' limiter answers `Retry-After` as the seconds left in its window,
/// rounded: in the last half second it says 0. Retrying at once then meets
/// the same closed window, and a host that retried only as told spent its
/// retries in a few milliseconds and left the run partial. One run must
/// write everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_zero_does_not_spend_the_retries_at_once() {
    let limited = DirectusOptions {
        rate_limit: Some(3),
        rate_window: Duration::from_millis(900),
        ..Default::default()
    };
    let w = World::new("retry-zero", "pull", limited).await;
    w.seed_notion(0..120);
    let report = w.run(false).await;
    assert!(
        w.directus.rate_limited_count() > 0,
        "the limiter never answered 429: the test proves nothing"
    );
    assert_eq!(report.status, Status::Success, "{report:#?}");
    assert_eq!(w.directus.count("tasks"), 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_passes_the_acceptance_suite_against_the_simulator() {
    let directus = world::start_directus(DirectusOptions::default()).await;
    let runtime = runtime();
    let connector = runtime
        .load(&connectors().join("directus.wasm"))
        .await
        .unwrap();
    let fixture = Fixture::directus(&directus.base_url(), DIRECTUS_TOKEN, acceptance::RECORDS)
        .await
        .unwrap();
    let checks = acceptance::run_with(&runtime, connector, fixture)
        .await
        .unwrap();
    let report: Vec<String> = checks
        .iter()
        .map(|c| format!("{}: {:?} skipped={}", c.name, c.failure, c.skipped))
        .collect();
    assert_eq!(checks.len(), 10, "{report:#?}");
    assert!(
        checks.iter().all(|c| c.passed() && !c.skipped),
        "{report:#?}"
    );
}

/// Every field type the connector maps (schema.rs, convert.rs), read from
/// the simulator and written back through the connector, with the version
/// check it makes itself (Directus has no conditional writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_type_reads_and_writes_back_through_the_connector() {
    use synchost::runtime::{DeleteOp, FieldType, FieldValue, ReadRequest, UpdateOp, WriteOp};
    let directus = world::start_directus(DirectusOptions::default()).await;
    let kinds = [
        ("title", "string", FieldType::Text),
        ("body", "text", FieldType::Text),
        ("count", "integer", FieldType::Number),
        ("big", "bigInteger", FieldType::Number),
        ("ratio", "float", FieldType::Number),
        ("price", "decimal", FieldType::Number),
        ("done", "boolean", FieldType::Boolean),
        ("due", "date", FieldType::Date),
        ("starts", "dateTime", FieldType::Datetime),
        ("at", "timestamp", FieldType::Datetime),
        ("extra", "json", FieldType::Json),
        ("tags", "csv", FieldType::MultiSelect),
        ("ref", "uuid", FieldType::Text),
    ];
    let types: Vec<(&str, &str)> = kinds.iter().map(|(f, t, _)| (*f, *t)).collect();
    directus.create_collection("kinds", &types).unwrap();
    let uuid = "6f1c0a9e-2b3d-4c5e-8f70-112233445566";
    let first = json!({"title": "T", "body": "Long text", "count": 3, "big": 12, "ratio": 1.5, "price": "9.99",
        "done": true, "due": "2024-05-01", "starts": "2024-05-01T10:00:00", "at": "2024-05-01T12:00:00+02:00",
        "extra": {"k": [1]}, "tags": ["a", "b"], "ref": uuid});
    let id = directus.insert("kinds", first).unwrap();

    let runtime = runtime();
    let mut session = world::directus_session(&runtime, &directus).await;
    let schema = session.schema("kinds").await.unwrap();
    for (field, _, kind) in &kinds {
        let f = schema.fields.iter().find(|f| f.name == *field).unwrap();
        assert_eq!((f.kind, f.read_only), (*kind, false), "{field}");
    }
    assert!(
        schema.fields.iter().filter(|f| f.read_only).count() == 3,
        "id, date_created, date_updated"
    );
    let read = ReadRequest {
        entity: "kinds".into(),
        cursor: None,
        since: None,
        page_size: 10,
    };
    let page = session.read(&read).await.unwrap();
    let record = &page.records[0];
    assert_eq!(record.id, id);
    for (field, value) in [
        ("count", FieldValue::Number(3.0)),
        ("price", FieldValue::Number(9.99)),
        ("done", FieldValue::Boolean(true)),
        ("due", FieldValue::Date("2024-05-01".into())),
        (
            "starts",
            FieldValue::Datetime("2024-05-01T10:00:00Z".into()),
        ),
        (
            "at",
            FieldValue::Datetime("2024-05-01T10:00:00.000Z".into()),
        ),
        ("extra", FieldValue::Json(r#"{"k":[1]}"#.into())),
        (
            "tags",
            FieldValue::MultiSelect(vec!["a".into(), "b".into()]),
        ),
        ("ref", FieldValue::Text(uuid.into())),
    ] {
        assert_eq!(record.get(field), Some(&value), "{field}");
    }

    // The same values, written as a new item, land as they were.
    let copy: Vec<_> = record
        .fields
        .iter()
        .filter(|f| kinds.iter().any(|(name, ..)| *name == f.name))
        .cloned()
        .collect();
    let written = session
        .write_results("kinds", &[WriteOp::Create(copy)])
        .await
        .unwrap();
    let new_id = written[0].as_ref().unwrap().id.clone();
    let strip = |mut v: Value| {
        for f in ["id", "date_created", "date_updated"] {
            v.as_object_mut().unwrap().remove(f);
        }
        v
    };
    let (a, b) = (
        directus.item("kinds", &id).unwrap(),
        directus.item("kinds", &new_id).unwrap(),
    );
    assert_eq!(strip(a), strip(b));

    // An update at the version read passes the connector's check; one at a
    // stale version is a conflict; a delete removes the item.
    let count = |n: f64| {
        vec![synchost::runtime::Field {
            name: "count".into(),
            value: FieldValue::Number(n),
        }]
    };
    let update = |version: Option<String>, n: f64| {
        WriteOp::Update(UpdateOp {
            id: id.clone(),
            expected_version: version,
            fields: count(n),
        })
    };
    let done = session
        .write_results("kinds", &[update(record.version.clone(), 4.0)])
        .await
        .unwrap();
    let newer = done[0].as_ref().unwrap().version.clone();
    assert_ne!(newer, record.version, "date_updated is the new version");
    let stale = session
        .write_results("kinds", &[update(record.version.clone(), 5.0)])
        .await
        .unwrap();
    assert!(format!("{:?}", stale[0]).contains("Conflict"), "{stale:?}");
    assert_eq!(directus.item("kinds", &id).unwrap()["count"], json!(4));
    let delete = WriteOp::Delete(DeleteOp {
        id: id.clone(),
        expected_version: newer,
    });
    assert!(session.write_results("kinds", &[delete]).await.unwrap()[0].is_ok());
    assert!(directus.item("kinds", &id).is_none());
}

/// Directus answers a batch create with the created items read back by
/// `readMany` (api/src/controllers/items.ts), which sorts them as any read:
/// by the collection's sort field, else its primary key. With UUID keys that
/// is not the order they were sent in: paired with its ops by position, the
/// answer would link records to other records' items, and a later edit would
/// land on the wrong item. The connector sends a UUID it generates and
/// pairs each item by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_into_a_collection_keyed_by_uuid_are_linked_to_their_own_items() {
    let mut w = World::new("uuid-keys", "pull", DirectusOptions::default()).await;
    let spec = json!({"collection": "uuid_tasks", "schema": {}, "meta": {"accountability": "all"}, "fields": [
        {"field": "id", "type": "uuid", "schema": {"is_primary_key": true}, "meta": {"special": ["uuid"], "readonly": true}},
        {"field": "name", "type": "string", "schema": {}, "meta": null},
        {"field": "email", "type": "string", "schema": {}, "meta": null},
        {"field": "status", "type": "string", "schema": {}, "meta": null},
        {"field": "points", "type": "float", "schema": {}, "meta": null},
        {"field": "date_created", "type": "timestamp", "schema": {}, "meta": {"special": ["date-created"]}},
        {"field": "date_updated", "type": "timestamp", "schema": {}, "meta": {"special": ["date-updated"]}}]});
    w.directus.create_collection_raw(&spec).unwrap();
    w.job["target"]["connection"]["settings"]["collection.tasks"] = json!("uuid_tasks");
    w.seed_notion(0..20);
    w.sync(false).await;
    w.notion
        .update_page(
            &w.notion_id("n3@example.com"),
            json!({"Points": {"number": 70}}),
        )
        .unwrap();
    w.sync(false).await;
    let points = |email: &str| {
        let items = w.directus.items("uuid_tasks");
        items.iter().find(|i| i["email"] == email).unwrap()["points"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(
        points("n3@example.com"),
        70.0,
        "the edit went to another item"
    );
}

/// Every item of `collection` as email -> (name, status, points).
fn rows_of(directus: &DirectusSim, collection: &str) -> world::Rows {
    directus
        .items(collection)
        .iter()
        .map(|i| {
            let text = |f: &str| i[f].as_str().unwrap_or_default().to_string();
            let points = i["points"].as_f64().unwrap_or(0.0);
            (text("email"), (text("name"), text("status"), points))
        })
        .collect()
}

/// An auto-increment collection whose sort field (`meta.sort_field`) is
/// `status`: Directus answers a batch create sorted by it, not in the order
/// sent (nor in key order). The connector pairs the answer by key order,
/// which is the order sent: every later edit lands on its own item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_into_an_auto_increment_collection_with_a_sort_field_are_linked_to_their_own_items()
{
    let mut w = World::new("sort-field", "pull", DirectusOptions::default()).await;
    let spec = json!({"collection": "ranked_tasks", "schema": {},
        "meta": {"accountability": "all", "sort_field": "status"}, "fields": [
        {"field": "id", "type": "integer", "schema": {"is_primary_key": true, "has_auto_increment": true}, "meta": {"readonly": true}},
        {"field": "name", "type": "string", "schema": {}, "meta": null},
        {"field": "email", "type": "string", "schema": {}, "meta": null},
        {"field": "status", "type": "string", "schema": {}, "meta": null},
        {"field": "points", "type": "float", "schema": {}, "meta": null},
        {"field": "date_created", "type": "timestamp", "schema": {}, "meta": {"special": ["date-created"]}},
        {"field": "date_updated", "type": "timestamp", "schema": {}, "meta": {"special": ["date-updated"]}}]});
    w.directus.create_collection_raw(&spec).unwrap();
    w.job["target"]["connection"]["settings"]["collection.tasks"] = json!("ranked_tasks");
    w.seed_notion(0..20);
    w.sync(false).await;
    assert_eq!(rows_of(&w.directus, "ranked_tasks"), w.notion_rows());
    // The answer was not in key order: else this test proves nothing.
    let items = w.directus.items("ranked_tasks");
    let mut by_sort: Vec<(String, i64)> = items
        .iter()
        .map(|i| {
            (
                i["status"].as_str().unwrap().to_string(),
                i["id"].as_i64().unwrap(),
            )
        })
        .collect();
    by_sort.sort();
    let ids: Vec<i64> = by_sort.iter().map(|(_, id)| *id).collect();
    assert!(ids.windows(2).any(|p| p[0] > p[1]), "{by_sort:?}");

    // An edit of every record: each lands on its own item.
    for i in 0..20 {
        w.notion
            .update_page(
                &w.notion_id(&format!("n{i}@example.com")),
                json!({"Points": {"number": 100 + i}}),
            )
            .unwrap();
    }
    w.sync(false).await;
    let rows = rows_of(&w.directus, "ranked_tasks");
    assert_eq!(rows, w.notion_rows());
    assert_eq!(
        rows["n3@example.com"],
        ("Task 3".to_string(), "Todo".to_string(), 103.0)
    );
}

/// The same through one write call: creates whose manual sort values
/// (`sort_field: sort`) are the reverse of the order sent come back in that
/// reverse order, and each outcome still names its own item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_create_answered_in_sort_field_order_confirms_each_op_with_its_own_item() {
    use synchost::runtime::{Field, FieldValue, UpdateOp, WriteOp};
    let directus = world::start_directus(DirectusOptions::default()).await;
    let spec = json!({"collection": "ranked", "schema": {},
        "meta": {"accountability": "all", "sort_field": "sort"}, "fields": [
        {"field": "id", "type": "integer", "schema": {"is_primary_key": true, "has_auto_increment": true}, "meta": {"readonly": true}},
        {"field": "name", "type": "string", "schema": {}, "meta": null},
        {"field": "sort", "type": "integer", "schema": {}, "meta": {"hidden": true}},
        {"field": "date_created", "type": "timestamp", "schema": {}, "meta": {"special": ["date-created"]}}]});
    directus.create_collection_raw(&spec).unwrap();
    let runtime = runtime();
    let mut session = world::directus_session(&runtime, &directus).await;
    let names = ["a", "b", "c", "d", "e"];
    let ops: Vec<WriteOp> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            WriteOp::Create(vec![
                Field {
                    name: "name".into(),
                    value: FieldValue::Text(n.to_string()),
                },
                Field {
                    name: "sort".into(),
                    value: FieldValue::Number((names.len() - i) as f64),
                },
            ])
        })
        .collect();
    let before = directus.writes().len();
    let written = session.write_results("ranked", &ops).await.unwrap();
    assert_eq!(
        summary(&directus.writes()[before..]),
        ["POST /items/ranked 200"],
        "one request"
    );
    let ids: Vec<String> = written
        .iter()
        .map(|w| w.as_ref().unwrap().id.clone())
        .collect();
    for (id, n) in ids.iter().zip(names) {
        assert_eq!(
            directus.item("ranked", id).unwrap()["name"],
            json!(n),
            "{ids:?}"
        );
    }
    // An update by the id confirmed for `b` changes `b`.
    let update = WriteOp::Update(UpdateOp {
        id: ids[1].clone(),
        expected_version: None,
        fields: vec![Field {
            name: "name".into(),
            value: FieldValue::Text("b2".into()),
        }],
    });
    assert!(session.write_results("ranked", &[update]).await.unwrap()[0].is_ok());
    let names_now: Vec<Value> = directus
        .items("ranked")
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert_eq!(
        names_now,
        [json!("a"), json!("b2"), json!("c"), json!("d"), json!("e")]
    );
}
