//! The shape of a Notion database: its properties, their kinds, and the
//! synchost schema they make. Pure functions only.
//!
//! Reference: "Database properties" in the Notion API reference (version
//! 2022-06-28).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use synchost_sdk::{ConnectorError, EntitySchema, Field, FieldSchema, FieldType};

use crate::properties::property_value;

/// The Notion property types this connector knows, by how it treats them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropKind {
    Title,
    RichText,
    Email,
    Url,
    PhoneNumber,
    Number,
    Checkbox,
    Select,
    Status,
    MultiSelect,
    Date,
    Relation,
    /// written as a JSON array of user objects (`[{"id": ..}]`)
    People,
    CreatedTime,
    LastEditedTime,
    /// formula, rollup, unique_id, created_by, files, button, ...: read-only JSON.
    /// Holds Notion's type name.
    ReadOnlyJson(String),
}

impl PropKind {
    /// The kind of a Notion property `type`.
    pub fn from_type(notion_type: &str) -> PropKind {
        match notion_type {
            "title" => PropKind::Title,
            "rich_text" => PropKind::RichText,
            "email" => PropKind::Email,
            "url" => PropKind::Url,
            "phone_number" => PropKind::PhoneNumber,
            "number" => PropKind::Number,
            "checkbox" => PropKind::Checkbox,
            "select" => PropKind::Select,
            "status" => PropKind::Status,
            "multi_select" => PropKind::MultiSelect,
            "date" => PropKind::Date,
            "relation" => PropKind::Relation,
            "people" => PropKind::People,
            "created_time" => PropKind::CreatedTime,
            "last_edited_time" => PropKind::LastEditedTime,
            other => PropKind::ReadOnlyJson(other.to_string()),
        }
    }

    /// Notion's name for this property type (the key of its value object).
    pub fn notion_type(&self) -> &str {
        match self {
            PropKind::Title => "title",
            PropKind::RichText => "rich_text",
            PropKind::Email => "email",
            PropKind::Url => "url",
            PropKind::PhoneNumber => "phone_number",
            PropKind::Number => "number",
            PropKind::Checkbox => "checkbox",
            PropKind::Select => "select",
            PropKind::Status => "status",
            PropKind::MultiSelect => "multi_select",
            PropKind::Date => "date",
            PropKind::Relation => "relation",
            PropKind::People => "people",
            PropKind::CreatedTime => "created_time",
            PropKind::LastEditedTime => "last_edited_time",
            PropKind::ReadOnlyJson(t) => t,
        }
    }

    /// The synchost field type.
    pub fn field_type(&self) -> FieldType {
        match self {
            PropKind::Title
            | PropKind::RichText
            | PropKind::Email
            | PropKind::Url
            | PropKind::PhoneNumber => FieldType::Text,
            PropKind::Number => FieldType::Number,
            PropKind::Checkbox => FieldType::Boolean,
            PropKind::Select | PropKind::Status => FieldType::Select,
            PropKind::MultiSelect => FieldType::MultiSelect,
            // A Notion date holds a date or a date-time; values read back as
            // `date` when they have no time part.
            PropKind::Date | PropKind::CreatedTime | PropKind::LastEditedTime => {
                FieldType::Datetime
            }
            PropKind::Relation => FieldType::Reference,
            PropKind::People | PropKind::ReadOnlyJson(_) => FieldType::Json,
        }
    }

    pub fn read_only(&self) -> bool {
        matches!(
            self,
            PropKind::CreatedTime | PropKind::LastEditedTime | PropKind::ReadOnlyJson(_)
        )
    }
}

/// One property of a database.
#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    pub id: String,
    pub kind: PropKind,
    /// option names of a select, status or multi_select
    pub options: Vec<String>,
}

impl Property {
    pub fn field_schema(&self) -> FieldSchema {
        let mut schema = FieldSchema::new(&self.name, self.kind.field_type());
        schema.read_only = self.kind.read_only();
        schema.options = self.options.clone();
        schema
    }
}

/// A database's properties, by name, as retrieved once per run.
#[derive(Debug, Clone)]
pub struct DbSchema {
    pub entity: String,
    pub properties: BTreeMap<String, Property>,
}

impl DbSchema {
    /// Parses a database object (`GET /v1/databases/{id}`).
    pub fn from_database(entity: &str, db: &Value) -> Result<DbSchema, ConnectorError> {
        let props = db["properties"].as_object().ok_or_else(|| {
            ConnectorError::Fatal(format!(
                "database of entity `{entity}` has no `properties` object"
            ))
        })?;
        let mut properties = BTreeMap::new();
        for (name, prop) in props {
            let notion_type = prop["type"].as_str().unwrap_or("unknown");
            let kind = PropKind::from_type(notion_type);
            let options = match kind {
                PropKind::Select | PropKind::Status | PropKind::MultiSelect => {
                    option_names(&prop[notion_type]["options"])
                }
                _ => Vec::new(),
            };
            let id = prop["id"].as_str().unwrap_or(name).to_string();
            properties.insert(
                name.clone(),
                Property {
                    name: name.clone(),
                    id,
                    kind,
                    options,
                },
            );
        }
        Ok(DbSchema {
            entity: entity.to_string(),
            properties,
        })
    }

    pub fn entity_schema(&self) -> EntitySchema {
        self.properties
            .values()
            .fold(EntitySchema::new(&self.entity), |schema, prop| {
                schema.push(prop.field_schema())
            })
    }

    /// The `properties` object of a create or update request for `fields`.
    /// A field the database does not have, a read-only field or a value of
    /// the wrong type is `invalid-input` naming the field.
    pub fn build_properties(&self, fields: &[Field]) -> Result<Map<String, Value>, ConnectorError> {
        let mut out = Map::new();
        for field in fields {
            let prop = self.properties.get(&field.name).ok_or_else(|| {
                ConnectorError::InvalidInput(format!(
                    "field `{}` is not a property of the Notion database of entity `{}`",
                    field.name, self.entity
                ))
            })?;
            let value = property_value(prop, &field.value).map_err(|why| {
                ConnectorError::InvalidInput(format!("field `{}`: {why}", field.name))
            })?;
            out.insert(field.name.clone(), value);
        }
        Ok(out)
    }
}

pub(crate) fn option_names(options: &Value) -> Vec<String> {
    options
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["name"].as_str().map(String::from))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use synchost_sdk::FieldValue;

    pub(crate) fn database() -> Value {
        json!({
            "object": "database",
            "id": "db1",
            "properties": {
                "Name": { "id": "title", "name": "Name", "type": "title", "title": {} },
                "Notes": { "id": "a%3Bb", "type": "rich_text", "rich_text": {} },
                "Email": { "id": "e", "type": "email", "email": {} },
                "Link": { "id": "l", "type": "url", "url": {} },
                "Phone": { "id": "p", "type": "phone_number", "phone_number": {} },
                "Points": { "id": "n", "type": "number", "number": { "format": "number" } },
                "Done": { "id": "c", "type": "checkbox", "checkbox": {} },
                "Priority": { "id": "s", "type": "select", "select": { "options": [
                    { "id": "1", "name": "High", "color": "red" },
                    { "id": "2", "name": "Low", "color": "gray" } ] } },
                "Stage": { "id": "st", "type": "status", "status": { "options": [
                    { "id": "3", "name": "Not started" }, { "id": "4", "name": "Done" } ], "groups": [] } },
                "Tags": { "id": "m", "type": "multi_select", "multi_select": { "options": [
                    { "id": "5", "name": "a" }, { "id": "6", "name": "b" } ] } },
                "Due": { "id": "d", "type": "date", "date": {} },
                "Parent": { "id": "r", "type": "relation", "relation": { "database_id": "db2" } },
                "Owner": { "id": "o", "type": "people", "people": {} },
                "Created": { "id": "ct", "type": "created_time", "created_time": {} },
                "Edited": { "id": "et", "type": "last_edited_time", "last_edited_time": {} },
                "Author": { "id": "cb", "type": "created_by", "created_by": {} },
                "Score": { "id": "f", "type": "formula", "formula": { "expression": "1" } },
                "Total": { "id": "ru", "type": "rollup", "rollup": {} },
                "Ref": { "id": "u", "type": "unique_id", "unique_id": { "prefix": "T" } }
            }
        })
    }

    pub(crate) fn schema() -> DbSchema {
        DbSchema::from_database("tasks", &database()).unwrap()
    }

    #[test]
    fn database_maps_every_property_type() {
        let entity = schema().entity_schema();
        assert_eq!(entity.entity, "tasks");
        let kind = |name: &str| {
            let f = entity.fields.iter().find(|f| f.name == name).unwrap();
            (format!("{:?}", f.kind), f.read_only, f.options.clone())
        };
        let none: Vec<String> = vec![];
        let t = |kind: FieldType| format!("{kind:?}");
        for text in ["Name", "Notes", "Email", "Link", "Phone"] {
            assert_eq!(
                kind(text),
                (t(FieldType::Text), false, none.clone()),
                "{text}"
            );
        }
        assert_eq!(kind("Points"), (t(FieldType::Number), false, none.clone()));
        assert_eq!(kind("Done"), (t(FieldType::Boolean), false, none.clone()));
        assert_eq!(
            kind("Priority"),
            (
                t(FieldType::Select),
                false,
                vec!["High".into(), "Low".into()]
            )
        );
        assert_eq!(
            kind("Stage"),
            (
                t(FieldType::Select),
                false,
                vec!["Not started".into(), "Done".into()]
            )
        );
        assert_eq!(
            kind("Tags"),
            (
                t(FieldType::MultiSelect),
                false,
                vec!["a".into(), "b".into()]
            )
        );
        assert_eq!(kind("Due"), (t(FieldType::Datetime), false, none.clone()));
        assert_eq!(
            kind("Parent"),
            (t(FieldType::Reference), false, none.clone())
        );
        assert_eq!(kind("Owner"), (t(FieldType::Json), false, none.clone()));
        assert_eq!(
            kind("Created"),
            (t(FieldType::Datetime), true, none.clone())
        );
        assert_eq!(kind("Edited"), (t(FieldType::Datetime), true, none.clone()));
        for json in ["Author", "Score", "Total", "Ref"] {
            assert_eq!(
                kind(json),
                (t(FieldType::Json), true, none.clone()),
                "{json}"
            );
        }
        assert_eq!(schema().properties["Notes"].id, "a%3Bb");
    }

    #[test]
    fn database_without_properties_is_fatal() {
        let err = DbSchema::from_database("tasks", &json!({ "object": "database" })).unwrap_err();
        assert!(matches!(err, ConnectorError::Fatal(_)));
    }

    #[test]
    fn build_properties_names_the_bad_field() {
        let s = schema();
        let ok = s
            .build_properties(&[
                Field {
                    name: "Name".into(),
                    value: FieldValue::Text("T".into()),
                },
                Field {
                    name: "Done".into(),
                    value: FieldValue::Boolean(false),
                },
            ])
            .unwrap();
        assert_eq!(ok.len(), 2);
        let unknown = s
            .build_properties(&[Field {
                name: "Nope".into(),
                value: FieldValue::Null,
            }])
            .unwrap_err();
        assert!(
            matches!(&unknown, ConnectorError::InvalidInput(m) if m.contains("`Nope`")),
            "{unknown:?}"
        );
        let read_only = s
            .build_properties(&[Field {
                name: "Score".into(),
                value: FieldValue::Json("1".into()),
            }])
            .unwrap_err();
        assert!(
            matches!(&read_only, ConnectorError::InvalidInput(m) if m.contains("`Score`") && m.contains("read-only")),
            "{read_only:?}"
        );
    }
}
