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

    /// The normal form, reusing the value when it is normal already (as
    /// most values of a mapped record are by then).
    pub fn into_normalized(self) -> Value {
        if self.is_normal() {
            self
        } else {
            self.normalized()
        }
    }

    /// Whether the normal form is null (see [`Value::normalized`]), without
    /// making it.
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Text(s) | Value::Select(s) => s.trim().is_empty(),
            Value::MultiSelect(v) | Value::Reference(v) => v.is_empty(),
            Value::Json(j) => j.is_null(),
            _ => false,
        }
    }

    /// Whether the value is in its normal form already, and not null, so
    /// that `normalized` would give it back as it is. Checked without
    /// allocating: shadows hold normal values, and hashing one need not copy
    /// it. May say `false` of a normal value; never `true` of another.
    pub fn is_normal(&self) -> bool {
        let trimmed = |s: &str| !s.is_empty() && s.trim().len() == s.len();
        match self {
            Value::Null => false,
            Value::Text(s) | Value::Select(s) => trimmed(s),
            Value::Number(n) => !(*n == 0.0 && n.is_sign_negative()),
            Value::Bool(_) | Value::Date(_) => true,
            Value::MultiSelect(v) | Value::Reference(v) => {
                !v.is_empty() && v.iter().all(|s| trimmed(s)) && v.windows(2).all(|w| w[0] < w[1])
            }
            // `YYYY-MM-DDTHH:MM:SSZ`: what `normalized` formats any valid
            // datetime as, and gives back unchanged.
            Value::Datetime(s) => {
                s.len() == 20
                    && s.ends_with('Z')
                    && s.as_bytes()[10] == b'T'
                    && chrono::DateTime::parse_from_rfc3339(s).is_ok()
            }
            Value::Json(j) => !j.is_null(),
        }
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
    let bytes = if fields.values().all(Value::is_normal) {
        serde_json::to_vec(fields)
    } else {
        serde_json::to_vec(&normalize(fields))
    }
    .expect("values serialize");
    hex::encode(&Sha256::digest(&bytes)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        let text =
            prop::sample::select(vec!["", " ", "a", " a", "b ", "a b", "b"]).prop_map(String::from);
        let datetime = prop::sample::select(vec![
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00.000+02:00",
            "2024-05-01T12:00:00.5Z",
            "2024-05-01 12:00:00Z",
            "2024-13-01T12:00:00Z",
            "nonsense",
        ])
        .prop_map(String::from);
        prop_oneof![
            Just(Value::Null),
            text.clone().prop_map(Value::Text),
            text.clone().prop_map(Value::Select),
            prop::sample::select(vec![0.0, -0.0, 1.5, -2.0, f64::INFINITY]).prop_map(Value::Number),
            any::<bool>().prop_map(Value::Bool),
            text.clone().prop_map(Value::Date),
            datetime.prop_map(Value::Datetime),
            prop::collection::vec(text.clone(), 0..4).prop_map(Value::MultiSelect),
            prop::collection::vec(text, 0..4).prop_map(Value::Reference),
            prop::sample::select(vec![serde_json::Value::Null, serde_json::json!({"a": 1})])
                .prop_map(Value::Json),
        ]
    }

    proptest! {
        /// The shortcuts agree with the normal form they skip making.
        #[test]
        fn null_normal_and_hash_shortcuts_agree_with_normalized(
            values in prop::collection::vec(value(), 0..5)
        ) {
            for v in &values {
                prop_assert_eq!(v.is_null(), v.normalized() == Value::Null, "{:?}", v);
                if v.is_normal() {
                    prop_assert_eq!(&v.normalized(), v);
                }
                prop_assert_eq!(v.clone().into_normalized(), v.normalized());
                // a normal value is recognised as such once normalized
                let n = v.normalized();
                if !matches!(n, Value::Null | Value::MultiSelect(_) | Value::Reference(_)) {
                    prop_assert!(n.is_normal() || matches!(n, Value::Datetime(_)), "{:?}", n);
                }
            }
            let fields: Fields = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("f{i}"), v))
                .collect();
            let slow = hex::encode(
                &Sha256::digest(serde_json::to_vec(&normalize(&fields)).unwrap())[..16],
            );
            prop_assert_eq!(content_hash(&fields), slow);
        }
    }

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
