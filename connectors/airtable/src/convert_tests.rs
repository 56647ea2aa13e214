use super::*;
use crate::schema::tests::sample_table;
use serde_json::json;

fn show(v: &FieldValue) -> String {
    format!("{v:?}")
}

fn assert_value(actual: &FieldValue, expected: FieldValue) {
    assert_eq!(show(actual), show(&expected));
}

fn sample_record() -> Value {
    json!({
        "id": "rec1",
        "createdTime": "2024-01-01T00:00:00.000Z",
        "fields": {
            "Name": "Write the connector",
            "Notes": "line 1\nline 2",
            "Estimate": 2.5,
            "Done": true,
            "Status": "Todo",
            "Tags": ["red", "blue"],
            "Due": "2024-06-01",
            "Starts": "2024-05-30T09:00:00.000Z",
            "Project": ["recP1", "recP2"],
            "Last Modified": "2024-05-02T12:34:56.000Z",
            "Created": "2024-01-01T00:00:00.000Z",
            "Score": {"specialValue": "NaN"},
            "Total": 7,
            "Number": 12,
            "Files": [{"id": "att1", "url": "https://dl.airtable.com/x.png"}],
            "Surprise": "not in the schema"
        }
    })
}

#[test]
fn record_json_to_record_per_type() {
    let table = sample_table();
    let record = record_from_json(&sample_record(), &table, "Last Modified").unwrap();
    assert_eq!(record.id, "rec1");
    assert!(!record.deleted);
    let get = |name: &str| record.get(name).unwrap_or_else(|| panic!("{name} missing"));
    assert_value(get("Name"), FieldValue::Text("Write the connector".into()));
    assert_value(get("Notes"), FieldValue::Text("line 1\nline 2".into()));
    assert_value(get("Estimate"), FieldValue::Number(2.5));
    assert_value(get("Done"), FieldValue::Boolean(true));
    assert_value(get("Status"), FieldValue::Select("Todo".into()));
    assert_value(
        get("Tags"),
        FieldValue::MultiSelect(vec!["red".into(), "blue".into()]),
    );
    assert_value(get("Due"), FieldValue::Date("2024-06-01".into()));
    assert_value(
        get("Starts"),
        FieldValue::Datetime("2024-05-30T09:00:00.000Z".into()),
    );
    assert_value(
        get("Project"),
        FieldValue::Reference(vec!["recP1".into(), "recP2".into()]),
    );
    assert_value(
        get("Last Modified"),
        FieldValue::Datetime("2024-05-02T12:34:56.000Z".into()),
    );
    // a formula's error value does not fit `number`: it keeps its JSON
    assert_value(
        get("Score"),
        FieldValue::Json(r#"{"specialValue":"NaN"}"#.into()),
    );
    // a rollup without a result type is JSON
    assert_value(get("Total"), FieldValue::Json("7".into()));
    assert_value(get("Number"), FieldValue::Number(12.0));
    assert_value(
        get("Files"),
        FieldValue::Json(r#"[{"id":"att1","url":"https://dl.airtable.com/x.png"}]"#.into()),
    );
    // a field the schema does not know is typed by its shape, after the known ones
    assert_value(
        get("Surprise"),
        FieldValue::Text("not in the schema".into()),
    );
    assert_eq!(record.fields.last().unwrap().name, "Surprise");
    assert_eq!(record.fields[0].name, "Name");
}

#[test]
fn version_and_updated_at_come_from_the_modified_field() {
    let table = sample_table();
    let record = record_from_json(&sample_record(), &table, "Last Modified").unwrap();
    assert_eq!(
        record.updated_at.as_deref(),
        Some("2024-05-02T12:34:56.000Z")
    );
    assert_eq!(record.version.as_deref(), Some("2024-05-02T12:34:56.000Z"));
}

/// `createdTime` is not a modification time: a record edited since would
/// look old to `newest_wins`. Without the modified field, there is none.
#[test]
fn no_modification_time_when_the_table_has_no_modified_field() {
    let table = sample_table();
    let record = record_from_json(&sample_record(), &table, "Edited").unwrap();
    assert_eq!(record.updated_at, None);
    assert_eq!(record.version, None);
}

#[test]
fn empty_cells_are_absent_not_invented() {
    let table = sample_table();
    let json = json!({"id": "rec2", "createdTime": "2024-01-01T00:00:00.000Z", "fields": {}});
    let record = record_from_json(&json, &table, "Last Modified").unwrap();
    assert!(record.fields.is_empty());
    assert!(record.get("Done").is_none());
    // no `Last Modified` cell: no modification time
    assert_eq!(record.updated_at, None);
    let no_fields = json!({"id": "rec3", "createdTime": "2024-01-01T00:00:00.000Z"});
    assert!(record_from_json(&no_fields, &table, "Last Modified")
        .unwrap()
        .fields
        .is_empty());
}

#[test]
fn record_without_id_is_fatal() {
    let table = sample_table();
    let err = record_from_json(&json!({"fields": {}}), &table, "Last Modified").unwrap_err();
    assert!(matches!(err, ConnectorError::Fatal(_)));
}

#[test]
fn unknown_fields_are_typed_by_shape() {
    assert_value(&value_from_json(&json!(3), None), FieldValue::Number(3.0));
    assert_value(
        &value_from_json(&json!(false), None),
        FieldValue::Boolean(false),
    );
    assert_value(&value_from_json(&json!(null), None), FieldValue::Null);
    assert_value(
        &value_from_json(&json!(["a"]), None),
        FieldValue::Json(r#"["a"]"#.into()),
    );
}

fn to_json(table: &TableMeta, field: &str, value: FieldValue) -> Result<Value, String> {
    value_to_json(&value, table.field(field).unwrap())
}

#[test]
fn field_value_to_json_per_type() {
    let t = sample_table();
    assert_eq!(
        to_json(&t, "Name", FieldValue::Text("x".into())),
        Ok(json!("x"))
    );
    assert_eq!(
        to_json(&t, "Estimate", FieldValue::Number(2.5)),
        Ok(json!(2.5))
    );
    assert_eq!(
        to_json(&t, "Done", FieldValue::Boolean(true)),
        Ok(json!(true))
    );
    assert_eq!(
        to_json(&t, "Status", FieldValue::Select("Todo".into())),
        Ok(json!("Todo"))
    );
    assert_eq!(
        to_json(
            &t,
            "Tags",
            FieldValue::MultiSelect(vec!["red".into(), "green".into()])
        ),
        Ok(json!(["red", "green"]))
    );
    assert_eq!(
        to_json(&t, "Due", FieldValue::Date("2024-06-01".into())),
        Ok(json!("2024-06-01"))
    );
    assert_eq!(
        to_json(
            &t,
            "Starts",
            FieldValue::Datetime("2024-05-30T09:00:00+02:00".into())
        ),
        Ok(json!("2024-05-30T09:00:00+02:00"))
    );
    assert_eq!(
        to_json(&t, "Project", FieldValue::Reference(vec!["recP1".into()])),
        Ok(json!(["recP1"]))
    );
    assert_eq!(
        to_json(
            &t,
            "Files",
            FieldValue::Json(r#"[{"url":"https://x/y.png"}]"#.into())
        ),
        Ok(json!([{"url": "https://x/y.png"}]))
    );
}

#[test]
fn null_clears_and_unchecks() {
    let t = sample_table();
    assert_eq!(to_json(&t, "Name", FieldValue::Null), Ok(Value::Null));
    assert_eq!(to_json(&t, "Project", FieldValue::Null), Ok(Value::Null));
    assert_eq!(to_json(&t, "Done", FieldValue::Null), Ok(json!(false)));
}

#[test]
fn lenient_conversions_left_to_typecast() {
    let t = sample_table();
    assert_eq!(to_json(&t, "Name", FieldValue::Number(3.0)), Ok(json!("3")));
    assert_eq!(
        to_json(&t, "Estimate", FieldValue::Text("4.5".into())),
        Ok(json!("4.5"))
    );
    assert_eq!(
        to_json(&t, "Status", FieldValue::Text("New".into())),
        Ok(json!("New"))
    );
    assert_eq!(
        to_json(&t, "Tags", FieldValue::Select("red".into())),
        Ok(json!(["red"]))
    );
    assert_eq!(
        to_json(
            &t,
            "Due",
            FieldValue::Datetime("2024-06-01T23:30:00+02:00".into())
        ),
        Ok(json!("2024-06-01"))
    );
    assert_eq!(
        to_json(&t, "Project", FieldValue::Text("recP9".into())),
        Ok(json!(["recP9"]))
    );
}

#[test]
fn values_that_never_fit_are_refused_naming_the_field() {
    let t = sample_table();
    let err = to_json(&t, "Estimate", FieldValue::Text("lots".into())).unwrap_err();
    assert_eq!(err, "field `Estimate` (number) does not take a text value");
    assert!(to_json(&t, "Done", FieldValue::Text("yes".into())).is_err());
    assert!(to_json(&t, "Project", FieldValue::Boolean(true)).is_err());
    assert!(to_json(&t, "Estimate", FieldValue::Number(f64::NAN)).is_err());
    assert!(to_json(&t, "Files", FieldValue::Json("{not json".into()))
        .unwrap_err()
        .contains("invalid JSON"));
}

#[test]
fn fields_to_json_rejects_unknown_and_read_only_fields() {
    let t = sample_table();
    let field = |name: &str, value| Field {
        name: name.into(),
        value,
    };
    let ok = fields_to_json(
        &[
            field("Name", FieldValue::Text("a".into())),
            field("Done", FieldValue::Null),
        ],
        &t,
    )
    .unwrap();
    assert_eq!(Value::Object(ok), json!({"Name": "a", "Done": false}));

    match fields_to_json(&[field("Nope", FieldValue::Null)], &t) {
        Err(ConnectorError::InvalidInput(m)) => assert!(m.contains("`Nope`"), "{m}"),
        other => panic!("{other:?}"),
    }
    match fields_to_json(&[field("Last Modified", FieldValue::Null)], &t) {
        Err(ConnectorError::InvalidInput(m)) => {
            assert!(m.contains("`Last Modified` is read-only"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}
