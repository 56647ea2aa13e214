//! # Schema mapping
//!
//! A job syncs a *source* side and a *target* side whose fields differ in
//! name, kind and wording: Notion's select `Status` with `"Done"` may be
//! Airtable's text `State` with `"Complete"`. This module translates between
//! them. It owns the job's mapping (`MappingSpec`), its validation against the
//! two schemas (`Mapper::new`) and the conversion of values; it does no I/O,
//! and knows nothing of links, shadows or connectors — the link table comes in
//! as two closures.
//!
//! ## One canonical space
//!
//! The conflict resolver merges three versions of a record field by field: the
//! base (the shadow of the last synced state), the source now and the target
//! now. Comparing them only makes sense in *one* space, so the core works in
//! the **canonical space**: the source's field names, each value in the kind
//! of the source field, normalized ([`Value::normalized`]). The target's
//! `State: "Complete"` read through [`Mapper::canonical_from_target`] becomes
//! `Status: Select("Done")`, equal to what the source holds, so an unchanged
//! record compares equal and [`content_hash`](crate::core::value::content_hash)
//! is stable across sides and runs.
//!
//! ```text
//!   source fields --canonical_from_source--> canonical <--canonical_from_target-- target fields
//!                                            |       |
//!            source write <--to_source-------+       +-------to_target--> target write
//! ```
//!
//! ```rust
//! use synchost::core::mapping::{FieldInfo, FieldKind, Mapper, MappingSpec, Schema};
//! use synchost::core::value::{Fields, Value};
//!
//! let spec: MappingSpec = serde_json::from_str(
//!     r#"{"fields": [{"source": "Status", "target": "State", "values": {"Done": "Complete"}}]}"#,
//! ).unwrap();
//! let source: Schema = [("Status", FieldInfo::new(FieldKind::Select))].into_iter().collect();
//! let target: Schema = [("State", FieldInfo::new(FieldKind::Text))].into_iter().collect();
//! let mapper = Mapper::new(&spec, &source, &target).unwrap();
//!
//! let no_links = |_: &str| -> Option<String> { None };
//! let from_target: Fields = [("State".to_string(), Value::Text("Complete".into()))].into();
//! let canonical = mapper.canonical_from_target(&from_target, &no_links).unwrap().fields;
//! assert_eq!(canonical["Status"], Value::Select("Done".into()));
//! let write = mapper.to_target(&canonical, &no_links).unwrap().fields;
//! assert_eq!(write["State"], Value::Text("Complete".into()));
//! ```
//!
//! ## What the caller must know
//! - **Fields.** Listed fields, plus (with `same_names`, the default) every
//!   field present under the same name on both sides, minus `exclude`.
//! - **Direction and read-only fields.** Both canonical views hold *every*
//!   mapped field, whatever its direction, so drift is visible; whether a
//!   change may be written is [`Mapper::writes_to_target`] /
//!   [`Mapper::writes_to_source`], and `to_target` / `to_source` leave the
//!   other fields out. A field that is read-only on one side is silently
//!   narrowed to flow only towards the other (a read-only target field maps
//!   `to_source` only); an explicit direction that writes to a read-only
//!   field is a configuration error, and a field read-only on both sides is
//!   one too when listed (dropped silently when matched by name).
//! - **Writes are whole.** `to_target` and `to_source` return an entry for
//!   every field written to that side, `Value::Null` where the field must be
//!   cleared; filter by the changed fields for a partial update.
//! - **Defaults** apply only to writes, never to the canonical views: a source
//!   with no value, written to a target with a default, leaves the target
//!   holding the default and the canonical source empty. Store what each side
//!   holds after the write as its shadow.
//! - **References** (reference to reference) go through the link table: each
//!   id is translated with the resolver passed in; an id with no link yet is
//!   left out and reported as a [`MappingWarning`], not an error, since the
//!   linked record may be created later in the run. Such a write is not
//!   complete: map the record again once its links exist (do not record it as
//!   synced). A reference mapped to another kind is a list of ids, untranslated.
//! - **Errors.** `Mapper::new` refuses a mapping that cannot fit the schemas
//!   ([`MappingError`]); a value that cannot be converted is a
//!   [`ConversionError`] for that record, all of a record's errors at once.
//!
//! Conversions and which pairs are lossless are described in `convert.rs`.

mod convert;
mod error;
mod field;
mod spec;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

pub use error::{ConversionError, MappingError};
pub use field::FieldMapping;
pub use spec::{Direction, FieldSpec, MappingSpec};

use crate::core::value::{Fields, Value};

/// The kind of a field, as a connector's schema declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Number,
    Bool,
    Date,
    Datetime,
    Select,
    MultiSelect,
    Reference,
    Json,
}

impl FieldKind {
    /// The kind a value is of; none for null.
    pub fn of(value: &Value) -> Option<FieldKind> {
        Some(match value {
            Value::Null => return None,
            Value::Text(_) => FieldKind::Text,
            Value::Number(_) => FieldKind::Number,
            Value::Bool(_) => FieldKind::Bool,
            Value::Date(_) => FieldKind::Date,
            Value::Datetime(_) => FieldKind::Datetime,
            Value::Select(_) => FieldKind::Select,
            Value::MultiSelect(_) => FieldKind::MultiSelect,
            Value::Reference(_) => FieldKind::Reference,
            Value::Json(_) => FieldKind::Json,
        })
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::Bool => "bool",
            FieldKind::Date => "date",
            FieldKind::Datetime => "datetime",
            FieldKind::Select => "select",
            FieldKind::MultiSelect => "multi_select",
            FieldKind::Reference => "reference",
            FieldKind::Json => "json",
        })
    }
}

/// One field of a side's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldInfo {
    pub kind: FieldKind,
    #[serde(default)]
    pub read_only: bool,
}

impl FieldInfo {
    pub fn new(kind: FieldKind) -> Self {
        FieldInfo {
            kind,
            read_only: false,
        }
    }

    pub fn read_only(kind: FieldKind) -> Self {
        FieldInfo {
            kind,
            read_only: true,
        }
    }
}

/// The fields of one side (one entity of one platform).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub fields: BTreeMap<String, FieldInfo>,
}

impl Schema {
    fn names(&self) -> Vec<String> {
        self.fields.keys().cloned().collect()
    }
}

impl<S: Into<String>> FromIterator<(S, FieldInfo)> for Schema {
    fn from_iter<I: IntoIterator<Item = (S, FieldInfo)>>(iter: I) -> Self {
        Schema {
            fields: iter
                .into_iter()
                .map(|(name, info)| (name.into(), info))
                .collect(),
        }
    }
}

/// One side of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Source,
    Target,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// Translates a record id on one side into the linked record's id on the
/// other, through the link table; `None` when there is no link yet.
pub type Resolver<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Fields mapped into one space, and what was left out on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    pub fields: Fields,
    pub warnings: Vec<MappingWarning>,
}

/// Something left out of a mapping that a later run may complete.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MappingWarning {
    /// A reference to record `id` (on the side read, in field `field` of that
    /// side) has no linked record on the side `towards` yet, so it was left
    /// out of the list.
    UnlinkedReference {
        field: String,
        id: String,
        towards: Side,
    },
}

impl fmt::Display for MappingWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MappingWarning::UnlinkedReference { field, id, towards } => write!(
                f,
                "field `{field}`: referenced record `{id}` has no linked record on the {towards} side yet; left out"
            ),
        }
    }
}

/// A job's mapping resolved against both schemas: the list of mapped fields
/// and the translation of values between the canonical space and each side.
#[derive(Debug, Clone)]
pub struct Mapper {
    /// ordered by source name
    fields: Vec<FieldMapping>,
}

impl Mapper {
    /// Checks `spec` against both schemas and resolves the field list: each
    /// listed field exists on its side (the error lists that side's fields),
    /// each excluded name exists on at least one side, kinds can be
    /// converted, and nothing is written to a read-only field (see the
    /// module docs for how read-only fields narrow a direction).
    pub fn new(
        spec: &MappingSpec,
        source: &Schema,
        target: &Schema,
    ) -> Result<Mapper, MappingError> {
        for name in &spec.exclude {
            if !source.fields.contains_key(name) && !target.fields.contains_key(name) {
                return Err(MappingError::UnknownExclude {
                    field: name.clone(),
                    source_fields: source.names(),
                    target_fields: target.names(),
                });
            }
        }
        let excluded: BTreeSet<&str> = spec.exclude.iter().map(String::as_str).collect();
        let lookup = |schema: &Schema, side: Side, name: &str| {
            schema
                .fields
                .get(name)
                .copied()
                .ok_or_else(|| MappingError::UnknownField {
                    side,
                    field: name.to_string(),
                    available: schema.names(),
                })
        };

        let mut fields = Vec::new();
        let mut sources = BTreeSet::new();
        let mut targets = BTreeSet::new();
        for field in &spec.fields {
            let target_name = field.target.as_deref().unwrap_or(&field.source);
            let source_info = lookup(source, Side::Source, &field.source)?;
            let target_info = lookup(target, Side::Target, target_name)?;
            if let Some(name) = [field.source.as_str(), target_name]
                .into_iter()
                .find(|n| excluded.contains(n))
            {
                return Err(MappingError::ListedAndExcluded {
                    field: name.to_string(),
                });
            }
            if !sources.insert(field.source.clone()) {
                return Err(MappingError::Duplicate {
                    side: Side::Source,
                    field: field.source.clone(),
                });
            }
            if !targets.insert(target_name.to_string()) {
                return Err(MappingError::Duplicate {
                    side: Side::Target,
                    field: target_name.to_string(),
                });
            }
            let read_only = |side: Side, name: &str| MappingError::ReadOnly {
                side,
                field: name.to_string(),
                direction: field.direction,
            };
            let directions = match field.direction {
                Direction::ToTarget if target_info.read_only => {
                    return Err(read_only(Side::Target, target_name))
                }
                Direction::ToSource if source_info.read_only => {
                    return Err(read_only(Side::Source, &field.source))
                }
                Direction::ToTarget => (true, false),
                Direction::ToSource => (false, true),
                Direction::Both => (!target_info.read_only, !source_info.read_only),
            };
            if directions == (false, false) {
                return Err(MappingError::BothReadOnly {
                    source_field: field.source.clone(),
                    target_field: target_name.to_string(),
                });
            }
            fields.push(FieldMapping::build(
                field,
                target_name,
                source_info,
                target_info,
                directions,
            )?);
        }

        if spec.same_names {
            for (name, source_info) in &source.fields {
                let Some(target_info) = target.fields.get(name) else {
                    continue;
                };
                let taken = sources.contains(name) || targets.contains(name);
                let directions = (!target_info.read_only, !source_info.read_only);
                if taken || excluded.contains(name.as_str()) || directions == (false, false) {
                    continue;
                }
                let same = FieldSpec::new(name.clone(), name.clone());
                fields.push(FieldMapping::build(
                    &same,
                    name,
                    *source_info,
                    *target_info,
                    directions,
                )?);
            }
        }
        fields.sort_by(|a, b| a.source.cmp(&b.source));
        Ok(Mapper { fields })
    }

    /// Every mapped field, ordered by source name.
    pub fn fields(&self) -> &[FieldMapping] {
        &self.fields
    }

    /// The mapping of one field, by its source (canonical) name.
    pub fn field(&self, source_name: &str) -> Option<&FieldMapping> {
        self.fields
            .binary_search_by(|f| f.source.as_str().cmp(source_name))
            .ok()
            .map(|i| &self.fields[i])
    }

    /// The canonical field names (the source names), in order.
    pub fn canonical_fields(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.source.as_str()).collect()
    }

    /// Why `key` (a source field) cannot match records, if it cannot: it
    /// must be a field both sides map. Names the side that lacks it.
    pub fn match_key_problem(&self, key: &str, source: &Schema, target: &Schema) -> Option<String> {
        if self.field(key).is_some() {
            return None;
        }
        let list = |schema: &Schema| schema.names().join(", ");
        Some(if !source.fields.contains_key(key) {
            format!(
                "match_key.source `{key}` is not a field of the source (its fields: {})",
                list(source)
            )
        } else if self.fields.is_empty() {
            format!(
                "match_key.source `{key}` is not mapped, and no field is: the source's fields \
                 ({}) and the target's ({}) share no name and `mapping` pairs none",
                list(source),
                list(target)
            )
        } else if target.fields.contains_key(key) {
            format!(
                "match_key.source `{key}` is a field of both sides that `mapping` leaves out \
                 (excluded, or `same_names` is off); mapped: {}",
                self.canonical_fields().join(", ")
            )
        } else {
            format!(
                "match_key.source `{key}` is a source field the target does not map: the \
                 target has no field of that name and `mapping` pairs none with it (the \
                 target's fields: {}; mapped: {})",
                list(target),
                self.canonical_fields().join(", ")
            )
        })
    }

    /// The target field that a source field maps to.
    pub fn target_name(&self, source_name: &str) -> Option<&str> {
        self.field(source_name).map(|f| f.target.as_str())
    }

    /// The source (canonical) field that a target field maps to.
    pub fn source_name(&self, target_name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.target == target_name)
            .map(|f| f.source.as_str())
    }

    /// Whether changes of this canonical field are written to the target.
    pub fn writes_to_target(&self, source_name: &str) -> bool {
        self.field(source_name).is_some_and(|f| f.to_target)
    }

    /// Whether changes of this canonical field are written to the source.
    pub fn writes_to_source(&self, source_name: &str) -> bool {
        self.field(source_name).is_some_and(|f| f.to_source)
    }

    /// The source's fields in the canonical space: mapped fields only,
    /// normalized, nulls dropped. A value of another kind than its field
    /// declares is converted into that kind when it can be (Notion sends a
    /// date-only value for a datetime field) and kept as it is otherwise.
    pub fn canonical_from_source(&self, fields: &Fields) -> Fields {
        let mut canonical = Fields::new();
        for f in &self.fields {
            let Some(value) = fields.get(&f.source) else {
                continue;
            };
            let value = convert::convert(value, f.source_kind, &f.options)
                .unwrap_or_else(|_| value.clone())
                .into_normalized();
            if value != Value::Null {
                canonical.insert(f.source.clone(), value);
            }
        }
        canonical
    }

    /// The target's fields in the canonical space: keyed by source names,
    /// values read back through the value maps and converted into the source
    /// kinds, references translated to source ids with `resolve_to_source`,
    /// normalized, nulls dropped. Every mapped field, whatever its direction.
    pub fn canonical_from_target(
        &self,
        fields: &Fields,
        resolve_to_source: Resolver<'_>,
    ) -> Result<Mapped, Vec<ConversionError>> {
        let mut mapped = Mapped::default();
        let mut errors = Vec::new();
        for f in &self.fields {
            let Some(value) = fields.get(&f.target) else {
                continue;
            };
            match f.carry(value, Side::Source, resolve_to_source, &mut mapped.warnings) {
                Ok(Value::Null) => {}
                Ok(value) => {
                    mapped.fields.insert(f.source.clone(), value);
                }
                Err(expected) => errors.push(conversion_error(&f.target, value, expected)),
            }
        }
        if errors.is_empty() {
            Ok(mapped)
        } else {
            Err(errors)
        }
    }

    /// What to write to the target for a canonical record: every field that
    /// is written to the target (keyed by target names), values through the
    /// value maps and converted into the target kinds, references translated
    /// with `resolve_to_target`, the field's default where the value is
    /// empty, otherwise `Value::Null` to clear it.
    pub fn to_target(
        &self,
        canonical: &Fields,
        resolve_to_target: Resolver<'_>,
    ) -> Result<Mapped, Vec<ConversionError>> {
        let mut mapped = Mapped::default();
        let mut errors = Vec::new();
        for f in self.fields.iter().filter(|f| f.to_target) {
            let value = canonical.get(&f.source).unwrap_or(&Value::Null);
            match f.carry(value, Side::Target, resolve_to_target, &mut mapped.warnings) {
                Ok(written) => {
                    mapped
                        .fields
                        .insert(f.target.clone(), or_default(written, &f.target_default));
                }
                Err(expected) => errors.push(conversion_error(&f.source, value, expected)),
            }
        }
        if errors.is_empty() {
            Ok(mapped)
        } else {
            Err(errors)
        }
    }

    /// What to write to the source for a canonical record: every field that
    /// is written to the source, with the field's default where the value is
    /// empty, otherwise `Value::Null` to clear it. Canonical values are
    /// already in source names, kinds and ids, so nothing is translated;
    /// a value of another kind (say, from a merge file) is converted.
    pub fn to_source(&self, canonical: &Fields) -> Result<Fields, Vec<ConversionError>> {
        let mut written = Fields::new();
        let mut errors = Vec::new();
        for f in self.fields.iter().filter(|f| f.to_source) {
            let value = canonical.get(&f.source).unwrap_or(&Value::Null);
            match convert::convert(value, f.source_kind, &f.options) {
                Ok(v) => {
                    written.insert(
                        f.source.clone(),
                        or_default(v.into_normalized(), &f.source_default),
                    );
                }
                Err(expected) => errors.push(conversion_error(&f.source, value, expected)),
            }
        }
        if errors.is_empty() {
            Ok(written)
        } else {
            Err(errors)
        }
    }
}

fn or_default(value: Value, default: &Option<Value>) -> Value {
    match (value, default) {
        (Value::Null, Some(default)) => default.clone(),
        (value, _) => value,
    }
}

fn conversion_error(field: &str, value: &Value, expected: String) -> ConversionError {
    ConversionError {
        field: field.to_string(),
        value: convert::display(value),
        expected,
    }
}
