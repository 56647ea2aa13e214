use super::*;
use synchost_sdk::{DeleteOp, Field, FieldValue, RateLimitedInfo};

fn schema() -> ObjectSchema {
    ObjectSchema::from_describe("contacts", &crate::schema::tests::contact_describe()).unwrap()
}

const ID: &str = "0035g00000ABCDEAA1";

fn ok(n: usize) -> OpResult {
    Ok(Written {
        id: format!("r{n}"),
        version: None,
        updated_at: None,
    })
}

fn limited() -> ConnectorError {
    ConnectorError::RateLimited(RateLimitedInfo {
        retry_after_ms: 3_600_000,
        message: "REQUEST_LIMIT_EXCEEDED".into(),
    })
}

#[test]
fn ops_are_prepared_with_attributes_and_ids() {
    let s = schema();
    let create = prepare(
        &s,
        WriteOp::Create(vec![Field {
            name: "LastName".into(),
            value: FieldValue::Text("Smith".into()),
        }]),
    )
    .unwrap();
    assert_eq!(create.kind, Kind::Create);
    assert_eq!(
        Value::Object(create.body.unwrap()),
        json!({ "attributes": { "type": "Contact" }, "LastName": "Smith" })
    );
    let update = prepare(
        &s,
        WriteOp::Update(UpdateOp {
            id: ID.into(),
            expected_version: Some("2024-01-01T00:00:00.000Z".into()),
            fields: vec![Field {
                name: "Email".into(),
                value: FieldValue::Text("a@example.com".into()),
            }],
        }),
    )
    .unwrap();
    assert_eq!(update.id.as_deref(), Some(ID));
    assert_eq!(update.expected.as_deref(), Some("2024-01-01T00:00:00.000Z"));
    assert_eq!(update.body.as_ref().unwrap()["id"], ID);
    let delete = prepare(
        &s,
        WriteOp::Delete(DeleteOp {
            id: ID[..15].into(),
            expected_version: None,
        }),
    )
    .unwrap();
    assert_eq!((delete.kind, delete.body), (Kind::Delete, None));
    for bad in ["../x", "003", "0035g00000ABCDE!A1"] {
        let err = prepare(
            &s,
            WriteOp::Delete(DeleteOp {
                id: bad.into(),
                expected_version: None,
            }),
        );
        assert!(matches!(err, Err(ConnectorError::InvalidInput(_))), "{bad}");
    }
}

#[test]
fn batches_keep_order_and_the_200_limit() {
    use Kind::*;
    assert_eq!(
        batches(&[Create, Create, Update, Create, Delete, Delete]),
        vec![vec![0, 1], vec![2], vec![3], vec![4, 5]]
    );
    let many = vec![Create; 450];
    let sizes: Vec<usize> = batches(&many).iter().map(Vec::len).collect();
    assert_eq!(sizes, [200, 200, 50]);
    assert!(batches(&[]).is_empty());
}

#[test]
fn urls_and_bodies() {
    let data = "https://acme.my.salesforce.com/services/data/v59.0";
    assert_eq!(
        delete_url(data, &[ID, "0035g00000ABCDFAA2"]),
        "https://acme.my.salesforce.com/services/data/v59.0/composite/sobjects?ids=0035g00000ABCDEAA1%2C0035g00000ABCDFAA2&allOrNone=false"
    );
    assert_eq!(
        retrieve_url(data, "Contact", &[ID], "SystemModstamp"),
        "https://acme.my.salesforce.com/services/data/v59.0/composite/sobjects/Contact?ids=0035g00000ABCDEAA1&fields=Id%2CSystemModstamp"
    );
    let mut record = Map::new();
    record.insert("attributes".into(), json!({ "type": "Contact" }));
    assert_eq!(
        collection_body(vec![record]),
        json!({ "allOrNone": false, "records": [{ "attributes": { "type": "Contact" } }] })
    );
}

#[test]
fn each_record_has_its_own_outcome() {
    let body = json!([
        { "id": "003NEW000000001AAA", "success": true, "errors": [] },
        { "success": false, "errors": [{ "statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]", "fields": ["LastName"] }] },
        { "id": ID, "success": false, "errors": [{ "statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": [] }] },
        { "id": ID, "success": false, "errors": [{ "statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access to this record", "fields": [] }] }
    ]);
    let r = parse_results(
        "POST /composite/sobjects",
        &body,
        &[None, None, Some(ID), Some(ID)],
    );
    assert_eq!(r[0].as_ref().unwrap().id, "003NEW000000001AAA");
    assert!(matches!(&r[1], Err(ConnectorError::InvalidInput(m))
        if m == "POST /composite/sobjects: REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (fields: LastName)"));
    assert!(
        matches!(&r[2], Err(ConnectorError::NotFound(m)) if m.starts_with(&format!("record {ID}: ")))
    );
    assert!(matches!(&r[3], Err(ConnectorError::Transient(_))));
    // A lookup to a missing record is bad input, not a missing record.
    let lookup = json!([{ "success": false, "errors": [{ "statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "Account ID: id value of incorrect type", "fields": ["AccountId"] }] }]);
    assert!(matches!(
        &parse_results("x", &lookup, &[None])[0],
        Err(ConnectorError::InvalidInput(_))
    ));
    let wrong = parse_results("x", &json!([]), &[None, None]);
    assert!(wrong
        .iter()
        .all(|r| matches!(r, Err(ConnectorError::Transient(_)))));
}

#[test]
fn version_checks() {
    let row = json!({ "attributes": { "type": "Contact" }, "Id": ID, "SystemModstamp": "2024-01-01T00:00:00.000+0000" });
    assert!(check_version(ID, "2024-01-01T00:00:00.000Z", &row, "SystemModstamp").is_ok());
    assert!(check_version(ID, "2024-01-01T00:00:00Z", &row, "SystemModstamp").is_ok());
    match check_version(ID, "2023-12-31T00:00:00.000Z", &row, "SystemModstamp") {
        Err(ConnectorError::Conflict(c)) => {
            assert_eq!(c.id, ID);
            assert_eq!(
                c.current_version.as_deref(),
                Some("2024-01-01T00:00:00.000Z")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        check_version(ID, "x", &Value::Null, "SystemModstamp"),
        Err(ConnectorError::NotFound(_))
    ));
}

#[test]
fn a_rate_limit_before_any_write_fails_the_call() {
    let mut calls = 0;
    let outcome = run_batches(vec![vec![0], vec![1]], |_| {
        calls += 1;
        Err(limited())
    });
    assert!(
        matches!(outcome, Err(ConnectorError::RateLimited(i)) if i.retry_after_ms == 3_600_000)
    );
    assert_eq!(calls, 1);
}

#[test]
fn a_rate_limit_after_a_write_stops_the_batch() {
    let mut tried = Vec::new();
    let out = run_batches(vec![vec![0, 1], vec![2], vec![3, 4]], |batch| {
        tried.push(batch.to_vec());
        if batch[0] == 0 {
            Ok(vec![ok(0), Err(ConnectorError::InvalidInput("bad".into()))])
        } else {
            Err(limited())
        }
    })
    .unwrap();
    assert_eq!(tried, vec![vec![0, 1], vec![2]]);
    assert_eq!(
        out.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert!(out[0].1.is_ok());
    assert!(matches!(out[1].1, Err(ConnectorError::InvalidInput(_))));
    for (_, r) in &out[2..] {
        assert!(
            matches!(r, Err(ConnectorError::RateLimited(i)) if i.retry_after_ms == 3_600_000),
            "{r:?}"
        );
    }
}

#[test]
fn other_call_errors_fail_that_call_only() {
    let out = run_batches(vec![vec![0], vec![1]], |batch| {
        if batch[0] == 0 {
            Err(ConnectorError::Transient("503".into()))
        } else {
            Ok(vec![ok(1)])
        }
    })
    .unwrap();
    assert!(matches!(out[0].1, Err(ConnectorError::Transient(_))));
    assert!(out[1].1.is_ok());
}
