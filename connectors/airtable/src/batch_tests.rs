use super::*;
use crate::schema::tests::sample_table;
use synchost_sdk::{DeleteOp, Field, FieldValue, UpdateOp};

fn create(name: &str) -> WriteOp {
    WriteOp::Create(vec![Field {
        name: "Name".into(),
        value: FieldValue::Text(name.into()),
    }])
}

fn update(id: &str, expected: Option<&str>) -> WriteOp {
    WriteOp::Update(UpdateOp {
        id: id.into(),
        expected_version: expected.map(String::from),
        fields: vec![Field {
            name: "Done".into(),
            value: FieldValue::Boolean(true),
        }],
    })
}

fn delete(id: &str) -> WriteOp {
    WriteOp::Delete(DeleteOp {
        id: id.into(),
        expected_version: None,
    })
}

fn keys(kinds: &[(Kind, Option<&'static str>)]) -> Vec<Option<(Kind, Option<&'static str>)>> {
    kinds.iter().copied().map(Some).collect()
}

fn sizes(batches: &[Batch]) -> Vec<(Kind, usize)> {
    batches.iter().map(|b| (b.kind, b.ops.len())).collect()
}

#[test]
fn groups_of_ten_by_kind() {
    let mut ops = vec![(Kind::Create, None); 23];
    ops.extend([(Kind::Update, Some("rec1")), (Kind::Update, Some("rec2"))]);
    ops.push((Kind::Delete, Some("rec3")));
    ops.push((Kind::Create, None));
    let batches = plan(&keys(&ops));
    assert_eq!(
        sizes(&batches),
        vec![
            (Kind::Create, 10),
            (Kind::Create, 10),
            (Kind::Create, 3),
            (Kind::Update, 2),
            (Kind::Delete, 1),
            (Kind::Create, 1),
        ]
    );
    assert_eq!(batches[1].ops, (10..20).collect::<Vec<_>>());
    assert_eq!(batches[3].ops, vec![23, 24]);
    assert_eq!(batches[5].ops, vec![26]);
}

#[test]
fn only_consecutive_ops_share_a_batch() {
    let batches = plan(&keys(&[
        (Kind::Create, None),
        (Kind::Delete, Some("rec1")),
        (Kind::Create, None),
    ]));
    assert_eq!(
        sizes(&batches),
        vec![(Kind::Create, 1), (Kind::Delete, 1), (Kind::Create, 1)]
    );
}

#[test]
fn invalid_ops_are_skipped_without_splitting() {
    let batches = plan(&[Some((Kind::Create, None)), None, Some((Kind::Create, None))]);
    assert_eq!(
        batches,
        vec![Batch {
            kind: Kind::Create,
            ops: vec![0, 2]
        }]
    );
    assert!(plan(&[None, None]).is_empty());
    assert!(plan(&[]).is_empty());
}

#[test]
fn the_same_record_twice_starts_a_new_batch() {
    let batches = plan(&keys(&[
        (Kind::Update, Some("rec1")),
        (Kind::Update, Some("rec2")),
        (Kind::Update, Some("rec1")),
        (Kind::Update, Some("rec3")),
    ]));
    assert_eq!(sizes(&batches), vec![(Kind::Update, 2), (Kind::Update, 2)]);
    assert_eq!(batches[1].ops, vec![2, 3]);
}

#[test]
fn prepare_validates_fields_and_ids() {
    let table = sample_table();
    assert_eq!(prepare(&create("a"), &table).unwrap().kind(), Kind::Create);
    let prepared = prepare(&update("rec1", Some("v1")), &table).unwrap();
    assert_eq!(prepared.id(), Some("rec1"));
    assert_eq!(prepared.expected(), Some("v1"));
    assert!(matches!(
        prepare(&update(" ", None), &table),
        Err(ConnectorError::InvalidInput(_))
    ));
    let read_only = WriteOp::Create(vec![Field {
        name: "Created".into(),
        value: FieldValue::Null,
    }]);
    match prepare(&read_only, &table) {
        Err(ConnectorError::InvalidInput(m)) => assert!(m.contains("`Created`"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_update_and_delete_requests() {
    let table = sample_table();
    let p = |op: WriteOp| prepare(&op, &table).unwrap();
    let (c1, c2) = (p(create("a")), p(create("b")));
    let call = batch_call("appB", "My Tasks", &[&c1, &c2]);
    assert_eq!(call.method, "POST");
    assert_eq!(call.url, "https://api.airtable.com/v0/appB/My%20Tasks");
    assert_eq!(
        call.body,
        Some(
            json!({"records": [{"fields": {"Name": "a"}}, {"fields": {"Name": "b"}}],
                    "typecast": true})
        )
    );

    let u = p(update("rec1", None));
    let call = batch_call("appB", "Tasks", &[&u]);
    assert_eq!(call.method, "PATCH");
    assert_eq!(
        call.body,
        Some(json!({"records": [{"id": "rec1", "fields": {"Done": true}}], "typecast": true}))
    );

    let (d1, d2) = (p(delete("rec1")), p(delete("rec2")));
    let call = batch_call("appB", "Tasks", &[&d1, &d2]);
    assert_eq!(call.method, "DELETE");
    assert_eq!(
        call.url,
        "https://api.airtable.com/v0/appB/Tasks?records%5B%5D=rec1&records%5B%5D=rec2"
    );
    assert_eq!(call.body, None);
}

#[test]
fn written_results_follow_the_ops() {
    let table = sample_table();
    let p = |op: WriteOp| prepare(&op, &table).unwrap();
    let (c1, c2) = (p(create("a")), p(create("b")));
    let body = json!({"records": [
        {"id": "recA", "createdTime": "2024-05-01T00:00:00.000Z",
         "fields": {"Name": "a", "Last Modified": "2024-05-01T00:00:01.000Z"}},
        {"id": "recB", "createdTime": "2024-05-01T00:00:00.000Z", "fields": {"Name": "b"}}
    ]});
    let results = parse_written(&body, &[&c1, &c2], &table, "Last Modified");
    let a = results[0].as_ref().unwrap();
    assert_eq!(a.id, "recA");
    assert_eq!(a.version.as_deref(), Some("2024-05-01T00:00:01.000Z"));
    let b = results[1].as_ref().unwrap();
    assert_eq!(b.id, "recB");
    assert_eq!(b.updated_at, None, "no modified cell: no modification time");

    // updates by id, whatever the order of the answer
    let (u1, u2) = (p(update("rec1", None)), p(update("rec2", None)));
    let body = json!({"records": [{"id": "rec2", "fields": {}}, {"id": "rec1", "fields": {}}]});
    let results = parse_written(&body, &[&u1, &u2], &table, "Last Modified");
    assert_eq!(results[0].as_ref().unwrap().id, "rec1");
    assert_eq!(results[1].as_ref().unwrap().id, "rec2");

    let d = p(delete("rec9"));
    let body = json!({"records": [{"id": "rec9", "deleted": true}]});
    let results = parse_written(&body, &[&d], &table, "Last Modified");
    assert_eq!(results[0].as_ref().unwrap().id, "rec9");
    assert_eq!(results[0].as_ref().unwrap().version, None);

    // An answer without the record proves nothing: the outcome is unknown.
    let results = parse_written(&json!({"records": []}), &[&c1], &table, "Last Modified");
    assert!(matches!(results[0], Err(ConnectorError::Transient(_))));
}
