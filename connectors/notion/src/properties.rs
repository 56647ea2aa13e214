//! Page property values <-> synchost field values. Pure functions only: no
//! HTTP here, so that every translation is unit-tested natively.
//!
//! Reference: "Page properties" and "Rich text" in the Notion API reference
//! (version 2022-06-28).

use serde_json::{json, Map, Value};
use synchost_sdk::FieldValue;

use crate::limits;
use crate::schema::{option_names, PropKind, Property};

/// Notion caps one rich-text object's `text.content` at 2000 characters,
/// counted in UTF-16 code units (see `limits`).
pub const RICH_TEXT_CHUNK: usize = limits::TEXT_CONTENT_MAX;

/// The plain text of a rich-text array: its items' `plain_text`, concatenated.
pub fn plain_text(rich_text: &Value) -> String {
    rich_text
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            item["plain_text"]
                .as_str()
                .or_else(|| item["text"]["content"].as_str())
        })
        .collect()
}

fn json_value(value: &Value) -> FieldValue {
    if value.is_null() {
        FieldValue::Null
    } else {
        FieldValue::Json(value.to_string())
    }
}

fn opt_text(value: &Value) -> FieldValue {
    match value.as_str() {
        Some(s) => FieldValue::Text(s.to_string()),
        None => FieldValue::Null,
    }
}

/// A `date` value's start, as `date` or `datetime` by whether it has a time.
/// The end of a range is not represented (see the README).
fn date_value(date: &Value) -> FieldValue {
    match date["start"].as_str() {
        Some(start) if start.contains('T') => FieldValue::Datetime(start.to_string()),
        Some(start) => FieldValue::Date(start.to_string()),
        None => FieldValue::Null,
    }
}

/// The field value of one page property value object (`{"id", "type", <type>: ..}`),
/// or why it is not one: a property without a `type`, or whose value does
/// not have the shape its type documents, is an error, never a null (a page
/// read as all-null would be synced as all-null).
pub fn field_value(prop: &Value) -> Result<FieldValue, String> {
    let notion_type = prop["type"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("has no `type`")?;
    inner_value(notion_type, &prop[notion_type])
}

/// The field value of the value a property of type `notion_type` holds under
/// its type's key (null when the key is missing), or why it is not one.
pub fn inner_value(notion_type: &str, inner: &Value) -> Result<FieldValue, String> {
    let shape = |what: &str| {
        format!(
            "is a `{notion_type}` property whose value is not {what}: {}",
            excerpt(inner)
        )
    };
    let nullable = |ok: bool, what: &str| {
        if ok || inner.is_null() {
            Ok(())
        } else {
            Err(shape(what))
        }
    };
    Ok(match PropKind::from_type(notion_type) {
        PropKind::Title | PropKind::RichText => {
            if !inner.is_array() {
                return Err(shape("a rich-text array"));
            }
            FieldValue::Text(plain_text(inner))
        }
        PropKind::Email | PropKind::Url | PropKind::PhoneNumber => {
            nullable(inner.is_string(), "a string or null")?;
            opt_text(inner)
        }
        PropKind::Number => {
            nullable(inner.is_number(), "a number or null")?;
            match inner.as_f64() {
                Some(n) => FieldValue::Number(n),
                None => FieldValue::Null,
            }
        }
        PropKind::Checkbox => {
            FieldValue::Boolean(inner.as_bool().ok_or_else(|| shape("true or false"))?)
        }
        PropKind::Select | PropKind::Status => {
            nullable(inner["name"].is_string(), "an option with a name, or null")?;
            match inner["name"].as_str() {
                Some(name) => FieldValue::Select(name.to_string()),
                None => FieldValue::Null,
            }
        }
        PropKind::MultiSelect => {
            if !inner.is_array() {
                return Err(shape("an array of options"));
            }
            FieldValue::MultiSelect(option_names(inner))
        }
        PropKind::Date => {
            nullable(inner["start"].is_string(), "a date with a start, or null")?;
            date_value(inner)
        }
        PropKind::Relation => {
            let refs = inner
                .as_array()
                .ok_or_else(|| shape("an array of page references"))?;
            FieldValue::Reference(
                refs.iter()
                    .filter_map(|r| r["id"].as_str().map(String::from))
                    .collect(),
            )
        }
        PropKind::CreatedTime | PropKind::LastEditedTime => {
            nullable(inner.is_string(), "a time")?;
            match inner.as_str() {
                Some(at) => FieldValue::Datetime(at.to_string()),
                None => FieldValue::Null,
            }
        }
        PropKind::People => json_value(inner),
        PropKind::ReadOnlyJson(t) => match t.as_str() {
            // the computed value, not Notion's envelope around it
            "formula" | "rollup" => match inner["type"].as_str() {
                Some(result_type) => json_value(&inner[result_type]),
                None => json_value(inner),
            },
            _ => json_value(inner),
        },
    })
}

/// A value as messages show it: at most 80 characters.
fn excerpt(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// A rich-text array holding `text`, split into chunks Notion accepts: at
/// most 2000 UTF-16 code units each, cut between characters.
pub fn rich_text(text: &str) -> Value {
    let items = limits::text_chunks(text)
        .into_iter()
        .map(|chunk| json!({ "type": "text", "text": { "content": chunk } }))
        .collect();
    Value::Array(items)
}

fn type_name(value: &FieldValue) -> &'static str {
    match value {
        FieldValue::Null => "null",
        FieldValue::Text(_) => "text",
        FieldValue::Number(_) => "number",
        FieldValue::Boolean(_) => "boolean",
        FieldValue::Date(_) => "date",
        FieldValue::Datetime(_) => "datetime",
        FieldValue::Select(_) => "select",
        FieldValue::MultiSelect(_) => "multi-select",
        FieldValue::Reference(_) => "reference",
        FieldValue::Json(_) => "json",
    }
}

fn wrong(prop: &Property, value: &FieldValue, expected: &str) -> String {
    format!(
        "a Notion {} property takes {expected}, not {}",
        prop.kind.notion_type(),
        type_name(value)
    )
}

/// Text-like values that may go into a text property.
fn as_text(value: &FieldValue) -> Option<&str> {
    match value {
        FieldValue::Text(s) | FieldValue::Select(s) => Some(s),
        _ => None,
    }
}

fn ids(values: &[String]) -> Value {
    Value::Array(values.iter().map(|id| json!({ "id": id })).collect())
}

/// The request value of one property (`{<type>: ..}`) for `value`; `Null` clears it.
pub fn property_value(prop: &Property, value: &FieldValue) -> Result<Value, String> {
    if prop.kind.read_only() {
        return Err(format!(
            "read-only Notion {} property",
            prop.kind.notion_type()
        ));
    }
    let key = prop.kind.notion_type().to_string();
    let null = matches!(value, FieldValue::Null);
    let inner = match &prop.kind {
        PropKind::Title | PropKind::RichText => match (value, as_text(value)) {
            (FieldValue::Null, _) => json!([]),
            (_, Some(s)) => {
                limits::checked_text_chunks(s)?;
                rich_text(s)
            }
            (FieldValue::Number(n), _) => rich_text(&n.to_string()),
            _ => return Err(wrong(prop, value, "text")),
        },
        PropKind::Email | PropKind::Url | PropKind::PhoneNumber => match as_text(value) {
            _ if null => Value::Null,
            Some("") => Value::Null,
            Some(s) => {
                let (what, max) = match prop.kind {
                    PropKind::Email => ("an email", limits::EMAIL_MAX),
                    PropKind::Url => ("a URL", limits::URL_MAX),
                    _ => ("a phone number", limits::PHONE_MAX),
                };
                limits::check_length(what, s, max)?;
                json!(s)
            }
            None => return Err(wrong(prop, value, "text")),
        },
        PropKind::Number => match value {
            FieldValue::Null => Value::Null,
            FieldValue::Number(n) if n.is_finite() => json!(n),
            FieldValue::Number(_) => return Err("a Notion number must be finite".into()),
            _ => return Err(wrong(prop, value, "a number")),
        },
        PropKind::Checkbox => match value {
            // a checkbox has no empty state: cleared means unchecked
            FieldValue::Null => json!(false),
            FieldValue::Boolean(b) => json!(b),
            _ => return Err(wrong(prop, value, "a boolean")),
        },
        PropKind::Select | PropKind::Status => match as_text(value) {
            _ if null => Value::Null,
            Some(name) => {
                // Notion adds a new select option on write, but a status
                // must be one of the database's options.
                if prop.kind == PropKind::Status
                    && !prop.options.is_empty()
                    && !prop.options.iter().any(|o| o == name)
                {
                    return Err(format!(
                        "`{name}` is not an option of this status property (options: {})",
                        prop.options.join(", ")
                    ));
                }
                json!({ "name": name })
            }
            None => return Err(wrong(prop, value, "a select")),
        },
        PropKind::MultiSelect => match value {
            FieldValue::Null => json!([]),
            FieldValue::MultiSelect(names) => {
                limits::check_count("options", names.len(), limits::MULTI_SELECT_MAX)?;
                Value::Array(names.iter().map(|n| json!({ "name": n })).collect())
            }
            FieldValue::Select(name) | FieldValue::Text(name) => json!([{ "name": name }]),
            _ => return Err(wrong(prop, value, "a multi-select")),
        },
        PropKind::Date => match value {
            FieldValue::Null => Value::Null,
            FieldValue::Date(s) | FieldValue::Datetime(s) | FieldValue::Text(s) => {
                json!({ "start": s })
            }
            _ => return Err(wrong(prop, value, "a date or datetime")),
        },
        PropKind::Relation => match value {
            FieldValue::Null => json!([]),
            FieldValue::Reference(refs) => {
                limits::check_count("related pages", refs.len(), limits::RELATION_MAX)?;
                ids(refs)
            }
            FieldValue::Text(id) => ids(std::slice::from_ref(id)),
            _ => return Err(wrong(prop, value, "a reference")),
        },
        PropKind::People => match value {
            FieldValue::Null => json!([]),
            FieldValue::Reference(refs) => {
                limits::check_count("users", refs.len(), limits::PEOPLE_MAX)?;
                ids(refs)
            }
            FieldValue::Json(doc) => {
                let parsed: Value = serde_json::from_str(doc)
                    .map_err(|e| format!("not a JSON array of users: {e}"))?;
                let Some(users) = parsed.as_array() else {
                    return Err("a Notion people property takes a JSON array of users".into());
                };
                limits::check_count("users", users.len(), limits::PEOPLE_MAX)?;
                parsed
            }
            _ => {
                return Err(wrong(
                    prop,
                    value,
                    "json (an array of users) or a reference",
                ))
            }
        },
        PropKind::CreatedTime | PropKind::LastEditedTime | PropKind::ReadOnlyJson(_) => {
            unreachable!("read-only kinds return above")
        }
    };
    let mut out = Map::new();
    out.insert(key, inner);
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests::schema;

    fn prop(name: &str) -> Property {
        schema().properties[name].clone()
    }

    fn show(v: &FieldValue) -> String {
        format!("{v:?}")
    }

    #[test]
    fn page_values_of_each_type() {
        let cases = [
            (
                json!({ "type": "title", "title": [
                    { "type": "text", "plain_text": "Bug ", "text": { "content": "Bug " } },
                    { "type": "mention", "plain_text": "bash" } ] }),
                FieldValue::Text("Bug bash".into()),
            ),
            (
                json!({ "type": "rich_text", "rich_text": [] }),
                FieldValue::Text(String::new()),
            ),
            (
                json!({ "type": "email", "email": "a@b.c" }),
                FieldValue::Text("a@b.c".into()),
            ),
            (json!({ "type": "url", "url": null }), FieldValue::Null),
            (
                json!({ "type": "phone_number", "phone_number": "+1 555" }),
                FieldValue::Text("+1 555".into()),
            ),
            (
                json!({ "type": "number", "number": 3 }),
                FieldValue::Number(3.0),
            ),
            (
                json!({ "type": "number", "number": null }),
                FieldValue::Null,
            ),
            (
                json!({ "type": "checkbox", "checkbox": true }),
                FieldValue::Boolean(true),
            ),
            (
                json!({ "type": "select", "select": { "id": "1", "name": "High" } }),
                FieldValue::Select("High".into()),
            ),
            (
                json!({ "type": "select", "select": null }),
                FieldValue::Null,
            ),
            (
                json!({ "type": "status", "status": { "name": "Done" } }),
                FieldValue::Select("Done".into()),
            ),
            (
                json!({ "type": "multi_select", "multi_select": [{ "name": "a" }, { "name": "b" }] }),
                FieldValue::MultiSelect(vec!["a".into(), "b".into()]),
            ),
            (
                json!({ "type": "date", "date": { "start": "2023-02-23", "end": null } }),
                FieldValue::Date("2023-02-23".into()),
            ),
            (
                json!({ "type": "date", "date": { "start": "2023-02-23T10:00:00.000+02:00" } }),
                FieldValue::Datetime("2023-02-23T10:00:00.000+02:00".into()),
            ),
            (json!({ "type": "date", "date": null }), FieldValue::Null),
            (
                json!({ "type": "relation", "relation": [{ "id": "p1" }, { "id": "p2" }], "has_more": false }),
                FieldValue::Reference(vec!["p1".into(), "p2".into()]),
            ),
            (
                json!({ "type": "created_time", "created_time": "2022-10-24T22:54:00.000Z" }),
                FieldValue::Datetime("2022-10-24T22:54:00.000Z".into()),
            ),
            (
                json!({ "type": "last_edited_time", "last_edited_time": "2023-03-08T18:25:00.000Z" }),
                FieldValue::Datetime("2023-03-08T18:25:00.000Z".into()),
            ),
            (
                json!({ "type": "people", "people": [{ "object": "user", "id": "u1" }] }),
                FieldValue::Json(r#"[{"id":"u1","object":"user"}]"#.into()),
            ),
            (
                json!({ "type": "created_by", "created_by": { "object": "user", "id": "u1" } }),
                FieldValue::Json(r#"{"id":"u1","object":"user"}"#.into()),
            ),
            (
                json!({ "type": "formula", "formula": { "type": "number", "number": 4 } }),
                FieldValue::Json("4".into()),
            ),
            (
                json!({ "type": "formula", "formula": { "type": "string", "string": null } }),
                FieldValue::Null,
            ),
            (
                json!({ "type": "rollup", "rollup": { "type": "number", "number": 7, "function": "sum" } }),
                FieldValue::Json("7".into()),
            ),
            (
                json!({ "type": "unique_id", "unique_id": { "prefix": "T", "number": 3 } }),
                FieldValue::Json(r#"{"number":3,"prefix":"T"}"#.into()),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                show(&field_value(&input).unwrap()),
                show(&expected),
                "{input}"
            );
        }
    }

    fn write(name: &str, value: FieldValue) -> Result<Value, String> {
        property_value(&prop(name), &value)
    }

    #[test]
    fn text_values_per_property_type() {
        assert_eq!(
            write("Name", FieldValue::Text("Hi".into())).unwrap(),
            json!({ "title": [{ "type": "text", "text": { "content": "Hi" } }] })
        );
        assert_eq!(
            write("Notes", FieldValue::Text("x".into())).unwrap(),
            json!({ "rich_text": [{ "type": "text", "text": { "content": "x" } }] })
        );
        assert_eq!(
            write("Notes", FieldValue::Null).unwrap(),
            json!({ "rich_text": [] })
        );
        assert_eq!(
            write("Email", FieldValue::Text("a@b.c".into())).unwrap(),
            json!({ "email": "a@b.c" })
        );
        assert_eq!(
            write("Link", FieldValue::Null).unwrap(),
            json!({ "url": null })
        );
        assert_eq!(
            write("Phone", FieldValue::Text(String::new())).unwrap(),
            json!({ "phone_number": null })
        );
        assert!(write("Email", FieldValue::Number(1.0)).is_err());
    }

    #[test]
    fn long_text_is_split_into_chunks() {
        let long = "é".repeat(RICH_TEXT_CHUNK + 5);
        let value = write("Notes", FieldValue::Text(long)).unwrap();
        let items = value["rich_text"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0]["text"]["content"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            RICH_TEXT_CHUNK
        );
        assert_eq!(
            items[1]["text"]["content"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            5
        );
    }

    #[test]
    fn scalar_values_per_property_type() {
        assert_eq!(
            write("Points", FieldValue::Number(2.5)).unwrap(),
            json!({ "number": 2.5 })
        );
        assert_eq!(
            write("Points", FieldValue::Null).unwrap(),
            json!({ "number": null })
        );
        assert!(write("Points", FieldValue::Number(f64::NAN)).is_err());
        assert!(write("Points", FieldValue::Text("2".into())).is_err());
        assert_eq!(
            write("Done", FieldValue::Boolean(true)).unwrap(),
            json!({ "checkbox": true })
        );
        assert_eq!(
            write("Done", FieldValue::Null).unwrap(),
            json!({ "checkbox": false })
        );
        assert_eq!(
            write("Due", FieldValue::Date("2024-01-02".into())).unwrap(),
            json!({ "date": { "start": "2024-01-02" } })
        );
        assert_eq!(
            write("Due", FieldValue::Datetime("2024-01-02T03:04:05Z".into())).unwrap(),
            json!({ "date": { "start": "2024-01-02T03:04:05Z" } })
        );
        assert_eq!(
            write("Due", FieldValue::Null).unwrap(),
            json!({ "date": null })
        );
    }

    #[test]
    fn select_values_per_property_type() {
        assert_eq!(
            write("Priority", FieldValue::Select("High".into())).unwrap(),
            json!({ "select": { "name": "High" } })
        );
        // Notion creates new select options on write
        assert_eq!(
            write("Priority", FieldValue::Text("New".into())).unwrap(),
            json!({ "select": { "name": "New" } })
        );
        assert_eq!(
            write("Priority", FieldValue::Null).unwrap(),
            json!({ "select": null })
        );
        assert_eq!(
            write("Stage", FieldValue::Select("Done".into())).unwrap(),
            json!({ "status": { "name": "Done" } })
        );
        let err = write("Stage", FieldValue::Select("Nope".into())).unwrap_err();
        assert!(err.contains("Nope") && err.contains("Not started"), "{err}");
        assert_eq!(
            write(
                "Tags",
                FieldValue::MultiSelect(vec!["a".into(), "c".into()])
            )
            .unwrap(),
            json!({ "multi_select": [{ "name": "a" }, { "name": "c" }] })
        );
        assert_eq!(
            write("Tags", FieldValue::Null).unwrap(),
            json!({ "multi_select": [] })
        );
        assert!(write("Tags", FieldValue::Boolean(true)).is_err());
    }

    #[test]
    fn reference_and_people_values() {
        assert_eq!(
            write(
                "Parent",
                FieldValue::Reference(vec!["p1".into(), "p2".into()])
            )
            .unwrap(),
            json!({ "relation": [{ "id": "p1" }, { "id": "p2" }] })
        );
        assert_eq!(
            write("Parent", FieldValue::Null).unwrap(),
            json!({ "relation": [] })
        );
        assert_eq!(
            write(
                "Owner",
                FieldValue::Json(r#"[{"object":"user","id":"u1"}]"#.into())
            )
            .unwrap(),
            json!({ "people": [{ "object": "user", "id": "u1" }] })
        );
        assert_eq!(
            write("Owner", FieldValue::Reference(vec!["u1".into()])).unwrap(),
            json!({ "people": [{ "id": "u1" }] })
        );
        assert!(write("Owner", FieldValue::Json("{}".into())).is_err());
    }

    #[test]
    fn read_only_properties_refuse_writes() {
        for name in ["Created", "Edited", "Author", "Score", "Total", "Ref"] {
            let err = write(name, FieldValue::Text("x".into())).unwrap_err();
            assert!(err.contains("read-only"), "{name}: {err}");
        }
    }

    #[test]
    fn a_malformed_property_is_an_error_not_a_null() {
        for prop in [
            json!({ "id": "x", "title": [] }),
            json!({ "type": "", "title": [] }),
            json!({ "type": "title", "title": "not an array" }),
            json!({ "type": "number", "number": "3" }),
            json!({ "type": "checkbox" }),
            json!({ "type": "select", "select": "High" }),
            json!({ "type": "date", "date": { "end": "2023-01-01" } }),
            json!({ "type": "relation", "relation": { "id": "p1" } }),
        ] {
            let err = field_value(&prop).unwrap_err();
            assert!(!err.is_empty(), "{prop}");
        }
    }
}
