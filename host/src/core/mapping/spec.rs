//! The mapping as a job writes it: plain serde types with a published JSON
//! Schema. Nothing here is checked against the platforms' schemas; that is
//! `Mapper::new`'s job.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the fields of the source and the target correspond.
///
/// Every member is optional: `{}` maps each field that exists under the same
/// name on both sides to itself, both ways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MappingSpec {
    /// Fields mapped explicitly, with their conversions.
    pub fields: Vec<FieldSpec>,
    /// Field names (on either side) that are never synced.
    pub exclude: Vec<String>,
    /// Map every field present on both sides under the same name (and neither
    /// listed in `fields` nor excluded) to itself, both ways. Default true.
    pub same_names: bool,
}

impl Default for MappingSpec {
    fn default() -> Self {
        MappingSpec {
            fields: Vec::new(),
            exclude: Vec::new(),
            same_names: true,
        }
    }
}

/// One source field and the target field it corresponds to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field's name on the source side.
    pub source: String,
    /// The field's name on the target side; the source name when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Source values and the target values they become, such as
    /// `{"Done": "Complete"}`; read back in reverse. Applies to texts,
    /// selects, each option of a multi-select, numbers and booleans (by
    /// their text form); values not listed pass unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
    /// Which way changes flow. Default `both`.
    #[serde(default)]
    pub direction: Direction,
    /// Written when the value written to a side would be empty. Given as
    /// JSON in the kind of the side written (`"Open"`, `0`, `false`,
    /// `"2024-01-01"`), not translated by `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// Between the options of a multi-select (or the ids of a reference)
    /// when written as text. Default `", "`; reading splits on it without
    /// its spaces and trims each item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// Fixed UTC offset such as `"+02:00"`, `"-0530"` or `"Z"` in which a
    /// date written to a datetime field becomes midnight, a datetime written
    /// to a date field becomes that zone's date, and a datetime written as
    /// text is shown. Default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl FieldSpec {
    /// A field mapped both ways to `target` with no conversion options.
    pub fn new(source: impl Into<String>, target: impl Into<String>) -> Self {
        FieldSpec {
            source: source.into(),
            target: Some(target.into()),
            values: BTreeMap::new(),
            direction: Direction::Both,
            default: None,
            separator: None,
            timezone: None,
        }
    }
}

/// Which way a field's changes flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Changes on either side are written to the other.
    #[default]
    Both,
    /// Only source changes are written, to the target.
    ToTarget,
    /// Only target changes are written, to the source.
    ToSource,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Both => "both",
            Direction::ToTarget => "to_target",
            Direction::ToSource => "to_source",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_full_spec_and_defaults_the_rest() {
        let spec: MappingSpec = serde_json::from_value(json!({
            "fields": [{"source": "Status", "target": "State", "values": {"Done": "Complete"},
                        "direction": "to_target", "default": "Open", "separator": "; ",
                        "timezone": "+02:00"},
                       {"source": "Name"}],
            "exclude": ["Internal notes"]
        }))
        .unwrap();
        assert!(spec.same_names);
        assert_eq!(spec.fields[0].direction, Direction::ToTarget);
        assert_eq!(spec.fields[0].values["Done"], "Complete");
        assert_eq!(spec.fields[1].target, None);
        assert_eq!(spec.fields[1].direction, Direction::Both);
        assert_eq!(
            serde_json::from_value::<MappingSpec>(json!({})).unwrap(),
            MappingSpec::default()
        );
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = serde_json::from_value::<MappingSpec>(json!({"same_name": false})).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `same_name`"),
            "{err}"
        );
        let err = serde_json::from_value::<MappingSpec>(
            json!({"fields": [{"source": "A", "dir": "both"}]}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `dir`"), "{err}");
        let err = serde_json::from_value::<MappingSpec>(
            json!({"fields": [{"source": "A", "direction": "up"}]}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown variant `up`"), "{err}");
    }

    #[test]
    fn publishes_a_json_schema() {
        let schema = serde_json::to_value(schemars::schema_for!(MappingSpec)).unwrap();
        let text = schema.to_string();
        for needle in [
            "same_names",
            "exclude",
            "to_target",
            "timezone",
            "additionalProperties",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
    }
}
