//! Property values: how written values are validated and normalised to the
//! strings HubSpot stores, and how times are read and written.
//!
//! Reference: "CRM API | Properties" (https://developers.hubspot.com/docs/api/crm/properties):
//! every value travels as a string; numbers as decimal text, booleans as
//! `true`/`false`, dates as midnight UTC, datetimes as ISO 8601 or
//! milliseconds, multiple checkboxes as values joined with `;`.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde_json::{json, Value};

use super::model::{ApiError, PropType, PropertyDef};

/// A timestamp as HubSpot writes it: `2019-10-30T03:30:17.883Z`.
pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A time given as milliseconds since the epoch or as ISO 8601 (Search:
/// "date and datetime values ... as a UNIX timestamp in milliseconds, or in
/// ISO 8601"). A bare date is midnight UTC.
pub(crate) fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    if let Some(ms) = v.as_i64() {
        return Utc.timestamp_millis_opt(ms).single();
    }
    let s = v.as_str()?.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return Utc.timestamp_millis_opt(s.parse().ok()?).single();
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

/// One invalid value: the elements of "Property values were not valid: [...]".
#[derive(Debug, Clone)]
pub(crate) struct PropError {
    pub name: String,
    pub code: &'static str,
    pub message: String,
}

impl PropError {
    fn new(name: &str, code: &'static str, message: String) -> Self {
        PropError {
            name: name.into(),
            code,
            message,
        }
    }
    pub fn to_json(&self) -> Value {
        json!({
            "isValid": false,
            "message": self.message,
            "error": self.code,
            "name": self.name,
            "localizedErrorMessage": self.message,
        })
    }
}

/// The 400 VALIDATION_ERROR for invalid values. HubSpot puts the list of
/// invalid values, as JSON, into the message: `Property values were not valid:
/// [{"isValid":false,"message":"Property \"x\" does not exist","error":
/// "PROPERTY_DOESNT_EXIST","name":"x",...}]`.
pub(crate) fn invalid_values(errors: &[PropError]) -> ApiError {
    let list = Value::Array(errors.iter().map(PropError::to_json).collect());
    ApiError::validation(format!("Property values were not valid: {list}"))
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Validates one written value and normalises it to the string HubSpot
/// stores; `None` clears the property. "To clear a property value, pass an
/// empty string" (Contacts: "Update contacts"); `null` clears too.
pub(crate) fn write_value(def: &PropertyDef, v: &Value) -> Result<Option<String>, PropError> {
    let name = def.name.as_str();
    if def.read_only {
        return Err(PropError::new(
            name,
            "READ_ONLY_VALUE",
            format!("\"{name}\" is a read only property; its value cannot be set."),
        ));
    }
    let raw = match v {
        Value::Null => return Ok(None),
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => display(v),
        _ => {
            return Err(PropError::new(
                name,
                "INVALID_PROPERTY_VALUE",
                format!(
                    "{v} is not a valid value for {name}: values are strings, numbers or booleans"
                ),
            ))
        }
    };
    match def.kind {
        PropType::String | PropType::PhoneNumber => {
            // String properties hold up to 65,536 characters (Properties: "string").
            if raw.chars().count() > 65_536 {
                return Err(PropError::new(
                    name,
                    "INVALID_STRING",
                    format!("{name} is longer than 65536 characters"),
                ));
            }
            if name == "email" && !valid_email(&raw) {
                return Err(PropError::new(
                    name,
                    "INVALID_EMAIL",
                    format!("Email address {raw} is invalid"),
                ));
            }
            Ok(Some(raw))
        }
        PropType::Number => match raw.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Some(number_string(n))),
            _ => Err(PropError::new(
                name,
                "INVALID_DOUBLE",
                format!("{raw} is not a valid number"),
            )),
        },
        PropType::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(Some(raw.to_ascii_lowercase())),
            _ => Err(PropError::new(
                name,
                "INVALID_BOOLEAN",
                format!("{raw} is not a valid boolean; use true or false"),
            )),
        },
        // "date: ... must be set to midnight UTC" (Properties: "Values for date
        // and datetime properties").
        PropType::Date => match parse_time(v) {
            Some(t) if t.timestamp_millis() % 86_400_000 == 0 => {
                Ok(Some(t.format("%Y-%m-%d").to_string()))
            }
            Some(t) => Err(PropError::new(
                name,
                "INVALID_DATE",
                format!(
                    "{raw} is at {} UTC: date properties take midnight UTC",
                    t.format("%H:%M:%S%.3f")
                ),
            )),
            None => Err(PropError::new(
                name,
                "INVALID_DATE",
                format!("{raw} is not a valid date (YYYY-MM-DD or milliseconds since the epoch)"),
            )),
        },
        PropType::Datetime => match parse_time(v) {
            Some(t) => Ok(Some(iso(t))),
            None => Err(PropError::new(
                name,
                "INVALID_DATETIME",
                format!("{raw} is not a valid datetime (ISO 8601 or milliseconds since the epoch)"),
            )),
        },
        // Multiple checkboxes hold several values separated by `;`
        // (Properties: "enumeration ... checkbox").
        PropType::Enumeration => {
            let values: Vec<&str> = if def.field_type == "checkbox" {
                raw.split(';').filter(|s| !s.is_empty()).collect()
            } else {
                vec![raw.as_str()]
            };
            for value in &values {
                if !def.options.iter().any(|o| o == value) {
                    let allowed = def.options.join(", ");
                    return Err(PropError::new(
                        name,
                        "INVALID_OPTION",
                        format!("{value} was not one of the allowed options: [{allowed}]"),
                    ));
                }
            }
            Ok(Some(values.join(";")))
        }
    }
}

/// A number the way HubSpot returns it: `17`, `1500.5`.
pub(crate) fn number_string(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: PropType, field: &str, options: &[&str]) -> PropertyDef {
        let mut d = PropertyDef::new("p", kind, field, Utc::now());
        d.options = options.iter().map(|s| s.to_string()).collect();
        d
    }

    #[test]
    fn values_are_normalised_to_strings() {
        let n = def(PropType::Number, "number", &[]);
        assert_eq!(write_value(&n, &json!(17)).unwrap().as_deref(), Some("17"));
        assert_eq!(
            write_value(&n, &json!("1500.5")).unwrap().as_deref(),
            Some("1500.5")
        );
        assert!(write_value(&n, &json!("abc")).is_err());
        assert_eq!(write_value(&n, &json!("")).unwrap(), None);
        let d = def(PropType::Date, "date", &[]);
        assert_eq!(
            write_value(&d, &json!("2024-05-01")).unwrap().as_deref(),
            Some("2024-05-01")
        );
        assert_eq!(
            write_value(&d, &json!(1572480000000i64))
                .unwrap()
                .as_deref(),
            Some("2019-10-31")
        );
        assert_eq!(
            write_value(&d, &json!("2024-05-01T10:00:00Z"))
                .unwrap_err()
                .code,
            "INVALID_DATE"
        );
        let m = def(PropType::Enumeration, "checkbox", &["a", "b"]);
        assert_eq!(
            write_value(&m, &json!("a;b")).unwrap().as_deref(),
            Some("a;b")
        );
        assert_eq!(
            write_value(&m, &json!("a;c")).unwrap_err().code,
            "INVALID_OPTION"
        );
        let b = def(PropType::Bool, "booleancheckbox", &[]);
        assert_eq!(
            write_value(&b, &json!(true)).unwrap().as_deref(),
            Some("true")
        );
        let mut ro = def(PropType::String, "text", &[]);
        ro.read_only = true;
        assert_eq!(
            write_value(&ro, &json!("x")).unwrap_err().code,
            "READ_ONLY_VALUE"
        );
    }
}
