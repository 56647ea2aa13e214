//! Values and records as the sync core sees them: the platform-neutral shape
//! that delta detection, mapping and conflict resolution work on. The core
//! never sees wasmtime types; `sync` converts at the boundary.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A typed field value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Value {
    Null,
    Text(String),
    Number(f64),
    Bool(bool),
    /// `YYYY-MM-DD`
    Date(String),
    /// RFC 3339
    Datetime(String),
    Select(String),
    MultiSelect(Vec<String>),
    /// ids on the same platform
    Reference(Vec<String>),
    Json(serde_json::Value),
}

/// Field name to value, ordered so that hashes and output are stable.
pub type Fields = BTreeMap<String, Value>;

/// One record of one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// the platform's own modification time, RFC 3339
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    pub fields: Fields,
}

impl Value {
    /// The value in its normal form, so that equal meanings compare and hash
    /// equal: trimmed text, sorted and de-duplicated sets, integral numbers
    /// without a fraction, datetimes in UTC with seconds precision, and an
    /// empty text, set or list as null.
    pub fn normalized(&self) -> Value {
        match self {
            Value::Text(s) | Value::Select(s) if s.trim().is_empty() => Value::Null,
            Value::Text(s) => Value::Text(s.trim().to_string()),
            Value::Select(s) => Value::Select(s.trim().to_string()),
            Value::Number(n) if n.is_finite() && *n == 0.0 => Value::Number(0.0),
            Value::MultiSelect(v) | Value::Reference(v) if v.is_empty() => Value::Null,
            Value::MultiSelect(v) => Value::MultiSelect(sorted_set(v)),
            Value::Reference(v) => Value::Reference(sorted_set(v)),
            Value::Datetime(s) => match chrono::DateTime::parse_from_rfc3339(s) {
                Ok(t) => Value::Datetime(
                    t.with_timezone(&chrono::Utc)
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string(),
                ),
                Err(_) => Value::Datetime(s.clone()),
            },
            Value::Json(serde_json::Value::Null) => Value::Null,
            other => other.clone(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.normalized(), Value::Null)
    }
}

fn sorted_set(v: &[String]) -> Vec<String> {
    let mut v: Vec<String> = v
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Normalizes every value and drops nulls: an absent field and a null one
/// mean the same (Airtable omits empty fields, Notion sends them as null).
pub fn normalize(fields: &Fields) -> Fields {
    fields
        .iter()
        .map(|(k, v)| (k.clone(), v.normalized()))
        .filter(|(_, v)| *v != Value::Null)
        .collect()
}

/// A content hash of normalized fields: equal hashes, equal content.
pub fn content_hash(fields: &Fields) -> String {
    let normal = normalize(fields);
    let bytes = serde_json::to_vec(&normal).expect("values serialize");
    hex::encode(&Sha256::digest(&bytes)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, Value)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn hashes_see_through_representation_differences() {
        let a = fields(&[
            (
                "tags",
                Value::MultiSelect(vec!["b".into(), "a".into(), "a".into()]),
            ),
            ("name", Value::Text(" Ada ".into())),
            (
                "due",
                Value::Datetime("2024-05-01T12:00:00.000+02:00".into()),
            ),
            ("empty", Value::Text(String::new())),
        ]);
        let b = fields(&[
            ("name", Value::Text("Ada".into())),
            ("tags", Value::MultiSelect(vec!["a".into(), "b".into()])),
            ("due", Value::Datetime("2024-05-01T10:00:00Z".into())),
        ]);
        assert_eq!(content_hash(&a), content_hash(&b));
        let c = fields(&[("name", Value::Text("Bob".into()))]);
        assert_ne!(content_hash(&a), content_hash(&c));
    }
}
