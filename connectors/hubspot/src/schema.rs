//! The shape of a HubSpot object type: its properties, their kinds, the
//! synchost schema they make, and values in both directions. Pure functions.
//!
//! Reference: "CRM API | Properties" (https://developers.hubspot.com/docs/api/crm/properties):
//! `GET /crm/v3/properties/{objectType}` answers `{"results": [...]}`, each
//! with `name`, `type` (string, number, date, datetime, enumeration, bool,
//! phone_number, ...), `fieldType` (text, textarea, number, date, select,
//! radio, checkbox, booleancheckbox, ...), `options` and
//! `modificationMetadata.readOnlyValue`. Every value travels as a string:
//! numbers as decimal text, booleans `true`/`false`, dates `YYYY-MM-DD` at
//! midnight UTC, datetimes ISO 8601, several checkbox values joined with `;`;
//! an empty string clears a value.

use serde_json::{Map, Value};
use synchost_sdk::{ConnectorError, EntitySchema, Field, FieldSchema, FieldType, FieldValue};

use crate::time;

/// How the connector treats a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Boolean,
    Date,
    Datetime,
    Select,
    /// an enumeration with `fieldType: checkbox`: several values, `;`-joined
    MultiSelect,
}

impl Kind {
    /// The kind of a property `type` and `fieldType`.
    pub fn of(kind: &str, field_type: &str) -> Kind {
        match (kind, field_type) {
            ("number", _) => Kind::Number,
            ("bool", _) | ("enumeration", "booleancheckbox") => Kind::Boolean,
            ("date", _) => Kind::Date,
            ("datetime", _) => Kind::Datetime,
            ("enumeration", "checkbox") => Kind::MultiSelect,
            ("enumeration", _) => Kind::Select,
            _ => Kind::Text,
        }
    }

    pub fn field_type(self) -> FieldType {
        match self {
            Kind::Text => FieldType::Text,
            Kind::Number => FieldType::Number,
            Kind::Boolean => FieldType::Boolean,
            Kind::Date => FieldType::Date,
            Kind::Datetime => FieldType::Datetime,
            Kind::Select => FieldType::Select,
            Kind::MultiSelect => FieldType::MultiSelect,
        }
    }
}

/// One property of an object type.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub name: String,
    pub kind: Kind,
    pub read_only: bool,
    /// no two records hold the same value (`hasUniqueValue`, or a contact's
    /// email): what tells created records apart
    pub unique: bool,
    /// option values of an enumeration
    pub options: Vec<String>,
}

impl Property {
    pub fn field_schema(&self) -> FieldSchema {
        let mut schema = FieldSchema::new(&self.name, self.kind.field_type());
        schema.read_only = self.read_only;
        if matches!(self.kind, Kind::Select | Kind::MultiSelect) {
            schema.options = self.options.clone();
        }
        schema
    }
}

/// The properties of an object type, in name order, as read by this run.
#[derive(Debug, Clone)]
pub struct ObjectSchema {
    pub entity: String,
    pub properties: Vec<Property>,
}

impl ObjectSchema {
    /// Parses `GET /crm/v3/properties/{objectType}`; `only` narrows it to the
    /// names of setting `properties.<entity>`, each of which must exist.
    pub fn parse(
        entity: &str,
        body: &Value,
        only: Option<&[String]>,
    ) -> Result<ObjectSchema, ConnectorError> {
        let results = body["results"].as_array().ok_or_else(|| {
            ConnectorError::Fatal(format!(
                "the properties of entity `{entity}` came without a `results` array"
            ))
        })?;
        let mut properties: Vec<Property> = results
            .iter()
            .filter(|p| p["archived"].as_bool() != Some(true))
            .filter_map(|p| {
                let name = p["name"].as_str()?;
                let kind = Kind::of(
                    p["type"].as_str().unwrap_or("string"),
                    p["fieldType"].as_str().unwrap_or("text"),
                );
                let known = matches!(
                    p["type"].as_str(),
                    Some(
                        "string"
                            | "number"
                            | "date"
                            | "datetime"
                            | "enumeration"
                            | "bool"
                            | "phone_number"
                    )
                );
                Some(Property {
                    name: name.to_string(),
                    kind,
                    // Types this connector does not know (object_coordinates,
                    // json) are read as text and never written.
                    read_only: !known
                        || p["modificationMetadata"]["readOnlyValue"].as_bool() == Some(true)
                        || p["calculated"].as_bool() == Some(true),
                    unique: p["hasUniqueValue"].as_bool() == Some(true),
                    options: p["options"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|o| o["value"].as_str().map(String::from))
                        .collect(),
                })
            })
            .collect();
        properties.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(only) = only {
            let unknown: Vec<&str> = only
                .iter()
                .filter(|n| !properties.iter().any(|p| &p.name == *n))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(ConnectorError::InvalidInput(format!(
                    "setting `properties.{entity}` names properties that do not exist: {}",
                    unknown.join(", ")
                )));
            }
            properties.retain(|p| only.contains(&p.name));
        }
        Ok(ObjectSchema {
            entity: entity.to_string(),
            properties,
        })
    }

    pub fn entity_schema(&self) -> EntitySchema {
        let mut schema = EntitySchema::new(&self.entity);
        schema.fields = self.properties.iter().map(Property::field_schema).collect();
        schema
    }

    /// Marks a property whose values HubSpot keeps unique without saying so.
    pub fn mark_unique(&mut self, name: &str) {
        for p in self.properties.iter_mut().filter(|p| p.name == name) {
            p.unique = true;
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.properties.iter().map(|p| p.name.clone()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// The fields of a record object: one per property of this schema, in
    /// name order, whatever else the API returned.
    pub fn fields(&self, properties: &Value) -> Vec<Field> {
        self.properties
            .iter()
            .map(|p| Field {
                name: p.name.clone(),
                value: read_value(p.kind, &properties[&p.name]),
            })
            .collect()
    }

    /// The `properties` object of a create or update. A field that is not a
    /// property, a read-only property or a value of the wrong type fails the
    /// op with `invalid-input` naming the field, before any request.
    pub fn build(&self, fields: &[Field]) -> Result<Map<String, Value>, ConnectorError> {
        let mut out = Map::new();
        for field in fields {
            let prop = self.get(&field.name).ok_or_else(|| {
                ConnectorError::InvalidInput(format!(
                    "`{}` is not a property of {} (or not among its `properties.{}` setting)",
                    field.name, self.entity, self.entity
                ))
            })?;
            if prop.read_only {
                return Err(ConnectorError::InvalidInput(format!(
                    "property `{}` of {} is read-only",
                    field.name, self.entity
                )));
            }
            let value = write_value(prop, &field.value).map_err(|why| {
                ConnectorError::InvalidInput(format!("property `{}`: {why}", field.name))
            })?;
            out.insert(field.name.clone(), Value::String(value));
        }
        Ok(out)
    }
}

/// A property value as read: HubSpot's string in the field type of `kind`.
/// Null or empty is `null`; a value that does not parse as its kind is kept
/// as text rather than lost.
pub fn read_value(kind: Kind, v: &Value) -> FieldValue {
    let s = match v {
        Value::Null => return FieldValue::Null,
        Value::String(s) if s.is_empty() => return FieldValue::Null,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match kind {
        Kind::Text => FieldValue::Text(s),
        Kind::Number => s
            .trim()
            .parse::<f64>()
            .map_or(FieldValue::Text(s), FieldValue::Number),
        Kind::Boolean => match s.to_ascii_lowercase().as_str() {
            "true" => FieldValue::Boolean(true),
            "false" => FieldValue::Boolean(false),
            _ => FieldValue::Text(s),
        },
        // Dates read as `YYYY-MM-DD`; older payloads give midnight in milliseconds.
        Kind::Date => match time::to_millis(&s) {
            Some(ms) => FieldValue::Date(time::date_of_millis(ms)),
            None => FieldValue::Text(s),
        },
        Kind::Datetime => {
            if s.bytes().all(|b| b.is_ascii_digit()) {
                match time::to_millis(&s) {
                    Some(ms) => FieldValue::Datetime(time::from_millis(ms)),
                    None => FieldValue::Text(s),
                }
            } else {
                FieldValue::Datetime(s)
            }
        }
        Kind::Select => FieldValue::Select(s),
        Kind::MultiSelect => FieldValue::MultiSelect(
            s.split(';')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect(),
        ),
    }
}

/// A number as HubSpot writes it: `17`, `1500.5`.
pub fn number_string(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

fn check_option(prop: &Property, value: &str) -> Result<(), String> {
    if prop.options.is_empty() || prop.options.iter().any(|o| o == value) {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not one of the options ({})",
            prop.options.join(", ")
        ))
    }
}

/// The string to send for `value`; `""` clears the property.
pub fn write_value(prop: &Property, value: &FieldValue) -> Result<String, String> {
    let wrong = |what: &str| {
        Err(format!(
            "a {what} value cannot be written to a {:?} property",
            prop.kind
        ))
    };
    match (prop.kind, value) {
        (_, FieldValue::Null) => Ok(String::new()),
        (Kind::Text, FieldValue::Text(s) | FieldValue::Select(s) | FieldValue::Json(s))
        | (Kind::Text, FieldValue::Date(s) | FieldValue::Datetime(s)) => Ok(s.clone()),
        (Kind::Text, FieldValue::Number(n)) | (Kind::Number, FieldValue::Number(n)) => {
            if n.is_finite() {
                Ok(number_string(*n))
            } else {
                Err(format!("{n} is not a finite number"))
            }
        }
        (Kind::Text, FieldValue::Boolean(b)) | (Kind::Boolean, FieldValue::Boolean(b)) => {
            Ok(b.to_string())
        }
        (Kind::Number, FieldValue::Text(s)) => match s.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(number_string(n)),
            _ => Err(format!("`{s}` is not a number")),
        },
        (Kind::Boolean, FieldValue::Text(s)) => match s.to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => Ok(b.to_string()),
            _ => Err(format!("`{s}` is not true or false")),
        },
        // A date property holds midnight UTC ("date ... must be set to
        // midnight UTC"): a datetime at another time is refused.
        (Kind::Date, FieldValue::Date(s) | FieldValue::Text(s) | FieldValue::Datetime(s)) => {
            match time::to_millis(s) {
                Some(ms) if ms.rem_euclid(86_400_000) == 0 => Ok(time::date_of_millis(ms)),
                Some(_) => Err(format!(
                    "`{s}` is not midnight UTC, which a date property needs"
                )),
                None => Err(format!("`{s}` is not a date (YYYY-MM-DD)")),
            }
        }
        (Kind::Datetime, FieldValue::Datetime(s) | FieldValue::Date(s) | FieldValue::Text(s)) => {
            match time::to_millis(s) {
                Some(ms) => Ok(time::from_millis(ms)),
                None => Err(format!("`{s}` is not an RFC 3339 datetime")),
            }
        }
        (Kind::Select, FieldValue::Select(s) | FieldValue::Text(s)) => {
            check_option(prop, s).map(|_| s.clone())
        }
        (Kind::Select, FieldValue::MultiSelect(v)) if v.len() == 1 => {
            check_option(prop, &v[0]).map(|_| v[0].clone())
        }
        (Kind::MultiSelect, FieldValue::MultiSelect(values)) => {
            for v in values {
                if v.contains(';') {
                    return Err(format!("option `{v}` contains `;`, the separator"));
                }
                check_option(prop, v)?;
            }
            Ok(values.join(";"))
        }
        (Kind::MultiSelect, FieldValue::Select(s) | FieldValue::Text(s)) => {
            for v in s.split(';').filter(|v| !v.is_empty()) {
                check_option(prop, v)?;
            }
            Ok(s.clone())
        }
        (_, FieldValue::Reference(_)) => {
            Err("references (associations) are not written by this connector".to_string())
        }
        (_, FieldValue::Json(_)) => wrong("json"),
        (_, FieldValue::Number(_)) => wrong("number"),
        (_, FieldValue::Boolean(_)) => wrong("boolean"),
        (_, FieldValue::MultiSelect(_)) => wrong("multi-select"),
        (_, FieldValue::Select(_)) => wrong("select"),
        (_, FieldValue::Date(_) | FieldValue::Datetime(_)) => wrong("date"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({"results": [
            {"name": "email", "type": "string", "fieldType": "text", "options": [], "modificationMetadata": {"readOnlyValue": false}},
            {"name": "lastmodifieddate", "type": "datetime", "fieldType": "date", "options": [], "modificationMetadata": {"readOnlyValue": true}},
            {"name": "lifecyclestage", "type": "enumeration", "fieldType": "radio", "options": [{"label": "Lead", "value": "lead"}, {"label": "Customer", "value": "customer"}], "modificationMetadata": {"readOnlyValue": false}},
            {"name": "hs_buying_role", "type": "enumeration", "fieldType": "checkbox", "options": [{"value": "CHAMPION"}, {"value": "END_USER"}], "modificationMetadata": {"readOnlyValue": false}},
            {"name": "score", "type": "number", "fieldType": "number", "calculated": true, "modificationMetadata": {"readOnlyValue": false}},
            {"name": "renewal", "type": "date", "fieldType": "date", "modificationMetadata": {"readOnlyValue": false}},
            {"name": "optin", "type": "enumeration", "fieldType": "booleancheckbox", "options": [{"value": "true"}, {"value": "false"}]},
            {"name": "geo", "type": "object_coordinates", "fieldType": "text"},
            {"name": "gone", "type": "string", "fieldType": "text", "archived": true}
        ]})
    }

    fn field(name: &str, value: FieldValue) -> Field {
        Field {
            name: name.into(),
            value,
        }
    }

    #[test]
    fn properties_become_fields_with_kinds_options_and_read_only() {
        let s = ObjectSchema::parse("people", &body(), None).unwrap();
        let names = s.names();
        assert_eq!(
            names,
            [
                "email",
                "geo",
                "hs_buying_role",
                "lastmodifieddate",
                "lifecyclestage",
                "optin",
                "renewal",
                "score"
            ]
        );
        let es = s.entity_schema();
        let f = |n: &str| es.fields.iter().find(|f| f.name == n).unwrap().clone();
        assert_eq!(f("lifecyclestage").kind, FieldType::Select);
        assert_eq!(f("lifecyclestage").options, ["lead", "customer"]);
        assert_eq!(f("hs_buying_role").kind, FieldType::MultiSelect);
        assert_eq!(f("optin").kind, FieldType::Boolean);
        assert!(f("optin").options.is_empty());
        assert_eq!(f("renewal").kind, FieldType::Date);
        assert!(f("lastmodifieddate").read_only && f("score").read_only && f("geo").read_only);
        assert!(!f("email").read_only);
        let only =
            ObjectSchema::parse("people", &body(), Some(&["email".into(), "renewal".into()]))
                .unwrap();
        assert_eq!(only.names(), ["email", "renewal"]);
        let bad = ObjectSchema::parse("people", &body(), Some(&["nope".into()])).unwrap_err();
        assert!(
            matches!(bad, ConnectorError::InvalidInput(m) if m.contains("properties.people") && m.contains("nope"))
        );
        assert!(ObjectSchema::parse("people", &json!({}), None).is_err());
    }

    #[test]
    fn values_read_in_their_kinds() {
        assert_eq!(
            read_value(Kind::Number, &json!("1500.5")),
            FieldValue::Number(1500.5)
        );
        assert_eq!(read_value(Kind::Number, &json!("")), FieldValue::Null);
        assert_eq!(
            read_value(Kind::Number, &json!("n/a")),
            FieldValue::Text("n/a".into())
        );
        assert_eq!(
            read_value(Kind::Boolean, &json!("true")),
            FieldValue::Boolean(true)
        );
        assert_eq!(
            read_value(Kind::Date, &json!("2024-05-01")),
            FieldValue::Date("2024-05-01".into())
        );
        assert_eq!(
            read_value(Kind::Date, &json!("1572480000000")),
            FieldValue::Date("2019-10-31".into())
        );
        assert_eq!(
            read_value(Kind::Datetime, &json!("2019-10-30T03:30:17.883Z")),
            FieldValue::Datetime("2019-10-30T03:30:17.883Z".into())
        );
        assert_eq!(
            read_value(Kind::Datetime, &json!("1572406217883")),
            FieldValue::Datetime("2019-10-30T03:30:17.883Z".into())
        );
        assert_eq!(
            read_value(Kind::MultiSelect, &json!("CHAMPION;END_USER")),
            FieldValue::MultiSelect(vec!["CHAMPION".into(), "END_USER".into()])
        );
        assert_eq!(read_value(Kind::Select, &Value::Null), FieldValue::Null);
        let s = ObjectSchema::parse("people", &body(), Some(&["email".into(), "renewal".into()]))
            .unwrap();
        let fields = s.fields(&json!({"email": "a@b.co", "hs_object_id": "1"}));
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].value, FieldValue::Text("a@b.co".into()));
        assert_eq!(fields[1].value, FieldValue::Null);
    }

    #[test]
    fn values_written_as_hubspot_strings() {
        let s = ObjectSchema::parse("people", &body(), None).unwrap();
        let props = s
            .build(&[
                field("email", FieldValue::Text("a@b.co".into())),
                field("lifecyclestage", FieldValue::Select("customer".into())),
                field(
                    "hs_buying_role",
                    FieldValue::MultiSelect(vec!["CHAMPION".into(), "END_USER".into()]),
                ),
                field(
                    "renewal",
                    FieldValue::Datetime("2025-01-31T00:00:00Z".into()),
                ),
                field("optin", FieldValue::Boolean(false)),
            ])
            .unwrap();
        assert_eq!(
            Value::Object(props),
            json!({"email": "a@b.co", "lifecyclestage": "customer", "hs_buying_role": "CHAMPION;END_USER", "renewal": "2025-01-31", "optin": "false"})
        );
        let cleared = s.build(&[field("email", FieldValue::Null)]).unwrap();
        assert_eq!(cleared["email"], "");
        let n = Property {
            name: "n".into(),
            kind: Kind::Number,
            read_only: false,
            unique: false,
            options: vec![],
        };
        assert_eq!(write_value(&n, &FieldValue::Number(13.0)).unwrap(), "13");
        assert_eq!(
            write_value(&n, &FieldValue::Text("2.5".into())).unwrap(),
            "2.5"
        );
        let d = Property {
            name: "d".into(),
            kind: Kind::Datetime,
            read_only: false,
            unique: false,
            options: vec![],
        };
        assert_eq!(
            write_value(
                &d,
                &FieldValue::Datetime("2024-05-01T14:00:00+02:00".into())
            )
            .unwrap(),
            "2024-05-01T12:00:00.000Z"
        );
    }

    #[test]
    fn bad_writes_name_the_field() {
        let s = ObjectSchema::parse("people", &body(), None).unwrap();
        let err = |f: Field| match s.build(&[f]) {
            Err(ConnectorError::InvalidInput(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(
            err(field("nope", FieldValue::Text("x".into()))).contains("`nope` is not a property")
        );
        assert!(err(field("lastmodifieddate", FieldValue::Text("x".into()))).contains("read-only"));
        assert!(err(field(
            "lifecyclestage",
            FieldValue::Select("royalty".into())
        ))
        .contains("not one of the options"));
        assert!(err(field(
            "renewal",
            FieldValue::Datetime("2025-01-31T10:00:00Z".into())
        ))
        .contains("midnight"));
        assert!(
            err(field("email", FieldValue::Reference(vec!["1".into()]))).contains("associations")
        );
        assert!(err(field("optin", FieldValue::Number(1.0))).contains("`optin`"));
    }
}
