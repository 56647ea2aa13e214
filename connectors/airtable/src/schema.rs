//! Tables and fields as Airtable's metadata API describes them
//! (`GET /v0/meta/bases/{base}/tables`), and how each Airtable field type
//! maps onto the contract's field types.
//!
//! Pure: parsing and mapping only; the request is made in `lib.rs`.

use serde_json::Value;
use synchost_sdk::{EntitySchema, FieldSchema, FieldType};

/// One field of a table.
#[derive(Debug, Clone)]
pub struct FieldMeta {
    pub name: String,
    /// Airtable's type name: `singleLineText`, `checkbox`, ...
    pub airtable_type: String,
    pub kind: FieldType,
    pub read_only: bool,
    /// the choices of a single or multiple select
    pub options: Vec<String>,
}

/// One table of the base.
#[derive(Debug, Clone)]
pub struct TableMeta {
    pub id: String,
    pub name: String,
    pub fields: Vec<FieldMeta>,
}

impl TableMeta {
    pub fn field(&self, name: &str) -> Option<&FieldMeta> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The contract's view of this table, as `entity`.
    pub fn to_entity_schema(&self, entity: &str) -> EntitySchema {
        self.fields
            .iter()
            .fold(EntitySchema::new(entity), |schema, f| {
                let mut field = FieldSchema::new(&f.name, f.kind).options(f.options.clone());
                if f.read_only {
                    field = field.read_only();
                }
                schema.push(field)
            })
    }
}

/// The contract type of an Airtable field type, and whether it is computed
/// (read-only). Formulas, rollups and last-modified times take the type of
/// their result (`options.result.type`) when Airtable gives it.
pub fn map_type(airtable_type: &str, options: &Value) -> (FieldType, bool) {
    match airtable_type {
        "singleLineText" | "multilineText" | "richText" | "email" | "url" | "phoneNumber" => {
            (FieldType::Text, false)
        }
        "number" | "currency" | "percent" | "rating" | "duration" => (FieldType::Number, false),
        "checkbox" => (FieldType::Boolean, false),
        "singleSelect" => (FieldType::Select, false),
        "multipleSelects" => (FieldType::MultiSelect, false),
        "date" => (FieldType::Date, false),
        "dateTime" => (FieldType::Datetime, false),
        "multipleRecordLinks" => (FieldType::Reference, false),
        "createdTime" | "lastModifiedTime" => match result_type(options) {
            Some("date") => (FieldType::Date, true),
            _ => (FieldType::Datetime, true),
        },
        "formula" | "rollup" => {
            let kind = match result_type(options) {
                Some(result) if result != "formula" && result != "rollup" => {
                    map_type(result, &Value::Null).0
                }
                _ => FieldType::Json,
            };
            (kind, true)
        }
        "autoNumber" | "count" => (FieldType::Number, true),
        "multipleLookupValues"
        | "lookup"
        | "createdBy"
        | "lastModifiedBy"
        | "button"
        | "externalSyncSource"
        | "aiText" => (FieldType::Json, true),
        // attachments, collaborators, barcodes and types Airtable adds later:
        // written as JSON, and Airtable judges the value.
        _ => (FieldType::Json, false),
    }
}

fn result_type(options: &Value) -> Option<&str> {
    options.get("result")?.get("type")?.as_str()
}

/// The choices of a select field, by name.
fn choices(options: &Value) -> Vec<String> {
    options
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
        .collect()
}

/// Parses the metadata API's answer.
pub fn parse_tables(body: &Value) -> Result<Vec<TableMeta>, String> {
    let tables = body
        .get("tables")
        .and_then(Value::as_array)
        .ok_or("no `tables` array")?;
    tables.iter().map(parse_table).collect()
}

fn parse_table(table: &Value) -> Result<TableMeta, String> {
    let text = |v: &Value, key: &str| -> Result<String, String> {
        v.get(key)
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| format!("a table or field without `{key}`"))
    };
    let fields = table
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            let airtable_type = text(f, "type")?;
            let options = f.get("options").unwrap_or(&Value::Null);
            let (kind, read_only) = map_type(&airtable_type, options);
            let options = match kind {
                FieldType::Select | FieldType::MultiSelect if !read_only => choices(options),
                _ => Vec::new(),
            };
            Ok(FieldMeta {
                name: text(f, "name")?,
                airtable_type,
                kind,
                read_only,
                options,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(TableMeta {
        id: text(table, "id")?,
        name: text(table, "name")?,
        fields,
    })
}

/// The table called `wanted`, or whose id is `wanted`.
pub fn find_table<'a>(tables: &'a [TableMeta], wanted: &str) -> Option<&'a TableMeta> {
    tables
        .iter()
        .find(|t| t.name == wanted)
        .or_else(|| tables.iter().find(|t| t.id == wanted))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A table with one field of every mapped type.
    pub fn sample_meta() -> Value {
        json!({"tables": [
            {"id": "tblOther", "name": "Other", "fields": []},
            {"id": "tblTasks", "name": "Tasks", "primaryFieldId": "fld1", "fields": [
                {"id": "fld1", "name": "Name", "type": "singleLineText"},
                {"id": "fld2", "name": "Notes", "type": "multilineText"},
                {"id": "fld3", "name": "Estimate", "type": "number", "options": {"precision": 1}},
                {"id": "fld4", "name": "Done", "type": "checkbox",
                 "options": {"icon": "check", "color": "greenBright"}},
                {"id": "fld5", "name": "Status", "type": "singleSelect", "options": {"choices": [
                    {"id": "sel1", "name": "Todo", "color": "blueLight2"},
                    {"id": "sel2", "name": "Done", "color": "greenLight2"}]}},
                {"id": "fld6", "name": "Tags", "type": "multipleSelects", "options": {"choices": [
                    {"id": "sel3", "name": "red"}, {"id": "sel4", "name": "blue"}]}},
                {"id": "fld7", "name": "Due", "type": "date"},
                {"id": "fld8", "name": "Starts", "type": "dateTime"},
                {"id": "fld9", "name": "Project", "type": "multipleRecordLinks",
                 "options": {"linkedTableId": "tblOther"}},
                {"id": "fld10", "name": "Last Modified", "type": "lastModifiedTime",
                 "options": {"result": {"type": "dateTime"}}},
                {"id": "fld11", "name": "Created", "type": "createdTime"},
                {"id": "fld12", "name": "Score", "type": "formula",
                 "options": {"result": {"type": "number"}}},
                {"id": "fld13", "name": "Total", "type": "rollup"},
                {"id": "fld14", "name": "Number", "type": "autoNumber"},
                {"id": "fld15", "name": "Files", "type": "multipleAttachments"},
                {"id": "fld16", "name": "Price", "type": "currency"},
                {"id": "fld17", "name": "Email", "type": "email"}
            ]}
        ]})
    }

    pub fn sample_table() -> TableMeta {
        let tables = parse_tables(&sample_meta()).unwrap();
        find_table(&tables, "Tasks").unwrap().clone()
    }

    fn kind_of(t: &TableMeta, name: &str) -> (FieldType, bool) {
        let f = t.field(name).unwrap();
        (f.kind, f.read_only)
    }

    #[test]
    fn maps_every_documented_type() {
        let t = sample_table();
        let expect = [
            ("Name", FieldType::Text, false),
            ("Notes", FieldType::Text, false),
            ("Estimate", FieldType::Number, false),
            ("Done", FieldType::Boolean, false),
            ("Status", FieldType::Select, false),
            ("Tags", FieldType::MultiSelect, false),
            ("Due", FieldType::Date, false),
            ("Starts", FieldType::Datetime, false),
            ("Project", FieldType::Reference, false),
            ("Last Modified", FieldType::Datetime, true),
            ("Created", FieldType::Datetime, true),
            ("Score", FieldType::Number, true),
            ("Total", FieldType::Json, true),
            ("Number", FieldType::Number, true),
            ("Files", FieldType::Json, false),
            ("Price", FieldType::Number, false),
            ("Email", FieldType::Text, false),
        ];
        for (name, kind, read_only) in expect {
            assert_eq!(kind_of(&t, name), (kind, read_only), "{name}");
        }
    }

    #[test]
    fn text_like_and_number_like_types() {
        for t in ["richText", "url", "phoneNumber"] {
            assert!(matches!(
                map_type(t, &Value::Null),
                (FieldType::Text, false)
            ));
        }
        for t in ["percent", "rating"] {
            assert!(matches!(
                map_type(t, &Value::Null),
                (FieldType::Number, false)
            ));
        }
        let date_result = json!({"result": {"type": "date"}});
        assert!(matches!(
            map_type("lastModifiedTime", &date_result),
            (FieldType::Date, true)
        ));
    }

    #[test]
    fn select_choices_become_options() {
        let t = sample_table();
        assert_eq!(t.field("Status").unwrap().options, vec!["Todo", "Done"]);
        assert_eq!(t.field("Tags").unwrap().options, vec!["red", "blue"]);
        assert!(t.field("Name").unwrap().options.is_empty());
    }

    #[test]
    fn finds_tables_by_name_or_id() {
        let tables = parse_tables(&sample_meta()).unwrap();
        assert_eq!(find_table(&tables, "Tasks").unwrap().id, "tblTasks");
        assert_eq!(find_table(&tables, "tblTasks").unwrap().name, "Tasks");
        assert!(find_table(&tables, "tasks").is_none());
    }

    #[test]
    fn entity_schema_keeps_order_and_flags() {
        let schema = sample_table().to_entity_schema("tasks");
        assert_eq!(schema.entity, "tasks");
        assert_eq!(schema.fields.len(), 17);
        assert_eq!(schema.fields[0].name, "Name");
        assert!(schema.fields[9].read_only);
        assert_eq!(schema.fields[4].options, vec!["Todo", "Done"]);
    }

    #[test]
    fn malformed_metadata_is_an_error() {
        assert!(parse_tables(&json!({})).is_err());
        assert!(parse_tables(&json!({"tables": [{"name": "x"}]})).is_err());
    }
}
