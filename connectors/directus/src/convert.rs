//! Item values <-> typed field values.
//!
//! Directus returns items as plain JSON objects keyed by field
//! (https://docs.directus.io/reference/items.html#the-item-object); a few
//! types come back as strings to keep their precision (`bigInteger` and
//! `decimal`), `dateTime` has no offset, and `csv` is an array of strings.

use serde_json::{Map, Value};
use synchost_sdk::{ConnectorError, Field, FieldType, FieldValue, Record};

use crate::schema::{Collection, FieldMeta};

/// A key value as the record id: numbers without quotes, strings as they are.
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A `dateTime` (`2024-01-02T03:04:05`, no offset, stored as written) as
/// RFC 3339: Directus keeps no zone for it, so it is read as UTC.
fn with_offset(s: &str) -> String {
    let has_offset =
        s.ends_with('Z') || s.len() > 19 && (s[19..].contains('+') || s[19..].contains('-'));
    if has_offset || !s.contains('T') {
        s.to_string()
    } else {
        format!("{s}Z")
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The typed value of `v` in field `f`; a value that does not fit the
/// field's type is kept as JSON rather than lost.
pub fn to_field_value(f: &FieldMeta, v: &Value) -> FieldValue {
    if v.is_null() {
        return FieldValue::Null;
    }
    let json = || FieldValue::Json(v.to_string());
    match f.kind {
        FieldType::Text => match v {
            Value::String(s) => FieldValue::Text(s.clone()),
            Value::Number(n) => FieldValue::Text(n.to_string()),
            _ => json(),
        },
        FieldType::Select => v
            .as_str()
            .map_or_else(json, |s| FieldValue::Select(s.into())),
        FieldType::Number => number(v).map_or_else(json, FieldValue::Number),
        FieldType::Boolean => match v {
            Value::Bool(b) => FieldValue::Boolean(*b),
            // SQLite has no boolean column: some drivers hand back 0/1.
            Value::Number(n) => FieldValue::Boolean(n.as_f64() != Some(0.0)),
            _ => json(),
        },
        FieldType::Date => v
            .as_str()
            .map_or_else(json, |s| FieldValue::Date(s.chars().take(10).collect())),
        FieldType::Datetime => v
            .as_str()
            .map_or_else(json, |s| FieldValue::Datetime(with_offset(s))),
        FieldType::MultiSelect => match v {
            Value::Array(items) => FieldValue::MultiSelect(
                items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), String::from))
                    .collect(),
            ),
            Value::String(s) if f.directus_type == "csv" => FieldValue::MultiSelect(
                s.split(',')
                    .filter(|p| !p.is_empty())
                    .map(String::from)
                    .collect(),
            ),
            _ => json(),
        },
        // A many-to-one holds the related item's key, or the item itself
        // when the query expanded it.
        FieldType::Reference => match v {
            Value::Object(o) => o
                .get("id")
                .and_then(id_text)
                .map_or_else(json, |id| FieldValue::Reference(vec![id])),
            other => id_text(other).map_or_else(json, |id| FieldValue::Reference(vec![id])),
        },
        FieldType::Json => json(),
    }
}

/// The record of one item; `None` when the item has no key.
pub fn to_record(c: &Collection, item: &Value) -> Option<Record> {
    let id = id_text(&item[c.pk.as_str()])?;
    let version = c
        .version_fields()
        .find_map(|f| item[f].as_str())
        .map(with_offset);
    let mut record = Record::new(&id)
        .version(version.clone())
        .updated_at(version);
    for f in &c.fields {
        if let Some(v) = item.get(&f.name) {
            record = record.field(&f.name, to_field_value(f, v));
        }
    }
    Some(record)
}

/// `value` as the JSON Directus expects in field `f`.
pub fn to_json(f: &FieldMeta, value: &FieldValue) -> Result<Value, String> {
    let wrong = |what: &str| {
        format!(
            "field `{}` is a Directus `{}` field: {what} does not fit it",
            f.name, f.directus_type
        )
    };
    Ok(match value {
        FieldValue::Null => Value::Null,
        FieldValue::Text(s) | FieldValue::Select(s) => match f.kind {
            FieldType::Number => {
                let n: f64 = s
                    .trim()
                    .parse()
                    .map_err(|_| wrong(&format!("text `{s}`")))?;
                number_json(f, n)
            }
            FieldType::Boolean => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Value::Bool(true),
                "false" | "no" | "0" | "" => Value::Bool(false),
                _ => return Err(wrong(&format!("text `{s}`"))),
            },
            FieldType::MultiSelect => Value::Array(vec![Value::String(s.clone())]),
            FieldType::Reference => Value::String(s.clone()),
            FieldType::Json => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
            _ => Value::String(s.clone()),
        },
        FieldValue::Number(n) => match f.kind {
            FieldType::Number | FieldType::Json => number_json(f, *n),
            FieldType::Boolean => Value::Bool(*n != 0.0),
            FieldType::Text | FieldType::Select => Value::String(trim_number(*n)),
            _ => return Err(wrong("a number")),
        },
        FieldValue::Boolean(b) => match f.kind {
            FieldType::Boolean | FieldType::Json => Value::Bool(*b),
            FieldType::Text | FieldType::Select => Value::String(b.to_string()),
            _ => return Err(wrong("a boolean")),
        },
        FieldValue::Date(s) => match f.kind {
            FieldType::Date | FieldType::Text | FieldType::Datetime => Value::String(s.clone()),
            _ => return Err(wrong("a date")),
        },
        FieldValue::Datetime(s) => match f.kind {
            // A `date` keeps the calendar day of a datetime.
            FieldType::Date => Value::String(s.chars().take(10).collect()),
            FieldType::Datetime | FieldType::Text => Value::String(s.clone()),
            _ => return Err(wrong("a datetime")),
        },
        FieldValue::MultiSelect(items) => match f.kind {
            FieldType::MultiSelect | FieldType::Json => {
                Value::Array(items.iter().cloned().map(Value::String).collect())
            }
            FieldType::Text | FieldType::Select => Value::String(items.join(", ")),
            _ => return Err(wrong("a multi-select")),
        },
        FieldValue::Reference(ids) => match (f.kind, ids.as_slice()) {
            (FieldType::Reference, []) => Value::Null,
            (FieldType::Reference, [id]) => Value::String(id.clone()),
            (FieldType::Reference, _) => {
                return Err(wrong("more than one reference (a many-to-one holds one)"))
            }
            (FieldType::Json, _) => Value::Array(ids.iter().cloned().map(Value::String).collect()),
            _ => return Err(wrong("a reference")),
        },
        FieldValue::Json(s) => {
            serde_json::from_str(s).map_err(|e| format!("field `{}`: invalid JSON: {e}", f.name))?
        }
    })
}

fn number_json(f: &FieldMeta, n: f64) -> Value {
    let whole = n.fract() == 0.0 && n.abs() < 9.0e15;
    if whole && matches!(f.directus_type.as_str(), "integer" | "bigInteger") {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

fn trim_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// The JSON object of an item to create or update. Unknown and read-only
/// fields are `invalid-input` naming the field: a silent drop would look
/// like a successful write.
pub fn to_body(c: &Collection, fields: &[Field]) -> Result<Map<String, Value>, ConnectorError> {
    let mut body = Map::new();
    for field in fields {
        let Some(meta) = c.field(&field.name) else {
            let names: Vec<&str> = c.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(ConnectorError::InvalidInput(format!(
                "collection `{}` has no field `{}`; its fields are: {}",
                c.name,
                field.name,
                names.join(", ")
            )));
        };
        if meta.read_only {
            return Err(ConnectorError::InvalidInput(format!(
                "field `{}` of collection `{}` is filled by Directus and cannot be written",
                field.name, c.name
            )));
        }
        let value = to_json(meta, &field.value).map_err(ConnectorError::InvalidInput)?;
        body.insert(field.name.clone(), value);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tasks() -> Collection {
        crate::schema::parse_fields("tasks", &crate::schema::tests_support::tasks_body()).unwrap()
    }

    #[test]
    fn reads_an_item() {
        let c = tasks();
        let item = json!({"id": 7, "name": "Write", "status": "todo", "tags": ["a", "b"],
            "points": "2.5", "owner": null, "project": {"id": 3, "name": "P"}, "due": "2024-05-01",
            "extra": {"k": 1}, "date_created": "2024-05-01T10:00:00.000Z", "date_updated": null});
        let r = to_record(&c, &item).unwrap();
        assert_eq!(r.id, "7");
        assert_eq!(r.version.as_deref(), Some("2024-05-01T10:00:00.000Z"));
        assert_eq!(r.get("name"), Some(&FieldValue::Text("Write".into())));
        assert_eq!(r.get("status"), Some(&FieldValue::Select("todo".into())));
        assert_eq!(
            r.get("tags"),
            Some(&FieldValue::MultiSelect(vec!["a".into(), "b".into()]))
        );
        assert_eq!(r.get("points"), Some(&FieldValue::Number(2.5)));
        assert_eq!(r.get("owner"), Some(&FieldValue::Null));
        assert_eq!(
            r.get("project"),
            Some(&FieldValue::Reference(vec!["3".into()]))
        );
        assert_eq!(r.get("due"), Some(&FieldValue::Date("2024-05-01".into())));
        assert_eq!(r.get("extra"), Some(&FieldValue::Json(r#"{"k":1}"#.into())));
        let updated = json!({"id": 7, "date_created": "2024-05-01T10:00:00.000Z",
            "date_updated": "2024-05-02T10:00:00.000Z"});
        assert_eq!(
            to_record(&c, &updated).unwrap().version.as_deref(),
            Some("2024-05-02T10:00:00.000Z")
        );
        assert!(to_record(&c, &json!({"name": "no key"})).is_none());
    }

    #[test]
    fn a_datetime_without_offset_is_utc() {
        assert_eq!(with_offset("2024-01-02T03:04:05"), "2024-01-02T03:04:05Z");
        assert_eq!(
            with_offset("2024-01-02T03:04:05.000Z"),
            "2024-01-02T03:04:05.000Z"
        );
        assert_eq!(
            with_offset("2024-01-02T03:04:05+02:00"),
            "2024-01-02T03:04:05+02:00"
        );
        assert_eq!(with_offset("2024-01-02"), "2024-01-02");
    }

    #[test]
    fn builds_a_body_and_refuses_what_cannot_be_written() {
        let c = tasks();
        let text = |n: &str, v: &str| Field {
            name: n.into(),
            value: FieldValue::Text(v.into()),
        };
        let body = to_body(
            &c,
            &[
                text("name", "A"),
                Field {
                    name: "points".into(),
                    value: FieldValue::Number(3.0),
                },
                Field {
                    name: "tags".into(),
                    value: FieldValue::MultiSelect(vec!["x".into()]),
                },
                Field {
                    name: "project".into(),
                    value: FieldValue::Reference(vec!["4".into()]),
                },
                Field {
                    name: "due".into(),
                    value: FieldValue::Datetime("2024-06-01T23:00:00Z".into()),
                },
                Field {
                    name: "extra".into(),
                    value: FieldValue::Json(r#"{"a":[1]}"#.into()),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"name": "A", "points": 3.0, "tags": ["x"], "project": "4",
                "due": "2024-06-01", "extra": {"a": [1]}})
        );
        for (field, why) in [
            (text("nope", "x"), "has no field `nope`"),
            (text("date_updated", "x"), "filled by Directus"),
            (text("id", "9"), "filled by Directus"),
            (text("points", "many"), "does not fit"),
        ] {
            match to_body(&c, &[field]) {
                Err(ConnectorError::InvalidInput(m)) => assert!(m.contains(why), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn integers_are_sent_as_integers() {
        let f = FieldMeta {
            name: "n".into(),
            directus_type: "integer".into(),
            kind: FieldType::Number,
            read_only: false,
            options: vec![],
        };
        assert_eq!(to_json(&f, &FieldValue::Number(4.0)).unwrap(), json!(4));
        assert_eq!(
            to_json(&f, &FieldValue::Text("5".into())).unwrap(),
            json!(5)
        );
    }
}
