//! The data model of the Airtable simulator (bases, tables, fields, records)
//! and the validation of cell values on write.
//!
//! Cell formats follow "Field types and cell values",
//! https://airtable.com/developers/web/api/field-model

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

/// The field types the simulator knows (a subset of the field model).
pub(crate) const FIELD_TYPES: &[&str] = &[
    "singleLineText",
    "multilineText",
    "email",
    "url",
    "phoneNumber",
    "number",
    "checkbox",
    "singleSelect",
    "multipleSelects",
    "date",
    "dateTime",
    "multipleRecordLinks",
    "lastModifiedTime",
    "createdTime",
];

/// An error answer: status and JSON body.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: u16,
    pub body: Value,
}

impl ApiError {
    /// Errors page (https://airtable.com/developers/web/api/errors): a JSON body
    /// with `error.type` and `error.message`.
    pub fn new(status: u16, typ: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            status,
            body: json!({"error": {"type": typ, "message": message}}),
        }
    }
    /// 404 for an unknown record or route; Airtable answers a bare string here
    /// (`{"error":"NOT_FOUND"}`, as seen in the official clients' error handling).
    pub fn not_found() -> Self {
        ApiError {
            status: 404,
            body: json!({"error": "NOT_FOUND"}),
        }
    }
    /// Airtable's generic parameter-validation answer.
    pub fn invalid_request() -> Self {
        Self::new(
            422,
            "INVALID_REQUEST_UNKNOWN",
            "Invalid request: parameter validation failed. Check your request data.",
        )
    }
    /// With personal access tokens an unknown base or table is a 403 (errors page, 403 section).
    pub fn model_not_found() -> Self {
        Self::new(
            403,
            "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
            "Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.",
        )
    }
    pub fn unknown_field(name: &str) -> Self {
        Self::new(
            422,
            "UNKNOWN_FIELD_NAME",
            format!("Unknown field name: \"{name}\""),
        )
    }
}

/// "app"/"tbl"/"fld"/"rec"/"itr"/"sel"/"viw" + 14 alphanumerics, like Airtable's ids.
pub(crate) fn new_id(prefix: &str) -> String {
    use rand::Rng;
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut s = String::with_capacity(prefix.len() + 14);
    s.push_str(prefix);
    for _ in 0..14 {
        s.push(ALNUM[rng.random_range(0..ALNUM.len())] as char);
    }
    s
}

/// Timestamps are UTC ISO 8601 with milliseconds, e.g. "2014-09-05T07:00:00.000Z"
/// (field model: "Date and time", "Created time", "Last modified time").
pub(crate) fn fmt_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Truncates to the millisecond precision Airtable stores.
pub(crate) fn to_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

pub(crate) use crate::parse::parse_datetime;

pub(crate) struct Choice {
    pub id: String,
    pub name: String,
    pub color: String,
}

pub(crate) struct Field {
    pub id: String,
    pub name: String,
    pub typ: String,
    /// For multipleRecordLinks declared as "multipleRecordLinks:Other table".
    pub link: Option<String>,
    pub choices: Vec<Choice>,
}

impl Field {
    pub fn computed(&self) -> bool {
        matches!(self.typ.as_str(), "lastModifiedTime" | "createdTime")
    }
    pub fn add_choice(&mut self, name: &str) {
        const COLORS: &[&str] = &[
            "blueLight2",
            "cyanLight2",
            "tealLight2",
            "greenLight2",
            "yellowLight2",
            "orangeLight2",
            "redLight2",
            "pinkLight2",
            "purpleLight2",
            "grayLight2",
        ];
        let color = COLORS[self.choices.len() % COLORS.len()].to_string();
        self.choices.push(Choice {
            id: new_id("sel"),
            name: name.to_string(),
            color,
        });
    }
}

pub(crate) struct Record {
    pub id: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// `created` and `modified` formatted once, as pages render them often.
    pub created_s: String,
    pub modified_s: String,
    /// Cell values by field id; empty values are not stored.
    pub values: HashMap<String, Value>,
    /// When each field last changed (for LAST_MODIFIED_TIME({Field})).
    pub field_modified: HashMap<String, DateTime<Utc>>,
}

pub(crate) struct Table {
    pub id: String,
    pub name: String,
    pub view_id: String,
    pub fields: Vec<Field>,
    /// Records in creation order, keyed by a sequence number: the ordered index
    /// that list requests walk without sorting.
    pub records: BTreeMap<u64, Record>,
    pub index: HashMap<String, u64>,
    next_seq: u64,
}

pub(crate) struct Base {
    pub tables: Vec<Table>,
}

impl Base {
    /// "table names and table ids can be used interchangeably" (List records).
    pub fn table(&self, key: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.id == key)
            .or_else(|| self.tables.iter().find(|t| t.name == key))
    }
    pub fn table_mut(&mut self, key: &str) -> Option<&mut Table> {
        let i = self
            .tables
            .iter()
            .position(|t| t.id == key)
            .or_else(|| self.tables.iter().position(|t| t.name == key))?;
        Some(&mut self.tables[i])
    }
}

/// Validated writes: (field id, value or None to clear).
pub(crate) type Changes = Vec<(String, Option<Value>)>;

fn non_empty(v: Value) -> Option<Value> {
    match &v {
        Value::String(s) if s.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Bool(false) | Value::Null => None,
        _ => Some(v),
    }
}

impl Table {
    pub fn new(name: &str, fields: &[(&str, &str)]) -> Table {
        let fields = fields
            .iter()
            .map(|(n, t)| {
                let (typ, link) = match t.split_once(':') {
                    Some((t, l)) => (t, Some(l.to_string())),
                    None => (*t, None),
                };
                assert!(
                    FIELD_TYPES.contains(&typ),
                    "unsupported Airtable field type {typ:?}"
                );
                Field {
                    id: new_id("fld"),
                    name: n.to_string(),
                    typ: typ.to_string(),
                    link,
                    choices: vec![],
                }
            })
            .collect::<Vec<_>>();
        assert!(!fields.is_empty(), "a table needs a primary field");
        Table {
            id: new_id("tbl"),
            name: name.to_string(),
            view_id: new_id("viw"),
            fields,
            records: BTreeMap::new(),
            index: HashMap::new(),
            next_seq: 0,
        }
    }

    /// Field keys may be names or ids ("keyed by either field name or field id", Create records).
    pub fn field_index(&self, key: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.id == key)
            .or_else(|| self.fields.iter().position(|f| f.name == key))
    }

    pub fn record(&self, id: &str) -> Option<&Record> {
        self.index.get(id).and_then(|s| self.records.get(s))
    }

    /// Validates a `fields` object against the schema (field model; typecast as in
    /// "Create records": "Airtable will try to convert string values ... best-effort").
    pub fn validate(&mut self, fields: &Value, typecast: bool) -> Result<Changes, ApiError> {
        let obj = fields.as_object().ok_or_else(ApiError::invalid_request)?;
        let mut out = Vec::with_capacity(obj.len());
        for (key, v) in obj {
            let i = self
                .field_index(key)
                .ok_or_else(|| ApiError::unknown_field(key))?;
            let value = coerce(&mut self.fields[i], v, typecast)?;
            out.push((self.fields[i].id.clone(), value));
        }
        Ok(out)
    }

    pub fn create(&mut self, changes: Changes, now: DateTime<Utc>) -> String {
        let id = new_id("rec");
        let ts = fmt_ts(now);
        let mut rec = Record {
            id: id.clone(),
            created: now,
            modified: now,
            created_s: ts.clone(),
            modified_s: ts,
            values: HashMap::new(),
            field_modified: HashMap::new(),
        };
        for (fid, v) in changes {
            if let Some(v) = v {
                rec.field_modified.insert(fid.clone(), now);
                rec.values.insert(fid, v);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.index.insert(id.clone(), seq);
        self.records.insert(seq, rec);
        id
    }

    /// PATCH merges; PUT ("replace") clears every editable field not given
    /// (Update multiple records). The record's modification time moves only if a value changed.
    pub fn update(
        &mut self,
        id: &str,
        changes: Changes,
        replace: bool,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(seq) = self.index.get(id).copied() else {
            return false;
        };
        let editable: Vec<String> = self
            .fields
            .iter()
            .filter(|f| !f.computed())
            .map(|f| f.id.clone())
            .collect();
        let rec = self.records.get_mut(&seq).expect("indexed record");
        let mut changed = false;
        let mut set = |fid: String, v: Option<Value>| {
            if rec.values.get(&fid) != v.as_ref() {
                changed = true;
                rec.field_modified.insert(fid.clone(), now);
                match v {
                    Some(v) => rec.values.insert(fid, v),
                    None => rec.values.remove(&fid),
                };
            }
        };
        if replace {
            let mut given: HashMap<String, Option<Value>> = changes.into_iter().collect();
            for fid in editable {
                let v = given.remove(&fid).flatten();
                set(fid, v);
            }
        } else {
            for (fid, v) in changes {
                set(fid, v);
            }
        }
        if changed {
            rec.modified = now;
            rec.modified_s = fmt_ts(now);
        }
        true
    }

    pub fn delete(&mut self, id: &str) -> bool {
        match self.index.remove(id) {
            Some(seq) => self.records.remove(&seq).is_some(),
            None => false,
        }
    }

    /// The value of a cell, computed fields included.
    pub fn cell(&self, rec: &Record, i: usize) -> Option<Value> {
        let f = &self.fields[i];
        match f.typ.as_str() {
            "lastModifiedTime" => Some(Value::String(rec.modified_s.clone())),
            "createdTime" => Some(Value::String(rec.created_s.clone())),
            _ => rec.values.get(&f.id).cloned(),
        }
    }

    /// A record object; "Returned records do not include any fields with "empty"
    /// values, e.g. "", [], or false" (List records).
    pub fn render(&self, rec: &Record, by_id: bool, only: Option<&[usize]>) -> Value {
        let mut fields = Map::new();
        for (i, f) in self.fields.iter().enumerate() {
            if only.is_some_and(|o| !o.contains(&i)) {
                continue;
            }
            if let Some(v) = self.cell(rec, i) {
                fields.insert(if by_id { f.id.clone() } else { f.name.clone() }, v);
            }
        }
        let mut out = Map::with_capacity(3);
        out.insert("id".into(), Value::String(rec.id.clone()));
        out.insert("createdTime".into(), Value::String(rec.created_s.clone()));
        out.insert("fields".into(), Value::Object(fields));
        Value::Object(out)
    }
}

/// Orders cells for `sort`: empty first, then numbers, text, and so on.
pub(crate) fn cmp_cells(a: &Option<Value>, b: &Option<Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

fn coerce(f: &mut Field, v: &Value, typecast: bool) -> Result<Option<Value>, ApiError> {
    // Computed fields are read-only; the observed message is "Field "X" cannot
    // accept a value because the field is computed".
    if f.computed() {
        let msg = format!(
            "Field \"{}\" cannot accept a value because the field is computed",
            f.name
        );
        return Err(ApiError::new(422, "INVALID_VALUE_FOR_COLUMN", msg));
    }
    if v.is_null() {
        return Ok(None);
    }
    let bad = |f: &Field| {
        ApiError::new(
            422,
            "INVALID_VALUE_FOR_COLUMN",
            format!("Field \"{}\" cannot accept the provided value", f.name),
        )
    };
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if typecast => Some(n.to_string()),
        Value::Bool(b) if typecast => Some(b.to_string()),
        _ => None,
    };
    let out = match f.typ.as_str() {
        "singleLineText" | "multilineText" | "email" | "url" | "phoneNumber" => {
            Value::String(text(v).ok_or_else(|| bad(f))?)
        }
        "number" => match v {
            Value::Number(_) => v.clone(),
            Value::String(s) if typecast => match s.trim() {
                "" => Value::Null,
                t => match t.parse::<f64>() {
                    Ok(n) if n.fract() == 0.0 && n.abs() < 9e15 => json!(n as i64),
                    Ok(n) => serde_json::Number::from_f64(n)
                        .map(Value::Number)
                        .ok_or_else(|| bad(f))?,
                    Err(_) => return Err(bad(f)),
                },
            },
            _ => return Err(bad(f)),
        },
        "checkbox" => match v {
            Value::Bool(_) => v.clone(),
            Value::String(s) if typecast => Value::Bool(matches!(
                s.trim().to_lowercase().as_str(),
                "true" | "checked" | "yes" | "1" | "x"
            )),
            Value::Number(n) if typecast => Value::Bool(n.as_f64() != Some(0.0)),
            _ => return Err(bad(f)),
        },
        "singleSelect" => {
            let s = text(v).ok_or_else(|| bad(f))?;
            if !s.is_empty() {
                select_option(f, &s, typecast)?;
            }
            Value::String(s)
        }
        "multipleSelects" => {
            let items: Vec<String> = match v {
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad(f))?,
                Value::String(s) if typecast => s
                    .split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect(),
                _ => return Err(bad(f)),
            };
            let mut uniq: Vec<String> = vec![];
            for s in items {
                select_option(f, &s, typecast)?;
                if !uniq.contains(&s) {
                    uniq.push(s);
                }
            }
            json!(uniq)
        }
        // Date: "UTC date, e.g. "2014-09-05"".
        "date" => {
            let s = v.as_str().ok_or_else(|| bad(f))?;
            if s.is_empty() {
                Value::Null
            } else {
                let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .ok()
                    .or_else(|| parse_datetime(s).map(|t| t.date_naive()))
                    .ok_or_else(|| bad(f))?;
                json!(d.format("%Y-%m-%d").to_string())
            }
        }
        // Date and time: "UTC date time string, e.g. "2014-09-05T07:00:00.000Z"".
        "dateTime" => {
            let s = v.as_str().ok_or_else(|| bad(f))?;
            if s.is_empty() {
                Value::Null
            } else {
                json!(fmt_ts(to_ms(parse_datetime(s).ok_or_else(|| bad(f))?)))
            }
        }
        // Link to another record: "array of record IDs".
        "multipleRecordLinks" => {
            let ids = v.as_array().filter(|a| {
                a.iter().all(|x| {
                    x.as_str()
                        .is_some_and(|s| s.len() == 17 && s.starts_with("rec"))
                })
            });
            match ids {
                Some(a) => Value::Array(a.clone()),
                None => {
                    return Err(ApiError::new(
                        422,
                        "INVALID_VALUE_FOR_COLUMN",
                        "Value is not an array of record IDs.",
                    ))
                }
            }
        }
        _ => return Err(bad(f)),
    };
    Ok(non_empty(out))
}

/// Unknown options fail unless typecast is on, which creates them (Create records, typecast).
fn select_option(f: &mut Field, name: &str, typecast: bool) -> Result<(), ApiError> {
    if f.choices.iter().any(|c| c.name == name) {
        return Ok(());
    }
    if typecast {
        f.add_choice(name);
        return Ok(());
    }
    // The message as Airtable words it, doubled quotes included.
    let msg = format!("Insufficient permissions to create new select option \"\"{name}\"\"");
    Err(ApiError::new(422, "INVALID_MULTIPLE_CHOICE_OPTIONS", msg))
}
