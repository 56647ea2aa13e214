//! The two ways mapping fails: a job whose mapping does not fit the two
//! schemas (`MappingError`, nothing is read or written), and one value that
//! cannot be converted (`ConversionError`, that record is skipped).

use super::{FieldKind, Side};

/// A mapping that does not fit the schemas of the two sides.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    #[error(
        "mapping: field `{field}` does not exist on the {side} side; its fields are: {}",
        list(available)
    )]
    UnknownField {
        side: Side,
        field: String,
        available: Vec<String>,
    },
    #[error(
        "mapping: excluded field `{field}` exists on neither side; source fields: {}; target fields: {}",
        list(source_fields),
        list(target_fields)
    )]
    UnknownExclude {
        field: String,
        source_fields: Vec<String>,
        target_fields: Vec<String>,
    },
    #[error("mapping: field `{field}` is both listed in `fields` and excluded")]
    ListedAndExcluded { field: String },
    #[error("mapping: the {side} field `{field}` is mapped more than once; map each field once")]
    Duplicate { side: Side, field: String },
    #[error(
        "mapping: field `{field}` is read-only on the {side} side, but its direction `{direction}` writes to it; \
         expected a direction that only reads from the {side} side"
    )]
    ReadOnly {
        side: Side,
        field: String,
        direction: super::Direction,
    },
    #[error(
        "mapping: source field `{source_field}` and target field `{target_field}` are both read-only; \
         nothing could be written, expected at least one writable side"
    )]
    BothReadOnly {
        source_field: String,
        target_field: String,
    },
    #[error(
        "mapping: source field `{source_field}` ({source_kind}) and target field `{target_field}` ({target_kind}) \
         cannot be converted into each other; map it to a field of a compatible kind, or exclude it"
    )]
    Incompatible {
        source_field: String,
        source_kind: FieldKind,
        target_field: String,
        target_kind: FieldKind,
    },
    #[error("mapping: field `{field}` has timezone `{value}`; expected a fixed UTC offset such as `+02:00`, `-0530` or `Z`")]
    BadTimezone { field: String, value: String },
    #[error("mapping: field `{field}` has an empty separator; expected text such as `, `")]
    EmptySeparator { field: String },
    #[error("mapping: field `{field}` has `values`, which apply only to texts, selects, numbers and booleans, not to {kind}")]
    ValuesNotApplicable { field: String, kind: FieldKind },
    #[error(
        "mapping: field `{field}` maps {} to the same value `{value}`, so reading it back is ambiguous; \
         expected one source value per target value (or direction `to_target`)",
        list(sources)
    )]
    AmbiguousValues {
        field: String,
        value: String,
        sources: Vec<String>,
    },
    #[error("mapping: field `{field}` has default `{value}` that cannot be written to the {side} side: expected {expected}")]
    BadDefault {
        field: String,
        side: Side,
        value: String,
        expected: String,
    },
}

/// One value that cannot be converted into the kind of the side written.
/// `field` is the field the value was read from: the source (canonical) name
/// when writing to the target, the target's name when reading from it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: cannot convert `{value}`: expected {expected}")]
pub struct ConversionError {
    pub field: String,
    /// the value as displayed to a person, shortened when long
    pub value: String,
    pub expected: String,
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
