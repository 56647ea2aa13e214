//! One mapped field resolved against both schemas, and how a value crosses
//! it: value map, conversion, link translation, normal form. `Mapper` owns
//! the list; this file owns one entry.

use std::collections::BTreeMap;

use chrono::FixedOffset;

use super::convert::{self, Options};
use super::{FieldInfo, FieldKind, FieldSpec, MappingError, MappingWarning, Resolver, Side};
use crate::core::value::Value;

/// One mapped field, resolved against both schemas.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMapping {
    /// the source name, which is also the canonical name
    pub source: String,
    pub target: String,
    pub source_kind: FieldKind,
    pub target_kind: FieldKind,
    /// source changes are written to the target
    pub to_target: bool,
    /// target changes are written to the source
    pub to_source: bool,
    pub(super) forward: BTreeMap<String, String>,
    pub(super) backward: BTreeMap<String, String>,
    pub(super) target_default: Option<Value>,
    pub(super) source_default: Option<Value>,
    pub(super) options: Options,
}

impl FieldMapping {
    pub(super) fn build(
        spec: &FieldSpec,
        target: &str,
        source_info: FieldInfo,
        target_info: FieldInfo,
        (to_target, to_source): (bool, bool),
    ) -> Result<FieldMapping, MappingError> {
        let (source_kind, target_kind) = (source_info.kind, target_info.kind);
        if !convert::compatible(source_kind, target_kind) {
            return Err(MappingError::Incompatible {
                source_field: spec.source.clone(),
                source_kind,
                target_field: target.to_string(),
                target_kind,
            });
        }
        let timezone = match &spec.timezone {
            None => convert::utc(),
            Some(tz) => parse_timezone(tz).ok_or_else(|| MappingError::BadTimezone {
                field: spec.source.clone(),
                value: tz.clone(),
            })?,
        };
        let separator = spec.separator.clone().unwrap_or_else(|| ", ".to_string());
        if separator.is_empty() {
            return Err(MappingError::EmptySeparator {
                field: spec.source.clone(),
            });
        }
        let options = Options {
            separator,
            timezone,
        };

        if !spec.values.is_empty() {
            if let Some(kind) = [source_kind, target_kind]
                .into_iter()
                .find(|k| matches!(k, FieldKind::Reference | FieldKind::Json))
            {
                return Err(MappingError::ValuesNotApplicable {
                    field: spec.source.clone(),
                    kind,
                });
            }
        }
        let forward: BTreeMap<String, String> = spec
            .values
            .iter()
            .map(|(from, to)| (from.trim().to_string(), to.trim().to_string()))
            .collect();
        let mut by_target: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (from, to) in &forward {
            by_target.entry(to.as_str()).or_default().push(from.clone());
        }
        let mut backward = BTreeMap::new();
        for (to, froms) in by_target {
            // Reading back picks the first source value; that is only
            // acceptable when the field is never written to the source.
            if froms.len() > 1 && to_source {
                return Err(MappingError::AmbiguousValues {
                    field: spec.source.clone(),
                    value: to.to_string(),
                    sources: froms,
                });
            }
            backward.insert(to.to_string(), froms[0].clone());
        }

        let default_for = |kind: FieldKind, side: Side| -> Result<Option<Value>, MappingError> {
            let Some(json) = spec.default.as_ref().filter(|j| !j.is_null()) else {
                return Ok(None);
            };
            match convert::convert(&Value::Json(json.clone()), kind, &options) {
                Ok(value) => Ok(Some(value.normalized()).filter(|v| *v != Value::Null)),
                Err(expected) => Err(MappingError::BadDefault {
                    field: spec.source.clone(),
                    side,
                    value: json.to_string(),
                    expected,
                }),
            }
        };
        let target_default = if to_target {
            default_for(target_kind, Side::Target)?
        } else {
            None
        };
        let source_default = if to_source {
            default_for(source_kind, Side::Source)?
        } else {
            None
        };

        Ok(FieldMapping {
            source: spec.source.clone(),
            target: target.to_string(),
            source_kind,
            target_kind,
            to_target,
            to_source,
            forward,
            backward,
            target_default,
            source_default,
            options,
        })
    }

    /// Value maps apply to each option when either side is a multi-select.
    fn per_option(&self) -> bool {
        self.source_kind == FieldKind::MultiSelect || self.target_kind == FieldKind::MultiSelect
    }

    /// Reference to reference: ids are translated through the link table.
    fn linked(&self) -> bool {
        self.source_kind == FieldKind::Reference && self.target_kind == FieldKind::Reference
    }

    /// Carries one value across, into the kind of the side `towards`:
    /// value map, conversion, link translation, normal form. On failure,
    /// what was expected.
    pub(super) fn carry(
        &self,
        value: &Value,
        towards: Side,
        resolve: Resolver<'_>,
        warnings: &mut Vec<MappingWarning>,
    ) -> Result<Value, String> {
        let (kind, map, read_from) = match towards {
            Side::Target => (self.target_kind, &self.forward, &self.source),
            Side::Source => (self.source_kind, &self.backward, &self.target),
        };
        let value = if value.is_normal() {
            std::borrow::Cow::Borrowed(value)
        } else {
            std::borrow::Cow::Owned(value.normalized())
        };
        if *value == Value::Null {
            return Ok(Value::Null);
        }
        if self.linked() {
            let Value::Reference(ids) =
                convert::convert(&value, FieldKind::Reference, &self.options)?
            else {
                return Ok(Value::Null);
            };
            let mut linked = Vec::with_capacity(ids.len());
            for id in ids {
                match resolve(&id) {
                    Some(other) => linked.push(other),
                    None => warnings.push(MappingWarning::UnlinkedReference {
                        field: read_from.clone(),
                        id,
                        towards,
                    }),
                }
            }
            return Ok(Value::Reference(linked).into_normalized());
        }
        let mapped = self.apply_values(&value, map)?;
        Ok(convert::convert(&mapped, kind, &self.options)?.into_normalized())
    }

    /// Replaces the values listed in `map`, on a normalized value: each
    /// option when either side is a multi-select (splitting a text first),
    /// otherwise the whole value by its text form.
    fn apply_values<'v>(
        &self,
        value: &'v Value,
        map: &BTreeMap<String, String>,
    ) -> Result<std::borrow::Cow<'v, Value>, String> {
        use std::borrow::Cow;
        if map.is_empty() {
            return Ok(Cow::Borrowed(value));
        }
        if self.per_option() {
            return Ok(Cow::Owned(
                match convert::convert(value, FieldKind::MultiSelect, &self.options)? {
                    Value::MultiSelect(items) => Value::MultiSelect(
                        items
                            .into_iter()
                            .map(|item| map.get(&item).cloned().unwrap_or(item))
                            .collect(),
                    ),
                    other => other,
                },
            ));
        }
        Ok(match convert::atom(value).and_then(|atom| map.get(&atom)) {
            Some(mapped) => Cow::Owned(Value::Text(mapped.clone())),
            None => Cow::Borrowed(value),
        })
    }
}

/// A fixed UTC offset: `Z`, `UTC`, `+HH:MM`, `+HHMM` or `+HH` (or `-`).
pub(super) fn parse_timezone(text: &str) -> Option<FixedOffset> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Some(convert::utc());
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return None,
    };
    let (hours, minutes) = match (rest.split_once(':'), rest.len()) {
        (Some(parts), _) => parts,
        (None, 4) if rest.is_ascii() => rest.split_at(2),
        (None, 2) => (rest, "00"),
        _ => return None,
    };
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hours) || !two_digits(minutes) {
        return None;
    }
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}
