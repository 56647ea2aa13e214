//! Fields, types, keys and values of the Directus simulator: how a value
//! is cast on write and rendered on read.
//!
//! Types (https://docs.directus.io/user-guide/overview/glossary.html#types):
//! `string`, `text`, `uuid`, `hash`, `csv`, `integer`, `bigInteger`, `float`,
//! `decimal`, `boolean`, `date`, `dateTime`, `time`, `timestamp`, `json`, and
//! `alias` (no column). Values come back as Directus 11 on SQLite (the
//! instance tests/directus/setup.sh runs) returns them: numbers as JSON
//! numbers, `timestamp` as UTC ISO 8601 with milliseconds
//! (`2024-05-01T10:00:00.000Z`), `dateTime` without offset
//! (`2024-05-01T10:00:00`), `date` as `2024-05-01`, `time` as `10:00:00`,
//! `csv` as an array of strings (the `cast-csv` special), `json` parsed
//! (`cast-json`), `boolean` as true/false (`cast-boolean`).

use super::error::ApiError;
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Text,
    Uuid,
    Hash,
    Csv,
    Integer,
    BigInteger,
    Float,
    Decimal,
    Boolean,
    Date,
    DateTime,
    Time,
    Timestamp,
    Json,
    Alias,
    /// geometry, binary, unknown: stored and returned as sent
    Other,
}

impl Kind {
    pub fn parse(t: &str) -> Kind {
        match t {
            "string" => Kind::String,
            "text" => Kind::Text,
            "uuid" => Kind::Uuid,
            "hash" => Kind::Hash,
            "csv" => Kind::Csv,
            "integer" => Kind::Integer,
            "bigInteger" => Kind::BigInteger,
            "float" => Kind::Float,
            "decimal" => Kind::Decimal,
            "boolean" => Kind::Boolean,
            "date" => Kind::Date,
            "dateTime" => Kind::DateTime,
            "time" => Kind::Time,
            "timestamp" => Kind::Timestamp,
            "json" => Kind::Json,
            "alias" => Kind::Alias,
            _ => Kind::Other,
        }
    }

    pub fn integral(self) -> bool {
        matches!(self, Kind::Integer | Kind::BigInteger)
    }

    pub fn numeric(self) -> bool {
        matches!(
            self,
            Kind::Integer | Kind::BigInteger | Kind::Float | Kind::Decimal
        )
    }

    /// `schema.data_type` as the SQLite instance reports it.
    fn data_type(self) -> &'static str {
        match self {
            Kind::String | Kind::Hash | Kind::Uuid => "varchar",
            Kind::Text | Kind::Csv | Kind::Json => "text",
            Kind::Integer => "integer",
            Kind::BigInteger => "bigint",
            Kind::Float => "float",
            Kind::Decimal => "numeric",
            Kind::Boolean => "boolean",
            Kind::Date => "date",
            Kind::DateTime => "datetime",
            Kind::Time => "time",
            Kind::Timestamp => "timestamp",
            Kind::Alias | Kind::Other => "text",
        }
    }
}

/// One field of a collection, as `POST /fields/{collection}` creates it and
/// `GET /fields/{collection}` lists it (https://docs.directus.io/reference/system/fields.html).
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub name: String,
    pub type_name: String,
    pub kind: Kind,
    /// the `meta` object as given (`null` when none was)
    pub meta: Value,
    pub special: Vec<String>,
    pub pk: bool,
    pub auto_increment: bool,
    pub nullable: bool,
    pub unique: bool,
    pub default: Value,
    /// `schema.foreign_key_table`
    pub foreign_table: Value,
}

impl Field {
    /// A field from its definition `{field, type, schema, meta}`.
    pub fn from_spec(spec: &Value) -> Result<Field, ApiError> {
        let name = spec["field"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::invalid_payload("\"field\" is required"))?;
        let type_name = spec["type"].as_str().unwrap_or("alias").to_string();
        let kind = Kind::parse(&type_name);
        let schema = &spec["schema"];
        let meta = spec["meta"].clone();
        let special = match &meta["special"] {
            Value::Array(s) => s
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            Value::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
            _ => Vec::new(),
        };
        let flag = |k: &str| schema[k].as_bool();
        let pk = flag("is_primary_key") == Some(true);
        Ok(Field {
            name: name.to_string(),
            type_name,
            kind: if schema.is_null() { Kind::Alias } else { kind },
            meta,
            special,
            pk,
            auto_increment: flag("has_auto_increment") == Some(true),
            nullable: !pk && flag("is_nullable") != Some(false),
            unique: pk || flag("is_unique") == Some(true),
            default: schema["default_value"].clone(),
            foreign_table: schema["foreign_key_table"].clone(),
        })
    }

    pub fn has_special(&self, s: &str) -> bool {
        self.special.iter().any(|x| x == s)
    }

    /// Filled by Directus on create or update: never required of a client.
    pub fn server_filled(&self) -> bool {
        (self.pk && (self.auto_increment || self.kind == Kind::Uuid))
            || [
                "uuid",
                "date-created",
                "date-updated",
                "user-created",
                "user-updated",
            ]
            .iter()
            .any(|s| self.has_special(s))
    }

    /// The field object of `GET /fields/{collection}`.
    pub fn to_json(&self, collection: &str, sort: usize) -> Value {
        let schema = (self.kind != Kind::Alias).then(|| {
            json!({
                "name": self.name, "table": collection, "data_type": self.kind.data_type(),
                "default_value": self.default,
                "max_length": if matches!(self.kind, Kind::String | Kind::Hash) { json!(255) } else { Value::Null },
                "numeric_precision": Value::Null, "numeric_scale": Value::Null,
                "is_nullable": self.nullable, "is_unique": self.unique, "is_indexed": self.unique,
                "is_primary_key": self.pk, "is_generated": false, "generation_expression": Value::Null,
                "has_auto_increment": self.auto_increment,
                "foreign_key_table": self.foreign_table,
                "foreign_key_column": if self.foreign_table.is_null() { Value::Null } else { json!("id") },
                "comment": Value::Null,
            })
        });
        let meta = match &self.meta {
            Value::Object(given) => {
                let mut m: Map<String, Value> = json!({
                    "id": sort, "collection": collection, "field": self.name,
                    "special": if self.special.is_empty() { Value::Null } else { json!(self.special) },
                    "interface": Value::Null, "options": Value::Null, "display": Value::Null,
                    "display_options": Value::Null, "readonly": false, "hidden": false,
                    "sort": sort, "width": "full", "translations": Value::Null, "note": Value::Null,
                    "conditions": Value::Null, "required": false, "group": Value::Null,
                    "validation": Value::Null, "validation_message": Value::Null,
                })
                .as_object()
                .cloned()
                .unwrap_or_default();
                for (k, v) in given {
                    if k != "special" {
                        m.insert(k.clone(), v.clone());
                    }
                }
                Value::Object(m)
            }
            _ => Value::Null,
        };
        json!({"collection": collection, "field": self.name, "type": self.type_name,
               "schema": schema, "meta": meta})
    }
}

/// A primary key: integer keys sort as numbers, the others as text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Key {
    Int(i64),
    Str(String),
}

impl Key {
    pub fn json(&self) -> Value {
        match self {
            Key::Int(n) => json!(n),
            Key::Str(s) => json!(s),
        }
    }

    /// The key as text: the activity log's `item` ("always a string, even
    /// for integer primary keys").
    pub fn text(&self) -> String {
        match self {
            Key::Int(n) => n.to_string(),
            Key::Str(s) => s.clone(),
        }
    }

    /// A key from a URL segment or filter value, for a key field of `kind`.
    pub fn parse(kind: Kind, s: &str) -> Option<Key> {
        if kind.integral() {
            return s.trim().parse().ok().map(Key::Int);
        }
        if kind == Kind::Uuid && !is_uuid(s) {
            return None;
        }
        Some(Key::Str(s.to_string()))
    }

    pub fn from_json(kind: Kind, v: &Value) -> Option<Key> {
        match v {
            Value::Number(n) if kind.integral() => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map(Key::Int),
            Value::Number(n) => Some(Key::Str(n.to_string())),
            Value::String(s) => Key::parse(kind, s),
            _ => None,
        }
    }
}

pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A fresh UUIDv4, as the `uuid` special generates one.
pub(crate) fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `timestamp` values: UTC, milliseconds, `Z`.
pub(crate) fn fmt_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) use crate::parse::parse_datetime;

/// Milliseconds since the epoch of a stored `timestamp` value.
pub(crate) fn ts_millis(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(parse_datetime)
        .map(|t| t.timestamp_millis())
}

/// The value a `date-created`/`date-updated` special writes into a field of `kind`.
pub(crate) fn now_value(kind: Kind, now: DateTime<Utc>) -> Value {
    match kind {
        Kind::DateTime => json!(now.format("%Y-%m-%dT%H:%M:%S").to_string()),
        Kind::Date => json!(now.format("%Y-%m-%d").to_string()),
        Kind::Integer | Kind::BigInteger => json!(now.timestamp_millis()),
        _ => json!(fmt_ts(now)),
    }
}

/// A whole float as JavaScript prints it (`3`, not `3.0`).
fn number(f: f64) -> Option<Value> {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(json!(f as i64))
    } else {
        serde_json::Number::from_f64(f).map(Value::Number)
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `v` as field `kind` stores it, or what it must be instead. The database
/// casts what it can (`"5"` into an integer column is 5); what it cannot is
/// refused, as Postgres or MySQL refuse it.
pub(crate) fn cast(kind: Kind, v: &Value) -> Result<Value, &'static str> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let s = v.as_str().map(str::trim);
    match kind {
        Kind::String | Kind::Text | Kind::Hash => text_of(v).map(Value::String).ok_or("a string"),
        Kind::Uuid => s.filter(|s| is_uuid(s)).map(|s| json!(s)).ok_or("a UUID"),
        Kind::Integer | Kind::BigInteger => match v {
            Value::Number(n) => n.as_i64().map(Value::from).or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                    .map(|f| json!(f as i64))
            }),
            Value::String(_) => s.and_then(|s| s.parse::<i64>().ok()).map(Value::from),
            _ => None,
        }
        .ok_or("an integer"),
        Kind::Float | Kind::Decimal => match v {
            Value::Number(n) => n.as_f64().and_then(number),
            Value::String(_) => s
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|f| f.is_finite())
                .and_then(number),
            _ => None,
        }
        .ok_or("a number"),
        // The `cast-boolean` special: true, "true", 1, "1" / false, "false", 0, "0".
        Kind::Boolean => match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_f64() {
                Some(1.0) => Some(true),
                Some(0.0) => Some(false),
                _ => None,
            },
            Value::String(_) => match s {
                Some("true" | "1") => Some(true),
                Some("false" | "0") => Some(false),
                _ => None,
            },
            _ => None,
        }
        .map(Value::Bool)
        .ok_or("a boolean"),
        Kind::Timestamp => s
            .and_then(parse_datetime)
            .map(|t| json!(fmt_ts(t)))
            .ok_or("a date and time"),
        Kind::DateTime => s
            .and_then(parse_datetime)
            .map(|t| json!(t.format("%Y-%m-%dT%H:%M:%S").to_string()))
            .ok_or("a date and time"),
        Kind::Date => s
            .and_then(|s| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok())
            .map(|d| json!(d.format("%Y-%m-%d").to_string()))
            .ok_or("a date"),
        Kind::Time => s
            .and_then(|s| {
                NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
                    .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
                    .ok()
            })
            .map(|t| json!(t.format("%H:%M:%S").to_string()))
            .ok_or("a time"),
        // `cast-json`: a string that is JSON is stored parsed.
        Kind::Json => Ok(match v {
            Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
            other => other.clone(),
        }),
        // `cast-csv`: an array is stored joined with commas.
        Kind::Csv => match v {
            Value::Array(items) => items
                .iter()
                .map(|i| text_of(i).ok_or("a list of strings"))
                .collect::<Result<Vec<_>, _>>()
                .map(|parts| json!(parts.join(","))),
            Value::String(_) => Ok(v.clone()),
            _ => Err("a list of strings"),
        },
        Kind::Alias | Kind::Other => Ok(v.clone()),
    }
}

/// A stored value as the API returns it.
pub(crate) fn render(kind: Kind, v: &Value) -> Value {
    match (kind, v) {
        (Kind::Csv, Value::String(s)) if s.is_empty() => json!([]),
        (Kind::Csv, Value::String(s)) => json!(s.split(',').collect::<Vec<_>>()),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_as_the_database_and_specials_do() {
        assert_eq!(cast(Kind::Integer, &json!("12")), Ok(json!(12)));
        assert_eq!(cast(Kind::Integer, &json!(1.5)), Err("an integer"));
        assert_eq!(cast(Kind::Float, &json!(3.0)).unwrap().to_string(), "3");
        assert_eq!(cast(Kind::Float, &json!("x")), Err("a number"));
        assert_eq!(cast(Kind::Boolean, &json!("1")), Ok(json!(true)));
        assert_eq!(cast(Kind::String, &json!(7)), Ok(json!("7")));
        assert_eq!(cast(Kind::String, &json!({"a": 1})), Err("a string"));
        assert_eq!(
            cast(Kind::Timestamp, &json!("2024-05-01T12:00:00+02:00")),
            Ok(json!("2024-05-01T10:00:00.000Z"))
        );
        assert_eq!(
            cast(Kind::DateTime, &json!("2024-05-01 10:00")),
            Ok(json!("2024-05-01T10:00:00"))
        );
        assert_eq!(
            cast(Kind::Date, &json!("2024-05-01T23:00:00Z")),
            Ok(json!("2024-05-01"))
        );
        assert_eq!(cast(Kind::Csv, &json!(["a", "b"])), Ok(json!("a,b")));
        assert_eq!(render(Kind::Csv, &json!("a,b")), json!(["a", "b"]));
        assert_eq!(cast(Kind::Json, &json!("{\"k\":1}")), Ok(json!({"k": 1})));
        assert_eq!(cast(Kind::Uuid, &json!("nope")), Err("a UUID"));
        assert!(is_uuid(&new_uuid()));
    }

    #[test]
    fn keys_order_numerically_and_parse_by_type() {
        assert!(Key::Int(9) < Key::Int(10));
        assert_eq!(Key::parse(Kind::Integer, "12"), Some(Key::Int(12)));
        assert_eq!(Key::parse(Kind::Integer, "x"), None);
        assert_eq!(
            Key::from_json(Kind::Integer, &json!("7")),
            Some(Key::Int(7))
        );
        assert_eq!(Key::Int(7).text(), "7");
    }
}
