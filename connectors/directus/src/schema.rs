//! A collection's fields, from `GET /fields/{collection}`
//! (https://docs.directus.io/reference/system/fields.html), and how
//! Directus' field types map to the contract's.
//!
//! Directus types (https://docs.directus.io/user-guide/overview/glossary.html#types):
//! `string`, `text`, `uuid`, `hash`, `csv`, `integer`, `bigInteger`, `float`,
//! `decimal`, `boolean`, `date`, `dateTime`, `time`, `timestamp`, `json`,
//! `geometry*`, `binary`, and `alias` (no column: relational o2m/m2m/m2a
//! and presentation fields), which the connector leaves out.

use serde_json::Value;
use synchost_sdk::{EntitySchema, FieldSchema, FieldType};

/// One column of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMeta {
    pub name: String,
    /// the Directus type, `string`, `integer`, `timestamp`...
    pub directus_type: String,
    pub kind: FieldType,
    pub read_only: bool,
    /// allowed values of a select, from the interface's `choices`
    pub options: Vec<String>,
}

/// Where a new item's primary key comes from: what tells which item of a
/// batch create's answer is which op's (Directus answers the items sorted
/// like any read, by the collection's sort field, else the key: not in the
/// order they were sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// an integer the database assigns (`has_auto_increment`), ascending in
    /// the order the items of one batch are inserted
    AutoIncrement,
    /// a UUID (`type: uuid`, or `special: uuid`): the connector generates
    /// it when the op does not carry one, so it knows every key it sends
    Uuid,
    /// any other key: entered by the client, so the op carries it
    Manual,
}

/// What the connector needs to know of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    pub name: String,
    /// the primary key field
    pub pk: String,
    /// whether the primary key is a number (its values are sent unquoted)
    pub pk_numeric: bool,
    /// where a new item's key comes from
    pub pk_kind: KeyKind,
    /// the field Directus fills on create (`special: date-created`)
    pub created: Option<String>,
    /// the field Directus fills on every update (`special: date-updated`)
    pub updated: Option<String>,
    pub fields: Vec<FieldMeta>,
}

impl Collection {
    pub fn field(&self, name: &str) -> Option<&FieldMeta> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn to_entity_schema(&self, entity: &str) -> EntitySchema {
        let mut schema = EntitySchema::new(entity);
        for f in &self.fields {
            let mut s = FieldSchema::new(&f.name, f.kind).options(f.options.clone());
            s.read_only = f.read_only;
            schema = schema.push(s);
        }
        schema
    }

    /// The fields that give a record its version, newest first.
    pub fn version_fields(&self) -> impl Iterator<Item = &str> {
        self.updated
            .iter()
            .chain(self.created.iter())
            .map(String::as_str)
    }
}

fn is_numeric(directus_type: &str) -> bool {
    matches!(
        directus_type,
        "integer" | "bigInteger" | "float" | "decimal"
    )
}

/// The contract type of a Directus field.
pub fn kind_of(directus_type: &str, interface: &str, has_choices: bool, m2o: bool) -> FieldType {
    if m2o {
        return FieldType::Reference;
    }
    match directus_type {
        "string" | "text" | "uuid" | "hash" | "time" => {
            if has_choices && matches!(interface, "select-dropdown" | "select-radio") {
                FieldType::Select
            } else {
                FieldType::Text
            }
        }
        // A `csv` column holds a list of strings (the `tags` interface).
        "csv" => FieldType::MultiSelect,
        t if is_numeric(t) => FieldType::Number,
        "boolean" => FieldType::Boolean,
        "date" => FieldType::Date,
        "dateTime" | "timestamp" => FieldType::Datetime,
        "json"
            if matches!(
                interface,
                "select-multiple-dropdown" | "select-multiple-checkbox" | "tags"
            ) =>
        {
            FieldType::MultiSelect
        }
        _ => FieldType::Json,
    }
}

fn special(meta: &Value) -> Vec<&str> {
    match &meta["special"] {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        // Older instances send `special` as a comma-separated string.
        Value::String(s) => s.split(',').map(str::trim).collect(),
        _ => Vec::new(),
    }
}

/// Parses the body of `GET /fields/{collection}`.
pub fn parse_fields(collection: &str, body: &Value) -> Result<Collection, String> {
    let items = body["data"]
        .as_array()
        .ok_or_else(|| "no `data` array".to_string())?;
    let mut pk = None;
    let mut created = None;
    let mut updated = None;
    let mut fields = Vec::new();
    for item in items {
        let name = item["field"]
            .as_str()
            .ok_or_else(|| "a field without a name".to_string())?;
        let directus_type = item["type"].as_str().unwrap_or("unknown");
        // Alias fields have no column: nothing to read or write directly.
        if directus_type == "alias" || item["schema"].is_null() {
            continue;
        }
        let schema = &item["schema"];
        let meta = &item["meta"];
        let specials = special(meta);
        let is_pk = schema["is_primary_key"].as_bool() == Some(true);
        let auto = schema["has_auto_increment"].as_bool() == Some(true);
        if is_pk {
            let kind = if auto && matches!(directus_type, "integer" | "bigInteger") {
                KeyKind::AutoIncrement
            } else if directus_type == "uuid" || specials.contains(&"uuid") {
                KeyKind::Uuid
            } else {
                KeyKind::Manual
            };
            pk = Some((name.to_string(), is_numeric(directus_type), kind));
        }
        if specials.contains(&"date-created") {
            created = Some(name.to_string());
        }
        if specials.contains(&"date-updated") {
            updated = Some(name.to_string());
        }
        let interface = meta["interface"].as_str().unwrap_or("");
        let options: Vec<String> = meta["options"]["choices"]
            .as_array()
            .map(|choices| {
                choices
                    .iter()
                    .filter_map(|c| match c {
                        Value::Object(o) => o.get("value").map(scalar_text),
                        other => Some(scalar_text(other)),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let m2o = schema["foreign_key_table"].is_string() && !is_pk;
        let kind = kind_of(directus_type, interface, !options.is_empty(), m2o);
        // Fields Directus fills itself: writing them is refused or ignored.
        let system_filled = specials.iter().any(|s| {
            matches!(
                *s,
                "date-created" | "date-updated" | "user-created" | "user-updated"
            )
        });
        let options = if matches!(kind, FieldType::Select | FieldType::MultiSelect) {
            options
        } else {
            Vec::new()
        };
        fields.push(FieldMeta {
            name: name.to_string(),
            directus_type: directus_type.to_string(),
            kind,
            read_only: (is_pk && auto) || system_filled,
            options,
        });
    }
    let (pk, pk_numeric, pk_kind) =
        pk.ok_or_else(|| format!("collection `{collection}` has no primary key field"))?;
    Ok(Collection {
        name: collection.to_string(),
        pk,
        pk_numeric,
        pk_kind,
        created,
        updated,
        fields,
    })
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
pub mod tests_support {
    use serde_json::{json, Value};

    pub fn tasks_body() -> Value {
        json!({"data": [
            {"field": "id", "type": "integer", "schema": {"is_primary_key": true, "has_auto_increment": true, "foreign_key_table": null}, "meta": {"special": null, "interface": "input", "readonly": true}},
            {"field": "name", "type": "string", "schema": {"is_primary_key": false}, "meta": {"interface": "input"}},
            {"field": "status", "type": "string", "schema": {}, "meta": {"interface": "select-dropdown", "options": {"choices": [{"text": "To do", "value": "todo"}, {"text": "Done", "value": "done"}]}}},
            {"field": "tags", "type": "csv", "schema": {}, "meta": {"interface": "tags", "special": ["cast-csv"]}},
            {"field": "points", "type": "float", "schema": {}, "meta": null},
            {"field": "owner", "type": "uuid", "schema": {"foreign_key_table": "directus_users"}, "meta": {"special": ["user-created"]}},
            {"field": "project", "type": "integer", "schema": {"foreign_key_table": "projects"}, "meta": {"interface": "select-dropdown-m2o", "special": ["m2o"]}},
            {"field": "subtasks", "type": "alias", "schema": null, "meta": {"special": ["o2m"]}},
            {"field": "due", "type": "date", "schema": {}, "meta": null},
            {"field": "extra", "type": "json", "schema": {}, "meta": null},
            {"field": "date_created", "type": "timestamp", "schema": {}, "meta": {"special": ["date-created"], "readonly": true}},
            {"field": "date_updated", "type": "timestamp", "schema": {}, "meta": {"special": ["date-updated"], "readonly": true}}
        ]})
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::tasks_body;
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_types_and_finds_the_key_and_timestamps() {
        let c = parse_fields("tasks", &tasks_body()).unwrap();
        assert_eq!((c.pk.as_str(), c.pk_numeric), ("id", true));
        assert_eq!(c.pk_kind, KeyKind::AutoIncrement);
        assert_eq!(c.created.as_deref(), Some("date_created"));
        assert_eq!(c.updated.as_deref(), Some("date_updated"));
        let kinds: Vec<(&str, FieldType, bool)> = c
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.kind, f.read_only))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("id", FieldType::Number, true),
                ("name", FieldType::Text, false),
                ("status", FieldType::Select, false),
                ("tags", FieldType::MultiSelect, false),
                ("points", FieldType::Number, false),
                ("owner", FieldType::Reference, true),
                ("project", FieldType::Reference, false),
                ("due", FieldType::Date, false),
                ("extra", FieldType::Json, false),
                ("date_created", FieldType::Datetime, true),
                ("date_updated", FieldType::Datetime, true),
            ]
        );
        assert_eq!(c.field("status").unwrap().options, vec!["todo", "done"]);
        assert_eq!(
            c.version_fields().collect::<Vec<_>>(),
            ["date_updated", "date_created"]
        );
    }

    #[test]
    fn a_string_key_is_writable_and_not_numeric() {
        let body = json!({"data": [
            {"field": "code", "type": "string", "schema": {"is_primary_key": true, "has_auto_increment": false}, "meta": null},
        ]});
        let c = parse_fields("codes", &body).unwrap();
        assert_eq!((c.pk.as_str(), c.pk_numeric), ("code", false));
        assert_eq!(c.pk_kind, KeyKind::Manual);
        assert!(!c.fields[0].read_only);
        assert_eq!(c.created, None);
    }

    #[test]
    fn a_uuid_key_is_one_the_connector_may_generate() {
        for (kind, special) in [
            ("uuid", json!(["uuid"])),
            ("uuid", json!(null)),
            ("string", json!("uuid")),
        ] {
            let body = json!({"data": [
                {"field": "id", "type": kind, "schema": {"is_primary_key": true, "has_auto_increment": false}, "meta": {"special": special}},
            ]});
            let c = parse_fields("docs", &body).unwrap();
            assert_eq!(
                (c.pk_kind, c.pk_numeric),
                (KeyKind::Uuid, false),
                "{kind} {special}"
            );
        }
        // An integer key without auto-increment is entered by the client.
        let body = json!({"data": [
            {"field": "n", "type": "integer", "schema": {"is_primary_key": true, "has_auto_increment": false}, "meta": null},
        ]});
        assert_eq!(parse_fields("n", &body).unwrap().pk_kind, KeyKind::Manual);
    }

    #[test]
    fn a_collection_without_a_key_is_an_error() {
        let body =
            json!({"data": [{"field": "name", "type": "string", "schema": {}, "meta": null}]});
        assert!(parse_fields("x", &body)
            .unwrap_err()
            .contains("primary key"));
        assert!(parse_fields("x", &json!({})).is_err());
    }
}
