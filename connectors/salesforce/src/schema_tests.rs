use super::*;

/// A describe result in the API's shape, trimmed to what the connector reads.
pub(crate) fn contact_describe() -> Value {
    let f = |name: &str, ty: &str, createable: bool, updateable: bool| json!({ "name": name, "type": ty, "createable": createable, "updateable": updateable, "picklistValues": [] });
    let mut level = f("Level__c", "picklist", true, true);
    level["picklistValues"] = json!([
        { "active": true, "value": "Primary", "label": "Primary" },
        { "active": false, "value": "Retired", "label": "Retired" },
        { "active": true, "value": "Secondary", "label": "Secondary" }
    ]);
    json!({
        "name": "Contact",
        "fields": [
            f("Id", "id", false, false),
            f("IsDeleted", "boolean", false, false),
            f("AccountId", "reference", true, true),
            f("FirstName", "string", true, true),
            f("LastName", "string", true, true),
            f("Name", "string", false, false),
            f("Email", "email", true, true),
            f("Birthdate", "date", true, true),
            f("HasOptedOutOfEmail", "boolean", true, true),
            f("NumberOfEmployees__c", "int", true, true),
            f("Score__c", "double", true, true),
            f("Languages__c", "multipicklist", true, true),
            level,
            f("MailingAddress", "address", false, false),
            f("Photo__c", "base64", true, true),
            f("CreatedDate", "datetime", false, false),
            f("SystemModstamp", "datetime", false, false)
        ]
    })
}

fn schema() -> ObjectSchema {
    ObjectSchema::from_describe("contacts", &contact_describe()).unwrap()
}

fn field(name: &str, value: FieldValue) -> Field {
    Field {
        name: name.into(),
        value,
    }
}

#[test]
fn describe_becomes_the_entity_schema() {
    let s = schema();
    assert_eq!(s.object, "Contact");
    let selected = s.selected(None).unwrap();
    assert!(!selected
        .iter()
        .any(|n| n == "MailingAddress" || n == "Photo__c"));
    assert_eq!(&selected[..2], ["Id", "IsDeleted"]);
    let es = s.entity_schema(&selected);
    assert_eq!(es.entity, "contacts");
    assert!(!es.fields.iter().any(|f| f.name == "Id"));
    let get = |n: &str| es.fields.iter().find(|f| f.name == n).unwrap();
    assert_eq!(get("Email").kind, FieldType::Text);
    assert_eq!(get("AccountId").kind, FieldType::Reference);
    assert_eq!(get("Score__c").kind, FieldType::Number);
    assert_eq!(get("Languages__c").kind, FieldType::MultiSelect);
    assert_eq!(get("Birthdate").kind, FieldType::Date);
    assert_eq!(get("SystemModstamp").kind, FieldType::Datetime);
    assert!(get("SystemModstamp").read_only && get("Name").read_only);
    assert!(!get("LastName").read_only);
    assert_eq!(get("Level__c").kind, FieldType::Select);
    assert_eq!(get("Level__c").options, ["Primary", "Secondary"]);
}

#[test]
fn the_job_can_choose_fields_and_id_and_stamp_are_always_read() {
    let s = schema();
    let picked = s
        .selected(Some(&["lastname".into(), "Email".into()]))
        .unwrap();
    assert_eq!(picked, ["Id", "SystemModstamp", "LastName", "Email"]);
    let again = s
        .selected(Some(&["Id".into(), "Email".into(), "email".into()]))
        .unwrap();
    assert_eq!(again, ["SystemModstamp", "Id", "Email"]);
    let bad = s.selected(Some(&["Nope__c".into()])).unwrap_err();
    assert!(
        matches!(bad, ConnectorError::InvalidInput(m) if m.contains("`fields.contacts`") && m.contains("Nope__c"))
    );
    assert_eq!(s.modstamp(), Some("SystemModstamp"));
}

#[test]
fn query_rows_become_records() {
    let s = schema();
    let selected: Vec<String> = [
        "Id",
        "SystemModstamp",
        "LastName",
        "AccountId",
        "Score__c",
        "Languages__c",
        "HasOptedOutOfEmail",
        "Birthdate",
        "Email",
    ]
    .map(String::from)
    .to_vec();
    let row = json!({
        "attributes": { "type": "Contact", "url": "/services/data/v59.0/sobjects/Contact/0035g00000ABCDEAA1" },
        "Id": "0035g00000ABCDEAA1",
        "SystemModstamp": "2024-01-02T03:04:05.000+0000",
        "LastName": "Smith",
        "AccountId": "0015g00000XYZABAA2",
        "Score__c": 4.5,
        "Languages__c": "English;French",
        "HasOptedOutOfEmail": false,
        "Birthdate": "1990-04-01",
        "Email": null
    });
    let r = s.record(&row, &selected).unwrap();
    assert_eq!(r.id, "0035g00000ABCDEAA1");
    assert_eq!(r.version.as_deref(), Some("2024-01-02T03:04:05.000Z"));
    assert_eq!(r.updated_at, r.version);
    assert!(!r.deleted);
    assert_eq!(r.get("LastName"), Some(&FieldValue::Text("Smith".into())));
    assert_eq!(
        r.get("AccountId"),
        Some(&FieldValue::Reference(vec!["0015g00000XYZABAA2".into()]))
    );
    assert_eq!(r.get("Score__c"), Some(&FieldValue::Number(4.5)));
    assert_eq!(
        r.get("Languages__c"),
        Some(&FieldValue::MultiSelect(vec![
            "English".into(),
            "French".into()
        ]))
    );
    assert_eq!(
        r.get("HasOptedOutOfEmail"),
        Some(&FieldValue::Boolean(false))
    );
    assert_eq!(
        r.get("Birthdate"),
        Some(&FieldValue::Date("1990-04-01".into()))
    );
    assert_eq!(
        r.get("SystemModstamp"),
        Some(&FieldValue::Datetime("2024-01-02T03:04:05.000Z".into()))
    );
    assert_eq!(r.get("Email"), Some(&FieldValue::Null));
    assert!(r.get("Id").is_none());
    assert!(s.record(&json!({ "LastName": "x" }), &selected).is_err());
}

#[test]
fn write_bodies_carry_attributes_and_typed_values() {
    let s = schema();
    let body = s
        .body(
            &[
                field("lastname", FieldValue::Text("Smith".into())),
                field("Score__c", FieldValue::Number(2.0)),
                field("NumberOfEmployees__c", FieldValue::Text("12".into())),
                field(
                    "Languages__c",
                    FieldValue::MultiSelect(vec!["English".into(), "German".into()]),
                ),
                field(
                    "AccountId",
                    FieldValue::Reference(vec!["0015g00000XYZABAA2".into()]),
                ),
                field("HasOptedOutOfEmail", FieldValue::Null),
                field(
                    "Birthdate",
                    FieldValue::Datetime("1990-04-01T10:00:00Z".into()),
                ),
                field("Email", FieldValue::Null),
            ],
            true,
        )
        .unwrap();
    assert_eq!(
        Value::Object(body),
        json!({
            "attributes": { "type": "Contact" },
            "LastName": "Smith",
            "Score__c": 2.0,
            "NumberOfEmployees__c": 12,
            "Languages__c": "English;German",
            "AccountId": "0015g00000XYZABAA2",
            "HasOptedOutOfEmail": false,
            "Birthdate": "1990-04-01",
            "Email": null
        })
    );
}

#[test]
fn bad_writes_name_the_field() {
    let s = schema();
    let err = |f: Field, create: bool| match s.body(&[f], create) {
        Err(ConnectorError::InvalidInput(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(err(field("Nope", FieldValue::Null), true).contains("`Nope`"));
    assert!(err(
        field(
            "SystemModstamp",
            FieldValue::Datetime("2024-01-01T00:00:00Z".into())
        ),
        false
    )
    .contains("`SystemModstamp`"));
    assert!(err(field("Name", FieldValue::Text("x".into())), true).contains("`Name`"));
    assert!(
        err(field("NumberOfEmployees__c", FieldValue::Number(1.5)), true).contains("whole number")
    );
    assert!(err(field("Score__c", FieldValue::Text("many".into())), true).contains("not a number"));
    assert!(err(
        field(
            "AccountId",
            FieldValue::Reference(vec!["a".into(), "b".into()])
        ),
        true
    )
    .contains("one id"));
    assert!(err(
        field("HasOptedOutOfEmail", FieldValue::Text("yes".into())),
        true
    )
    .contains("`HasOptedOutOfEmail`"));
    assert!(err(
        field("Languages__c", FieldValue::MultiSelect(vec!["a;b".into()])),
        true
    )
    .contains("separator"));
    assert!(
        err(field("MailingAddress", FieldValue::Json("{}".into())), true)
            .contains("`MailingAddress`")
    );
}
