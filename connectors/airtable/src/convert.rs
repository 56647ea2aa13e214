//! Translation between Airtable's JSON cell values and the contract's typed
//! field values, in both directions, guided by the table's schema.
//!
//! Pure functions only. Airtable omits empty cells from a record (an empty
//! text, an unchecked checkbox, an empty link list): such fields are absent
//! from the record we return too, never invented.

use serde_json::{Map, Value};
use synchost_sdk::{ConnectorError, Field, FieldType, FieldValue, Record};

use crate::schema::{FieldMeta, TableMeta};

/// The modification time of an Airtable record: the `modified_field` cell
/// when the table has that field and the record a value in it. Otherwise
/// none: Airtable keeps no other modification time, and `createdTime` is not
/// one (a record edited since would look old to `newest_wins`).
pub fn modified_time(record: &Value, table: &TableMeta, modified_field: &str) -> Option<String> {
    table.field(modified_field).and_then(|_| {
        record
            .get("fields")?
            .get(modified_field)?
            .as_str()
            .map(String::from)
    })
}

/// An Airtable record (`{"id", "createdTime", "fields"}`) as a contract record:
/// fields in the table's order, then any the schema does not know.
pub fn record_from_json(
    record: &Value,
    table: &TableMeta,
    modified_field: &str,
) -> Result<Record, ConnectorError> {
    let id = record
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ConnectorError::Fatal("Airtable returned a record without an id".into()))?;
    let empty = Map::new();
    let cells = record
        .get("fields")
        .and_then(Value::as_object)
        .unwrap_or(&empty);

    let mut fields: Vec<Field> = table
        .fields
        .iter()
        .filter_map(|meta| {
            cells.get(&meta.name).map(|cell| Field {
                name: meta.name.clone(),
                value: value_from_json(cell, Some(meta)),
            })
        })
        .collect();
    for (name, cell) in cells {
        if table.field(name).is_none() {
            fields.push(Field {
                name: name.clone(),
                value: value_from_json(cell, None),
            });
        }
    }

    let modified = modified_time(record, table, modified_field);
    let mut out = Record::new(id)
        .updated_at(modified.clone())
        .version(modified);
    out.fields = fields;
    Ok(out)
}

/// One cell as a typed value. A cell whose shape does not fit its field's
/// type (a formula's error object, a lookup's array) keeps its JSON; a field
/// the schema does not know is typed by its JSON shape.
pub fn value_from_json(cell: &Value, field: Option<&FieldMeta>) -> FieldValue {
    let strings = |items: &Vec<Value>| -> Option<Vec<String>> {
        items.iter().map(|v| v.as_str().map(String::from)).collect()
    };
    let typed = field.and_then(|meta| match (meta.kind, cell) {
        (_, Value::Null) => Some(FieldValue::Null),
        (FieldType::Text, Value::String(s)) => Some(FieldValue::Text(s.clone())),
        (FieldType::Number, Value::Number(n)) => n.as_f64().map(FieldValue::Number),
        (FieldType::Boolean, Value::Bool(b)) => Some(FieldValue::Boolean(*b)),
        (FieldType::Select, Value::String(s)) => Some(FieldValue::Select(s.clone())),
        (FieldType::MultiSelect, Value::Array(items)) => {
            strings(items).map(FieldValue::MultiSelect)
        }
        (FieldType::Date, Value::String(s)) => Some(FieldValue::Date(s.clone())),
        (FieldType::Datetime, Value::String(s)) => Some(FieldValue::Datetime(s.clone())),
        (FieldType::Reference, Value::Array(items)) => strings(items).map(FieldValue::Reference),
        (FieldType::Json, other) => Some(FieldValue::Json(other.to_string())),
        _ => None,
    });
    typed.unwrap_or_else(|| match cell {
        Value::Null => FieldValue::Null,
        Value::String(s) => FieldValue::Text(s.clone()),
        Value::Bool(b) => FieldValue::Boolean(*b),
        Value::Number(n) => match n.as_f64() {
            Some(f) => FieldValue::Number(f),
            None => FieldValue::Json(n.to_string()),
        },
        other => FieldValue::Json(other.to_string()),
    })
}

fn value_name(value: &FieldValue) -> &'static str {
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

fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

/// A typed value as the JSON Airtable takes for `field`; `Err` names the
/// field and what it cannot take. Writes are sent with `typecast: true`, so
/// Airtable itself converts strings into the field's type (and adds new
/// select choices); this only refuses what can never fit.
pub fn value_to_json(value: &FieldValue, field: &FieldMeta) -> Result<Value, String> {
    use FieldValue as V;
    let refuse = || {
        format!(
            "field `{}` ({}) does not take a {} value",
            field.name,
            field.airtable_type,
            value_name(value)
        )
    };
    let text = |s: &str| Ok(Value::String(s.to_string()));
    match (field.kind, value) {
        // an unchecked checkbox is `false`; any other cell is cleared by `null`
        (FieldType::Boolean, V::Null) => Ok(Value::Bool(false)),
        (_, V::Null) => Ok(Value::Null),

        (FieldType::Text, V::Text(s) | V::Select(s) | V::Date(s) | V::Datetime(s)) => text(s),
        (FieldType::Text, V::Number(n)) if n.is_finite() => text(&n.to_string()),

        (FieldType::Number, V::Number(n)) => serde_json::Number::from_f64(*n)
            .map(Value::Number)
            .ok_or_else(|| format!("field `{}`: {n} is not a finite number", field.name)),
        (FieldType::Number, V::Text(s)) if s.trim().parse::<f64>().is_ok() => text(s),

        (FieldType::Boolean, V::Boolean(b)) => Ok(Value::Bool(*b)),

        (FieldType::Select, V::Select(s) | V::Text(s)) => text(s),

        (FieldType::MultiSelect, V::MultiSelect(items)) => Ok(string_array(items)),
        (FieldType::MultiSelect, V::Select(s) | V::Text(s)) => {
            Ok(string_array(std::slice::from_ref(s)))
        }

        (FieldType::Date, V::Date(s) | V::Text(s)) => text(s),
        // a datetime into a date field keeps its own calendar date
        (FieldType::Date, V::Datetime(s)) => text(s.get(..10).unwrap_or(s)),

        (FieldType::Datetime, V::Datetime(s) | V::Date(s) | V::Text(s)) => text(s),

        (FieldType::Reference, V::Reference(ids)) => Ok(string_array(ids)),
        (FieldType::Reference, V::Text(id)) => Ok(string_array(std::slice::from_ref(id))),

        (FieldType::Json, V::Json(doc)) => serde_json::from_str(doc)
            .map_err(|e| format!("field `{}`: invalid JSON value: {e}", field.name)),
        (FieldType::Json, V::Text(s)) => text(s),

        _ => Err(refuse()),
    }
}

/// The `fields` object of a create or update: every field must exist in
/// the table and be writable. An error is `invalid-input` naming the field.
pub fn fields_to_json(
    fields: &[Field],
    table: &TableMeta,
) -> Result<Map<String, Value>, ConnectorError> {
    let mut out = Map::new();
    for field in fields {
        let meta = table.field(&field.name).ok_or_else(|| {
            ConnectorError::InvalidInput(format!(
                "field `{}` does not exist in table `{}`",
                field.name, table.name
            ))
        })?;
        if meta.read_only {
            return Err(ConnectorError::InvalidInput(format!(
                "field `{}` is read-only ({}) in table `{}`",
                field.name, meta.airtable_type, table.name
            )));
        }
        let value = value_to_json(&field.value, meta).map_err(ConnectorError::InvalidInput)?;
        out.insert(field.name.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
