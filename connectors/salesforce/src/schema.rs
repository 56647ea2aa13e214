//! The shape of an sObject from its describe result, the synchost schema it
//! makes, and values translated both ways. Pure functions only.
//!
//! References: "sObject Describe" (REST API Developer Guide: each field's
//! `name`, `type`, `createable`, `updateable`, `nillable`,
//! `picklistValues`), "Field Types" (SOAP API Developer Guide: multi-select
//! picklist values are "separated by semicolons"; dateTime values are UTC).

use serde_json::{json, Map, Value};
use synchost_sdk::{
    ConnectorError, EntitySchema, Field, FieldSchema, FieldType, FieldValue, Record,
};

use crate::time;

/// One field of an sObject, as the describe result lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SfField {
    pub name: String,
    /// Salesforce's type: `string`, `picklist`, `double`, `reference`, ...
    pub sf_type: String,
    pub createable: bool,
    pub updateable: bool,
    /// active picklist values
    pub options: Vec<String>,
}

/// Salesforce types read as text.
const TEXT_TYPES: [&str; 9] = [
    "id",
    "string",
    "textarea",
    "email",
    "phone",
    "url",
    "encryptedstring",
    "combobox",
    "time",
];
const NUMBER_TYPES: [&str; 5] = ["double", "currency", "percent", "int", "long"];
/// Types the default field list leaves out: base64 bodies are fetched one
/// record at a time, and compound fields repeat their components
/// (`MailingAddress` is `MailingStreet`, `MailingCity`, ...).
const NOT_LISTED: [&str; 3] = ["base64", "address", "location"];

impl SfField {
    pub fn field_type(&self) -> FieldType {
        match self.sf_type.as_str() {
            t if TEXT_TYPES.contains(&t) => FieldType::Text,
            t if NUMBER_TYPES.contains(&t) => FieldType::Number,
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Date,
            "datetime" => FieldType::Datetime,
            "picklist" => FieldType::Select,
            "multipicklist" => FieldType::MultiSelect,
            "reference" => FieldType::Reference,
            _ => FieldType::Json,
        }
    }

    /// A field that cannot be updated cannot be kept in sync: read-only.
    pub fn read_only(&self) -> bool {
        !self.updateable || self.field_type() == FieldType::Json
    }

    fn is_integer(&self) -> bool {
        matches!(self.sf_type.as_str(), "int" | "long")
    }
}

/// An sObject's fields, as described once per run.
#[derive(Debug, Clone)]
pub struct ObjectSchema {
    pub entity: String,
    pub object: String,
    /// in the order the describe lists them
    pub fields: Vec<SfField>,
}

impl ObjectSchema {
    /// Parses `GET /services/data/vXX.X/sobjects/{sObject}/describe`.
    pub fn from_describe(entity: &str, describe: &Value) -> Result<Self, ConnectorError> {
        let list = describe["fields"].as_array().ok_or_else(|| {
            ConnectorError::Fatal(format!(
                "the describe of entity `{entity}` has no `fields` array"
            ))
        })?;
        let fields = list
            .iter()
            .filter_map(|f| {
                let options = f["picklistValues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["active"].as_bool() != Some(false))
                    .filter_map(|p| p["value"].as_str().map(String::from))
                    .collect();
                Some(SfField {
                    name: f["name"].as_str()?.to_string(),
                    sf_type: f["type"].as_str().unwrap_or("anyType").to_string(),
                    createable: f["createable"].as_bool().unwrap_or(false),
                    updateable: f["updateable"].as_bool().unwrap_or(false),
                    options,
                })
            })
            .collect();
        Ok(ObjectSchema {
            entity: entity.to_string(),
            object: describe["name"].as_str().unwrap_or(entity).to_string(),
            fields,
        })
    }

    /// Field names are case-insensitive in Salesforce.
    pub fn field(&self, name: &str) -> Option<&SfField> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The field that dates every change: `SystemModstamp` ("the date and
    /// time when a record was last modified by a user or by an automated
    /// process", System Fields), else `LastModifiedDate`.
    pub fn modstamp(&self) -> Option<&str> {
        ["SystemModstamp", "LastModifiedDate"]
            .into_iter()
            .find(|n| self.field(n).is_some())
    }

    /// Every field but `Id` (the record's id) as the contract's schema.
    pub fn entity_schema(&self, selected: &[String]) -> EntitySchema {
        self.fields
            .iter()
            .filter(|f| f.name != "Id" && selected.contains(&f.name))
            .fold(EntitySchema::new(&self.entity), |schema, f| {
                let mut fs = FieldSchema::new(&f.name, f.field_type());
                fs.read_only = f.read_only();
                fs.options = f.options.clone();
                schema.push(fs)
            })
    }

    /// The fields a read selects: the job's list (checked against the
    /// describe, canonical names) or every listable field; `Id` and the
    /// modification stamp always.
    pub fn selected(&self, wanted: Option<&[String]>) -> Result<Vec<String>, ConnectorError> {
        let mut out: Vec<String> = match wanted {
            Some(names) => names
                .iter()
                .map(|n| {
                    self.field(n).map(|f| f.name.clone()).ok_or_else(|| {
                        ConnectorError::InvalidInput(format!(
                            "setting `fields.{}` names `{n}`, which is not a field of {}",
                            self.entity, self.object
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            None => self
                .fields
                .iter()
                .filter(|f| !NOT_LISTED.contains(&f.sf_type.as_str()))
                .map(|f| f.name.clone())
                .collect(),
        };
        let mut head: Vec<String> = ["Id"]
            .into_iter()
            .chain(self.modstamp())
            .filter(|always| !out.iter().any(|n| n == always))
            .map(String::from)
            .collect();
        head.append(&mut out);
        let mut out = head;
        let mut seen = Vec::new();
        out.retain(|n| {
            let fresh = !seen.contains(n);
            seen.push(n.clone());
            fresh
        });
        Ok(out)
    }

    /// A query result row as a record: `Id`, the stamp as version and
    /// modification time, and one field per selected field but `Id`.
    pub fn record(&self, row: &Value, selected: &[String]) -> Result<Record, ConnectorError> {
        let id = row["Id"].as_str().ok_or_else(|| {
            ConnectorError::Fatal(format!(
                "a {} row in the query results has no Id",
                self.object
            ))
        })?;
        let stamp = self
            .modstamp()
            .and_then(|m| row[m].as_str())
            .map(time::normalize);
        let mut record = Record::new(id).version(stamp.clone()).updated_at(stamp);
        for name in selected.iter().filter(|n| *n != "Id") {
            let value = match self.field(name) {
                Some(f) => read_value(f, &row[name.as_str()]),
                None => FieldValue::Json(row[name.as_str()].to_string()),
            };
            record.fields.push(Field {
                name: name.clone(),
                value,
            });
        }
        Ok(record)
    }

    /// The JSON body of one record of an sObject Collections create
    /// (`create`) or update, with the `attributes` map the API requires. A
    /// field the object does not have, one that cannot be written, or a value
    /// of the wrong type is `invalid-input` naming the field.
    pub fn body(
        &self,
        fields: &[Field],
        create: bool,
    ) -> Result<Map<String, Value>, ConnectorError> {
        let mut out = Map::new();
        out.insert("attributes".into(), json!({ "type": self.object }));
        for field in fields {
            let f = self.field(&field.name).ok_or_else(|| {
                ConnectorError::InvalidInput(format!(
                    "field `{}` is not a field of {} (entity `{}`)",
                    field.name, self.object, self.entity
                ))
            })?;
            let writable = if create { f.createable } else { f.updateable };
            if !writable || f.field_type() == FieldType::Json {
                return Err(ConnectorError::InvalidInput(format!(
                    "field `{}` of {} cannot be {}",
                    f.name,
                    self.object,
                    if create { "set on create" } else { "updated" }
                )));
            }
            let value = write_value(f, &field.value).map_err(|why| {
                ConnectorError::InvalidInput(format!("field `{}`: {why}", f.name))
            })?;
            out.insert(f.name.clone(), value);
        }
        Ok(out)
    }
}

/// A value as a query returns it, translated by the field's type.
pub fn read_value(f: &SfField, v: &Value) -> FieldValue {
    if v.is_null() {
        return FieldValue::Null;
    }
    match (f.field_type(), v) {
        (FieldType::Text, Value::String(s)) => FieldValue::Text(s.clone()),
        (FieldType::Number, Value::Number(n)) => FieldValue::Number(n.as_f64().unwrap_or(0.0)),
        (FieldType::Boolean, Value::Bool(b)) => FieldValue::Boolean(*b),
        (FieldType::Date, Value::String(s)) => FieldValue::Date(s.clone()),
        (FieldType::Datetime, Value::String(s)) => FieldValue::Datetime(time::normalize(s)),
        (FieldType::Select, Value::String(s)) => FieldValue::Select(s.clone()),
        (FieldType::MultiSelect, Value::String(s)) => FieldValue::MultiSelect(
            s.split(';')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect(),
        ),
        (FieldType::Reference, Value::String(s)) => FieldValue::Reference(vec![s.clone()]),
        (_, other) => FieldValue::Json(other.to_string()),
    }
}

/// A value for a create or update: null clears a field (a checkbox
/// becomes false); text is accepted where it parses.
pub fn write_value(f: &SfField, v: &FieldValue) -> Result<Value, String> {
    let kind = f.field_type();
    Ok(match (kind, v) {
        (FieldType::Boolean, FieldValue::Null) => json!(false),
        (_, FieldValue::Null) => Value::Null,
        (FieldType::Text, FieldValue::Text(s) | FieldValue::Select(s)) => json!(s),
        (FieldType::Text, FieldValue::Number(n)) => json!(n.to_string()),
        (FieldType::Number, FieldValue::Number(n)) => number(f, *n)?,
        (FieldType::Number, FieldValue::Text(s)) => {
            let n: f64 = s
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a number"))?;
            number(f, n)?
        }
        (FieldType::Boolean, FieldValue::Boolean(b)) => json!(b),
        (FieldType::Date, FieldValue::Date(s)) => json!(s),
        (FieldType::Date, FieldValue::Datetime(s)) if s.len() >= 10 => json!(s[..10]),
        (FieldType::Date, FieldValue::Text(s)) if valid_date(s) => json!(s),
        (FieldType::Datetime, FieldValue::Datetime(s) | FieldValue::Text(s)) => {
            let t = time::parse(s).ok_or_else(|| format!("`{s}` is not an RFC 3339 date-time"))?;
            json!(time::rfc3339(t))
        }
        (FieldType::Datetime, FieldValue::Date(s)) if valid_date(s) => {
            json!(format!("{s}T00:00:00.000Z"))
        }
        (FieldType::Select, FieldValue::Select(s) | FieldValue::Text(s)) => json!(s),
        (FieldType::MultiSelect, FieldValue::MultiSelect(items)) => {
            if let Some(bad) = items.iter().find(|i| i.contains(';')) {
                return Err(format!(
                    "the value `{bad}` contains `;`, the separator of multi-select values"
                ));
            }
            json!(items.join(";"))
        }
        (FieldType::MultiSelect, FieldValue::Select(s) | FieldValue::Text(s)) => json!(s),
        (FieldType::Reference, FieldValue::Reference(ids)) => match ids.as_slice() {
            [] => Value::Null,
            [one] => json!(one),
            _ => return Err(format!("a lookup holds one id, got {}", ids.len())),
        },
        (FieldType::Reference, FieldValue::Text(s)) => json!(s),
        (_, other) => {
            return Err(format!(
                "a {} field cannot take {}",
                f.sf_type,
                describe(other)
            ))
        }
    })
}

fn number(f: &SfField, n: f64) -> Result<Value, String> {
    if !n.is_finite() {
        return Err(format!("{n} is not a finite number"));
    }
    if f.is_integer() {
        if n.fract() != 0.0 {
            return Err(format!(
                "{n} is not a whole number, as an {} field needs",
                f.sf_type
            ));
        }
        return Ok(json!(n as i64));
    }
    Ok(json!(n))
}

fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn describe(v: &FieldValue) -> &'static str {
    match v {
        FieldValue::Null => "null",
        FieldValue::Text(_) => "text",
        FieldValue::Number(_) => "a number",
        FieldValue::Boolean(_) => "a boolean",
        FieldValue::Date(_) => "a date",
        FieldValue::Datetime(_) => "a date-time",
        FieldValue::Select(_) => "a select value",
        FieldValue::MultiSelect(_) => "a multi-select value",
        FieldValue::Reference(_) => "a reference",
        FieldValue::Json(_) => "JSON",
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
pub(crate) mod tests;
