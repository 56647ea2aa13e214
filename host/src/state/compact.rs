//! Shadows in a compact binary form: a tag byte, then postcard. A shadow is
//! the largest thing kept per pair, and sled's memory and its reads grow with
//! the bytes it holds: as JSON, with a type tag and field names repeated in
//! every value, a shadow took about twice the bytes. Shadows written as JSON
//! by earlier versions (they start with `{`) still read.

use serde::{Deserialize, Serialize};

use super::{OutboxEntry, OutboxEntryRef, OutboxOp, PlannedPair, Shadow, ShadowRef};
use crate::core::merge::Side;
use crate::core::value::{Fields, Record, Value};

/// The first byte of a compact shadow; JSON starts with `{`.
const COMPACT: u8 = 1;

/// [`Value`] as postcard can read it back: postcard carries no types, so a
/// free JSON value (`Value::Json`) is kept as its text.
#[derive(Serialize, Deserialize)]
enum Compact {
    Null,
    Text(String),
    Number(f64),
    Bool(bool),
    Date(String),
    Datetime(String),
    Select(String),
    MultiSelect(Vec<String>),
    Reference(Vec<String>),
    Json(String),
}

#[derive(Serialize, Deserialize)]
struct CompactShadow {
    target_id: String,
    source: Vec<(String, Compact)>,
    target: Vec<(String, Compact)>,
    source_hash: String,
    target_hash: String,
    synced_at: String,
    source_version: Option<String>,
    target_version: Option<String>,
}

/// [`Compact`] as written, borrowing: the same variants in the same order,
/// so postcard writes the same bytes.
#[derive(Serialize)]
enum CompactRef<'a> {
    Null,
    Text(&'a str),
    Number(f64),
    Bool(bool),
    Date(&'a str),
    Datetime(&'a str),
    Select(&'a str),
    MultiSelect(&'a [String]),
    Reference(&'a [String]),
    Json(String),
}

/// Fields as [`CompactShadow`]'s list of pairs, written without copying them.
struct FieldsRef<'a>(&'a Fields);

impl<'a> Serialize for FieldsRef<'a> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = |v: &'a Value| match v {
            Value::Null => CompactRef::Null,
            Value::Text(s) => CompactRef::Text(s),
            Value::Number(n) => CompactRef::Number(*n),
            Value::Bool(b) => CompactRef::Bool(*b),
            Value::Date(s) => CompactRef::Date(s),
            Value::Datetime(s) => CompactRef::Datetime(s),
            Value::Select(s) => CompactRef::Select(s),
            Value::MultiSelect(l) => CompactRef::MultiSelect(l),
            Value::Reference(l) => CompactRef::Reference(l),
            Value::Json(j) => CompactRef::Json(j.to_string()),
        };
        s.collect_seq(self.0.iter().map(|(k, v)| (k, value(v))))
    }
}

/// [`CompactShadow`] as written, borrowing.
#[derive(Serialize)]
struct CompactShadowRef<'a> {
    target_id: &'a str,
    source: FieldsRef<'a>,
    target: FieldsRef<'a>,
    source_hash: &'a str,
    target_hash: &'a str,
    synced_at: &'a str,
    source_version: Option<&'a str>,
    target_version: Option<&'a str>,
}

fn from_compact(fields: Vec<(String, Compact)>) -> Result<Fields, String> {
    fields
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Compact::Null => Value::Null,
                Compact::Text(s) => Value::Text(s),
                Compact::Number(n) => Value::Number(n),
                Compact::Bool(b) => Value::Bool(b),
                Compact::Date(s) => Value::Date(s),
                Compact::Datetime(s) => Value::Datetime(s),
                Compact::Select(s) => Value::Select(s),
                Compact::MultiSelect(l) => Value::MultiSelect(l),
                Compact::Reference(l) => Value::Reference(l),
                Compact::Json(text) => {
                    Value::Json(serde_json::from_str(&text).map_err(|e| format!("{k}: {e}"))?)
                }
            };
            Ok((k, v))
        })
        .collect()
}

pub fn encode(shadow: ShadowRef<'_>) -> Vec<u8> {
    let compact = CompactShadowRef {
        target_id: shadow.target_id,
        source: FieldsRef(shadow.source),
        target: FieldsRef(shadow.target),
        source_hash: shadow.source_hash,
        target_hash: shadow.target_hash,
        synced_at: shadow.synced_at,
        source_version: shadow.source_version,
        target_version: shadow.target_version,
    };
    let out = vec![COMPACT];
    postcard::to_extend(&compact, out).expect("a shadow serializes")
}

pub fn decode(bytes: &[u8]) -> Result<Shadow, String> {
    match bytes.split_first() {
        Some((&COMPACT, rest)) => {
            let c: CompactShadow = postcard::from_bytes(rest).map_err(|e| e.to_string())?;
            Ok(Shadow {
                target_id: c.target_id,
                source: from_compact(c.source)?,
                target: from_compact(c.target)?,
                source_hash: c.source_hash,
                target_hash: c.target_hash,
                synced_at: c.synced_at,
                source_version: c.source_version,
                target_version: c.target_version,
            })
        }
        Some((b'{', _)) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        _ => Err("neither a compact shadow nor JSON".into()),
    }
}

/// A record as a run keeps it while it plans (its scratch file): postcard,
/// values as in a shadow. Never kept across runs, so it has no tag.
#[derive(Serialize)]
struct CompactRecordRef<'a> {
    id: &'a str,
    version: Option<&'a str>,
    updated_at: Option<&'a str>,
    deleted: bool,
    fields: FieldsRef<'a>,
}

#[derive(Deserialize)]
struct CompactRecord {
    id: String,
    version: Option<String>,
    updated_at: Option<String>,
    deleted: bool,
    fields: Vec<(String, Compact)>,
}

/// Appends `record`, compact, to `out`.
pub fn encode_record(record: &Record, out: Vec<u8>) -> Vec<u8> {
    let compact = CompactRecordRef {
        id: &record.id,
        version: record.version.as_deref(),
        updated_at: record.updated_at.as_deref(),
        deleted: record.deleted,
        fields: FieldsRef(&record.fields),
    };
    postcard::to_extend(&compact, out).expect("a record serializes")
}

pub fn decode_record(bytes: &[u8]) -> Result<Record, String> {
    let c: CompactRecord = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
    Ok(Record {
        id: c.id,
        version: c.version,
        updated_at: c.updated_at,
        deleted: c.deleted,
        fields: from_compact(c.fields)?,
    })
}

/// An outbox entry, compact: the tag byte, then postcard. Entries written
/// as JSON by earlier versions (a run killed before an upgrade) still read.
#[derive(Serialize)]
struct CompactOutboxRef<'a> {
    side: u8,
    op: u8,
    pair: &'a str,
    planned_at: &'a str,
    planned: Option<CompactPlannedRef<'a>>,
}

#[derive(Serialize)]
struct CompactPlannedRef<'a> {
    source_id: Option<&'a str>,
    target_id: Option<&'a str>,
    source: FieldsRef<'a>,
    target: FieldsRef<'a>,
    writes_source: bool,
    writes_target: bool,
}

#[derive(Deserialize)]
struct CompactOutbox {
    side: u8,
    op: u8,
    pair: String,
    planned_at: String,
    planned: Option<CompactPlanned>,
}

#[derive(Deserialize)]
struct CompactPlanned {
    source_id: Option<String>,
    target_id: Option<String>,
    source: Vec<(String, Compact)>,
    target: Vec<(String, Compact)>,
    writes_source: bool,
    writes_target: bool,
}

const OPS: [OutboxOp; 3] = [OutboxOp::Create, OutboxOp::Update, OutboxOp::Delete];
const SIDES: [Side; 2] = [Side::Source, Side::Target];

pub fn encode_outbox(entry: &OutboxEntryRef<'_>) -> Vec<u8> {
    let compact = CompactOutboxRef {
        side: SIDES.iter().position(|s| *s == entry.side).unwrap_or(0) as u8,
        op: OPS.iter().position(|o| *o == entry.op).unwrap_or(0) as u8,
        pair: entry.pair,
        planned_at: entry.planned_at,
        planned: entry.planned.as_ref().map(|p| CompactPlannedRef {
            source_id: p.source_id,
            target_id: p.target_id,
            source: FieldsRef(p.source),
            target: FieldsRef(p.target),
            writes_source: p.writes_source,
            writes_target: p.writes_target,
        }),
    };
    postcard::to_extend(&compact, vec![COMPACT]).expect("an outbox entry serializes")
}

pub fn decode_outbox(bytes: &[u8]) -> Result<OutboxEntry, String> {
    match bytes.split_first() {
        Some((&COMPACT, rest)) => {
            let c: CompactOutbox = postcard::from_bytes(rest).map_err(|e| e.to_string())?;
            let planned = match c.planned {
                Some(p) => Some(PlannedPair {
                    source_id: p.source_id,
                    target_id: p.target_id,
                    source: from_compact(p.source)?,
                    target: from_compact(p.target)?,
                    writes_source: p.writes_source,
                    writes_target: p.writes_target,
                }),
                None => None,
            };
            Ok(OutboxEntry {
                side: *SIDES.get(c.side as usize).ok_or("no such side")?,
                op: OPS.get(c.op as usize).ok_or("no such op")?.clone(),
                pair: c.pair,
                planned_at: c.planned_at,
                planned,
            })
        }
        Some((b'{', _)) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        _ => Err("neither a compact outbox entry nor JSON".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shadow() -> Shadow {
        let mut source = Fields::new();
        source.insert("Name".into(), Value::Text("Task 1 ✓".into()));
        source.insert("Points".into(), Value::Number(-1.5));
        source.insert("Done".into(), Value::Bool(true));
        source.insert("Due".into(), Value::Date("2026-12-05".into()));
        source.insert("At".into(), Value::Datetime("2026-12-05T10:00:00Z".into()));
        source.insert("Status".into(), Value::Select("Doing".into()));
        source.insert(
            "Tags".into(),
            Value::MultiSelect(vec!["a".into(), "b".into()]),
        );
        source.insert("Owner".into(), Value::Reference(vec!["u1".into()]));
        source.insert(
            "Raw".into(),
            Value::Json(serde_json::json!({"k": [1, null]})),
        );
        source.insert("Empty".into(), Value::Null);
        Shadow {
            target_id: "rec1".into(),
            target: source.clone(),
            source,
            source_hash: "ab".repeat(16),
            target_hash: "cd".repeat(16),
            synced_at: "2026-12-05T10:00:01.000Z".into(),
            source_version: Some("v1".into()),
            target_version: None,
        }
    }

    #[test]
    fn every_value_comes_back_as_it_went_in() {
        let s = shadow();
        assert_eq!(decode(&encode(s.as_ref())).unwrap(), s);
    }

    #[test]
    fn a_record_comes_back_as_it_went_in_after_what_was_there() {
        for (version, updated_at, deleted) in [
            (
                Some("v7".to_string()),
                Some("2026-12-06T10:00:00Z".to_string()),
                false,
            ),
            (None, None, true),
        ] {
            let record = Record {
                id: "page-1".into(),
                version,
                updated_at,
                deleted,
                fields: shadow().source,
            };
            let bytes = encode_record(&record, vec![9, 9]);
            assert_eq!(&bytes[..2], &[9, 9], "appended after what was there");
            assert_eq!(decode_record(&bytes[2..]).unwrap(), record);
        }
        assert!(decode_record(b"\xff\xff").is_err());
    }

    #[test]
    fn a_shadow_stored_as_json_still_reads() {
        let s = shadow();
        assert_eq!(decode(&serde_json::to_vec(&s).unwrap()).unwrap(), s);
    }

    #[test]
    fn the_compact_form_is_smaller() {
        let s = shadow();
        let (compact, json) = (
            encode(s.as_ref()).len(),
            serde_json::to_vec(&s).unwrap().len(),
        );
        assert!(compact * 2 < json, "{compact} bytes against {json} as JSON");
    }

    #[test]
    fn garbage_is_an_error_not_a_shadow() {
        assert!(decode(&[COMPACT, 0xff, 0xff]).is_err());
        assert!(decode(b"").is_err());
        assert!(decode(b"x").is_err());
    }
}
