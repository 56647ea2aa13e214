//! The simulator's records: create, update and delete with the validation
//! the API applies, the Recycle Bin and the delete log that `getDeleted`
//! reads, shared by the HTTP API and the Rust handle.
//!
//! Two levels of failure, as the API has them: a body that cannot be bound
//! to the sObject (an unknown field, a JSON value of the wrong type) fails the
//! whole request with 400 ([`ApiError`]); a record the database refuses (a
//! required field missing, a value too long, a bad picklist value) fails only
//! that record of an sObject Collections request ([`ItemError`]).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

use super::model::{
    millis, normalize_id, parse_datetime, sf_datetime, standard_objects, ApiError, FieldDef,
    ItemError, Kind, ObjectDef,
};

/// "Results are returned for no more than 15 days previous to the day the
/// call is executed (or earlier if an administrator has purged the Recycle
/// Bin)" (sObject Get Deleted): older deletions are purged for good.
pub(crate) const DELETE_LOG_DAYS: i64 = 15;

pub(crate) struct Record {
    pub id: String,
    pub object: &'static str,
    /// field name -> value in the API's JSON shape; system fields excluded
    pub values: BTreeMap<&'static str, Value>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub modstamp: DateTime<Utc>,
    /// when it went to the Recycle Bin
    pub deleted: Option<DateTime<Utc>>,
}

/// A create or an update.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Create,
    Update,
}

pub(crate) struct Store {
    pub objects: Vec<ObjectDef>,
    pub records: HashMap<String, Record>,
    /// creation order, for stable output
    pub order: Vec<String>,
    next: u64,
    /// the deletion time of the last record purged from the delete log
    pub purged_until: DateTime<Utc>,
}

impl Store {
    pub fn new(now: DateTime<Utc>) -> Store {
        Store {
            objects: standard_objects(),
            records: HashMap::new(),
            order: Vec::new(),
            // Ids look like a live org's, not like the first records ever made.
            next: 1_000_000 + u64::from(rand::random::<u16>()),
            purged_until: super::model::minute(now),
        }
    }

    /// Object names are case-insensitive, as in SOQL and in URLs.
    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.objects
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// The record with this id (15 or 18 characters), Recycle Bin included.
    pub fn get(&self, id: &str) -> Option<&Record> {
        self.records.get(&normalize_id(id)?)
    }

    pub fn create(
        &mut self,
        object: &str,
        body: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<String, ItemError> {
        let obj = self.object(object).ok_or_else(|| {
            ItemError::new(
                "INVALID_TYPE",
                format!("sObject type '{object}' is not supported."),
                &[],
            )
        })?;
        let values = self.validate(obj, body, Mode::Create)?;
        let name = obj.name;
        let id = super::model::new_id(obj.prefix, self.next);
        self.next += 1;
        let now = millis(now);
        let mut record = Record {
            id: id.clone(),
            object: name,
            values: BTreeMap::new(),
            created: now,
            modified: now,
            modstamp: now,
            deleted: None,
        };
        defaults(self.object(name).expect("exists"), &mut record.values);
        record.values.extend(values);
        derive(&mut record);
        self.records.insert(id.clone(), record);
        self.order.push(id.clone());
        Ok(id)
    }

    pub fn update(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<(), ItemError> {
        let key = self.live(id)?;
        let object = self.records[&key].object;
        let values = self.validate(self.object(object).expect("exists"), body, Mode::Update)?;
        let record = self.records.get_mut(&key).expect("live");
        record.values.extend(values);
        derive(record);
        // An update is a modification even when no value changes.
        touch(record, now);
        Ok(())
    }

    /// Moves a record to the Recycle Bin: queries stop returning it and the
    /// delete log records it for `getDeleted`.
    pub fn delete(&mut self, id: &str, now: DateTime<Utc>) -> Result<(), ItemError> {
        let key = self.live(id)?;
        let record = self.records.get_mut(&key).expect("live");
        touch(record, now);
        record.deleted = Some(record.modstamp);
        Ok(())
    }

    /// The key of a record that exists and is not deleted.
    fn live(&self, id: &str) -> Result<String, ItemError> {
        let key = normalize_id(id)
            .ok_or_else(|| ItemError::new("MALFORMED_ID", format!("malformed id {id}"), &[]))?;
        match self.records.get(&key) {
            Some(r) if r.deleted.is_some() => Err(ItemError::new(
                "ENTITY_IS_DELETED",
                "entity is deleted",
                &[],
            )),
            Some(_) => Ok(key),
            None => Err(ItemError::new(
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
                &[],
            )),
        }
    }

    /// Checks a record body against the object and returns the values to
    /// store. Call [`bind`] first for the checks that fail a whole request.
    pub fn validate(
        &self,
        obj: &ObjectDef,
        body: &Map<String, Value>,
        mode: Mode,
    ) -> Result<Vec<(&'static str, Value)>, ItemError> {
        let mut out = Vec::new();
        for (key, value) in body {
            if key == "attributes" {
                continue;
            }
            let Some(field) = obj.field(key) else {
                // `bind` refuses unknown fields before any record is written.
                continue;
            };
            if field.kind == Kind::Id {
                if mode == Mode::Create && !value.is_null() {
                    return Err(ItemError::new(
                        "INVALID_FIELD",
                        "cannot specify Id in an insert call",
                        &["Id"],
                    ));
                }
                continue;
            }
            let allowed = match mode {
                Mode::Create => field.createable,
                Mode::Update => field.updateable,
            };
            if !allowed {
                return Err(ItemError::new(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                        field.name
                    ),
                    &[field.name],
                ));
            }
            out.push((field.name, self.value(obj, field, value)?));
        }
        // "REQUIRED_FIELD_MISSING: Required fields are missing" (StatusCode,
        // SOAP API Developer Guide): on create when absent, on update when cleared.
        for field in obj.fields.iter().filter(|f| !f.nillable && f.createable) {
            let given = out.iter().find(|(n, _)| *n == field.name).map(|(_, v)| v);
            let missing = match (mode, given) {
                (Mode::Create, None) => true,
                (_, Some(v)) => v.is_null() || v.as_str() == Some(""),
                (Mode::Update, None) => false,
            };
            if missing && field.kind != Kind::Boolean {
                return Err(ItemError::new(
                    "REQUIRED_FIELD_MISSING",
                    format!("Required fields are missing: [{}]", field.name),
                    &[field.name],
                ));
            }
        }
        Ok(out)
    }

    /// One value, checked as the database checks it.
    fn value(&self, obj: &ObjectDef, f: &FieldDef, v: &Value) -> Result<Value, ItemError> {
        let text = match v {
            Value::Null => {
                return Ok(if f.kind == Kind::Boolean {
                    json!(false)
                } else {
                    Value::Null
                })
            }
            Value::String(s) if s.is_empty() && f.kind.is_text() => return Ok(Value::Null),
            Value::String(s) => s.as_str(),
            other => return Ok(other.clone()),
        };
        let field = [f.name];
        if f.length > 0 && text.chars().count() > f.length && f.kind != Kind::Reference {
            return Err(ItemError::new(
                "STRING_TOO_LONG",
                format!(
                    "{}: data value too large: {}… (max length={})",
                    f.label,
                    excerpt(text),
                    f.length
                ),
                &field,
            ));
        }
        match f.kind {
            Kind::Email if !valid_email(text) => Err(ItemError::new(
                "INVALID_EMAIL_ADDRESS",
                format!("{}: invalid email address: {text}", f.label),
                &field,
            )),
            Kind::Picklist if f.restricted && !f.picklist.contains(&text) => Err(ItemError::new(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                format!(
                    "{}: bad value for restricted picklist field: {text}",
                    f.label
                ),
                &field,
            )),
            // Multi-select values are separated by semicolons; duplicates are dropped.
            Kind::Multipicklist => {
                let mut items: Vec<&str> = Vec::new();
                for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                }
                Ok(json!(items.join(";")))
            }
            Kind::Reference => {
                let target =
                    normalize_id(text).and_then(|id| self.records.get(&id).map(|r| (id, r)));
                match target {
                    Some((id, r)) if r.deleted.is_none() && f.reference_to.contains(&r.object) => {
                        Ok(json!(id))
                    }
                    _ => Err(ItemError::new(
                        "INVALID_CROSS_REFERENCE_KEY",
                        format!("{}: id value of incorrect type: {text}", f.label),
                        &field,
                    )),
                }
            }
            Kind::Date => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| json!(d.format("%Y-%m-%d").to_string()))
                .map_err(|_| invalid_date(obj, f, text)),
            Kind::Datetime => parse_datetime(text)
                .map(|t| json!(sf_datetime(millis(t))))
                .ok_or_else(|| invalid_date(obj, f, text)),
            _ => Ok(json!(text)),
        }
    }

    /// Purges deletions older than the delete log keeps.
    pub fn purge(&mut self, now: DateTime<Utc>) {
        let horizon = now - Duration::days(DELETE_LOG_DAYS);
        let old: Vec<String> = self
            .records
            .values()
            .filter(|r| r.deleted.is_some_and(|d| d < horizon))
            .map(|r| r.id.clone())
            .collect();
        for id in old {
            let r = self.records.remove(&id).expect("listed");
            self.purged_until = self.purged_until.max(r.deleted.expect("deleted"));
            self.order.retain(|x| *x != id);
        }
    }

    /// A record as a query returns it: `attributes` and the named fields
    /// (every field when `fields` is `None`).
    pub fn render(&self, r: &Record, version: &str, fields: Option<&[&'static str]>) -> Value {
        let obj = self.object(r.object).expect("record of a known object");
        let mut out = Map::new();
        out.insert(
            "attributes".into(),
            json!({ "type": r.object, "url": format!("/services/data/{version}/sobjects/{}/{}", r.object, r.id) }),
        );
        let all: Vec<&'static str> = obj.fields.iter().map(|f| f.name).collect();
        for name in fields.unwrap_or(&all) {
            out.insert((*name).to_string(), field_value(r, name));
        }
        Value::Object(out)
    }
}

/// The value of one field of a record, system fields included.
pub(crate) fn field_value(r: &Record, name: &str) -> Value {
    match name {
        "Id" => json!(r.id),
        "IsDeleted" => json!(r.deleted.is_some()),
        "CreatedDate" => json!(sf_datetime(r.created)),
        "LastModifiedDate" => json!(sf_datetime(r.modified)),
        "SystemModstamp" => json!(sf_datetime(r.modstamp)),
        _ => r.values.get(name).cloned().unwrap_or(Value::Null),
    }
}

/// Checks that a body binds to the object: every key a field, every value of
/// the field's JSON type. A failure here fails the whole request ("If the
/// request isn't well formed, the API returns a 400 Bad Request HTTP Status").
pub(crate) fn bind(obj: &ObjectDef, body: &Map<String, Value>) -> Result<(), ApiError> {
    for (key, value) in body {
        if key == "attributes" {
            continue;
        }
        let field = obj.field(key).ok_or_else(|| {
            let mut e = ApiError::bad(
                "INVALID_FIELD",
                format!("No such column '{key}' on sobject of type {}", obj.name),
            );
            e.fields = vec![key.clone()];
            e
        })?;
        let ok = match (field.kind, value) {
            (_, Value::Null) => true,
            (Kind::Double | Kind::Currency, Value::Number(_)) => true,
            (Kind::Int, Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            (Kind::Boolean, Value::Bool(_)) => true,
            (k, Value::String(_)) => k.is_text(),
            _ => false,
        };
        if !ok {
            let json_type = match value {
                Value::String(_) => "VALUE_STRING",
                Value::Number(n) if n.is_f64() => "VALUE_NUMBER_FLOAT",
                Value::Number(_) => "VALUE_NUMBER_INT",
                Value::Bool(b) if *b => "VALUE_TRUE",
                Value::Bool(_) => "VALUE_FALSE",
                Value::Array(_) => "START_ARRAY",
                _ => "START_OBJECT",
            };
            return Err(ApiError::bad(
                "JSON_PARSER_ERROR",
                format!(
                    "Cannot deserialize instance of {} from {json_type} value {value} or request may be missing a required field at [line:1, column:1]",
                    field.kind.name()
                ),
            ));
        }
    }
    Ok(())
}

/// Default values of a new record: checkboxes are false.
fn defaults(obj: &ObjectDef, values: &mut BTreeMap<&'static str, Value>) {
    for f in obj.fields.iter().filter(|f| f.createable) {
        let v = if f.kind == Kind::Boolean {
            json!(false)
        } else {
            Value::Null
        };
        values.insert(f.name, v);
    }
}

/// Computed fields: a Contact's `Name` is its first and last name.
fn derive(r: &mut Record) {
    if r.object == "Contact" {
        let part = |k: &str| {
            r.values
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let name = format!("{} {}", part("FirstName"), part("LastName"))
            .trim()
            .to_string();
        r.values.insert("Name", json!(name));
    }
}

/// A modification: LastModifiedDate and SystemModstamp move, never backwards.
fn touch(r: &mut Record, now: DateTime<Utc>) {
    let now = millis(now).max(r.modstamp);
    r.modified = now;
    r.modstamp = now;
}

fn invalid_date(obj: &ObjectDef, f: &FieldDef, text: &str) -> ItemError {
    let _ = obj;
    ItemError::new(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        format!("{}: value not of required type: {text}", f.label),
        &[f.name],
    )
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

fn excerpt(s: &str) -> String {
    s.chars().take(20).collect()
}
