//! The boundary between the runtime's contract types and the core's values.

use crate::core::value::{Fields, Record, Value};
use crate::runtime::{Field, FieldValue};

pub fn value_from_wire(v: &FieldValue) -> Value {
    match v {
        FieldValue::Null => Value::Null,
        FieldValue::Text(s) => Value::Text(s.clone()),
        FieldValue::Number(n) => Value::Number(*n),
        FieldValue::Boolean(b) => Value::Bool(*b),
        FieldValue::Date(s) => Value::Date(s.clone()),
        FieldValue::Datetime(s) => Value::Datetime(s.clone()),
        FieldValue::Select(s) => Value::Select(s.clone()),
        FieldValue::MultiSelect(v) => Value::MultiSelect(v.clone()),
        FieldValue::Reference(v) => Value::Reference(v.clone()),
        FieldValue::Json(s) => {
            Value::Json(serde_json::from_str(s).unwrap_or(serde_json::Value::String(s.clone())))
        }
    }
}

pub fn value_to_wire(v: &Value) -> FieldValue {
    match v {
        Value::Null => FieldValue::Null,
        Value::Text(s) => FieldValue::Text(s.clone()),
        Value::Number(n) => FieldValue::Number(*n),
        Value::Bool(b) => FieldValue::Boolean(*b),
        Value::Date(s) => FieldValue::Date(s.clone()),
        Value::Datetime(s) => FieldValue::Datetime(s.clone()),
        Value::Select(s) => FieldValue::Select(s.clone()),
        Value::MultiSelect(v) => FieldValue::MultiSelect(v.clone()),
        Value::Reference(v) => FieldValue::Reference(v.clone()),
        Value::Json(j) => FieldValue::Json(j.to_string()),
    }
}

pub fn record_from_wire(r: &crate::runtime::Record) -> Record {
    Record {
        id: r.id.clone(),
        version: r.version.clone(),
        updated_at: r.updated_at.clone(),
        deleted: r.deleted,
        fields: r
            .fields
            .iter()
            .map(|f| (f.name.clone(), value_from_wire(&f.value)))
            .collect(),
    }
}

pub fn fields_to_wire(fields: &Fields) -> Vec<Field> {
    fields
        .iter()
        .map(|(k, v)| Field {
            name: k.clone(),
            value: value_to_wire(v),
        })
        .collect()
}

/// The runtime's entity schema in the mapper's terms.
pub fn schema_from_wire(s: &crate::runtime::EntitySchema) -> crate::core::mapping::Schema {
    use crate::core::mapping::{FieldInfo, FieldKind};
    use crate::runtime::FieldType;
    let fields = s
        .fields
        .iter()
        .map(|f| {
            let kind = match f.kind {
                FieldType::Text => FieldKind::Text,
                FieldType::Number => FieldKind::Number,
                FieldType::Boolean => FieldKind::Bool,
                FieldType::Date => FieldKind::Date,
                FieldType::Datetime => FieldKind::Datetime,
                FieldType::Select => FieldKind::Select,
                FieldType::MultiSelect => FieldKind::MultiSelect,
                FieldType::Reference => FieldKind::Reference,
                FieldType::Json => FieldKind::Json,
            };
            (
                f.name.clone(),
                FieldInfo {
                    kind,
                    read_only: f.read_only,
                },
            )
        })
        .collect();
    crate::core::mapping::Schema { fields }
}
