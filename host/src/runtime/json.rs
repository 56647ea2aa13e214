//! The contract's types as JSON, for people and files: `connector read` prints
//! records this way and `connector inspect --json` the descriptor.

use serde_json::{json, Map, Value};

use super::connector::{Capabilities, Descriptor, EntitySchema, FieldType, FieldValue, Record};
use super::AuthScheme;

pub fn value(v: &FieldValue) -> Value {
    match v {
        FieldValue::Null => Value::Null,
        FieldValue::Text(s) => json!({"text": s}),
        FieldValue::Number(n) => json!({"number": n}),
        FieldValue::Boolean(b) => json!({"bool": b}),
        FieldValue::Date(s) => json!({"date": s}),
        FieldValue::Datetime(s) => json!({"datetime": s}),
        FieldValue::Select(s) => json!({"select": s}),
        FieldValue::MultiSelect(v) => json!({"multi_select": v}),
        FieldValue::Reference(v) => json!({"reference": v}),
        FieldValue::Json(s) => {
            json!({"json": serde_json::from_str::<Value>(s).unwrap_or(Value::String(s.clone()))})
        }
    }
}

/// The inverse of [`value`], for values kept in files (a cassette's fixture).
pub fn parse_value(v: &Value) -> Option<FieldValue> {
    if v.is_null() {
        return Some(FieldValue::Null);
    }
    let (kind, inner) = v.as_object()?.iter().next()?;
    let strings = || -> Option<Vec<String>> {
        inner
            .as_array()?
            .iter()
            .map(|s| s.as_str().map(String::from))
            .collect()
    };
    Some(match kind.as_str() {
        "text" => FieldValue::Text(inner.as_str()?.into()),
        "number" => FieldValue::Number(inner.as_f64()?),
        "bool" => FieldValue::Boolean(inner.as_bool()?),
        "date" => FieldValue::Date(inner.as_str()?.into()),
        "datetime" => FieldValue::Datetime(inner.as_str()?.into()),
        "select" => FieldValue::Select(inner.as_str()?.into()),
        "multi_select" => FieldValue::MultiSelect(strings()?),
        "reference" => FieldValue::Reference(strings()?),
        "json" => FieldValue::Json(inner.to_string()),
        _ => return None,
    })
}

pub fn record(r: &Record) -> Value {
    let fields: Map<String, Value> = r
        .fields
        .iter()
        .map(|f| (f.name.clone(), value(&f.value)))
        .collect();
    json!({"id": r.id, "version": r.version, "updated_at": r.updated_at, "deleted": r.deleted, "fields": fields})
}

pub fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Text => "text",
        FieldType::Number => "number",
        FieldType::Boolean => "bool",
        FieldType::Date => "date",
        FieldType::Datetime => "datetime",
        FieldType::Select => "select",
        FieldType::MultiSelect => "multi-select",
        FieldType::Reference => "reference",
        FieldType::Json => "json",
    }
}

pub fn capability_names(c: Capabilities) -> Vec<&'static str> {
    [
        (Capabilities::READ, "read"),
        (Capabilities::WRITE, "write"),
        (Capabilities::INCREMENTAL, "incremental"),
        (Capabilities::DELETES, "deletes"),
        (Capabilities::WEBHOOKS, "webhooks"),
    ]
    .into_iter()
    .filter(|(flag, _)| c.contains(*flag))
    .map(|(_, name)| name)
    .collect()
}

pub fn auth(a: &AuthScheme) -> Value {
    match a {
        AuthScheme::None => json!("none"),
        AuthScheme::Bearer(secret) => json!({"bearer": {"secret": secret}}),
        AuthScheme::Header((header, secret)) => {
            json!({"header": {"name": header, "secret": secret}})
        }
        AuthScheme::Basic(b) => {
            json!({"basic": {"user_secret": b.user_secret, "password_secret": b.password_secret}})
        }
        AuthScheme::ClientCredentials(cc) => json!({"client_credentials": {
            "token_url": cc.token_url,
            "client_id_secret": cc.client_id_secret,
            "client_secret_secret": cc.client_secret_secret,
            "scopes": cc.scopes,
        }}),
    }
}

pub fn descriptor(d: &Descriptor) -> Value {
    json!({
        "name": d.name,
        "version": d.version,
        "contract": d.contract,
        "entities": d.entities,
        "capabilities": capability_names(d.capabilities),
        "hosts": d.hosts,
        "auth": auth(&d.auth),
        "rate": d.rate.as_ref().map(|r| json!({"per_second": r.per_second, "burst": r.burst, "daily_budget": r.daily_budget})),
        "settings": d.settings.iter().map(|s| json!({"name": s.name, "description": s.description, "required": s.required})).collect::<Vec<_>>(),
        "checkpoint": checkpoint_kind(d.checkpoint),
        "max_batch": d.max_batch,
    })
}

pub fn checkpoint_kind(k: super::CheckpointKind) -> &'static str {
    match k {
        super::CheckpointKind::Opaque => "opaque",
        super::CheckpointKind::Timestamp => "timestamp",
    }
}

pub fn schema(s: &EntitySchema) -> Value {
    json!({
        "entity": s.entity,
        "fields": s.fields.iter().map(|f| json!({"name": f.name, "type": type_name(f.kind), "read_only": f.read_only, "options": f.options})).collect::<Vec<_>>(),
    })
}
