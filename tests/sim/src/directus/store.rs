//! Collections and their items: items kept in primary key order (a
//! `BTreeMap`, so that a page past a key is a range query), the `date-created`
//! and `date-updated` fields indexed by time (so that an incremental read is
//! one too), and the writes of the items endpoints
//! (https://docs.directus.io/reference/items.html) with what Directus does
//! around them: the specials that fill fields (`date-created`,
//! `date-updated`, `user-created`, `user-updated`, `uuid`), the
//! auto-increment key, required and non-null fields (FAILED_VALIDATION),
//! unique values (RECORD_NOT_UNIQUE), and a batch written whole or not at
//! all ("Directus creates a batch in one transaction").

use super::activity::ActivityLog;
use super::error::ApiError;
use super::model::{cast, new_uuid, now_value, render, ts_millis, Field, Key, Kind};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

pub(crate) type Row = Box<[Value]>;

/// What a write naming a field the collection does not have gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownFields {
    /// 400 INVALID_PAYLOAD naming the field: stricter than Directus, so that
    /// a client sending one is caught.
    #[default]
    Refuse,
    /// Dropped without a word, as Directus 11 does for an admin token
    /// (`ItemsService` picks the collection's own fields from the payload).
    Drop,
}

/// Who writes, and when.
pub(crate) struct Ctx<'a> {
    pub now: DateTime<Utc>,
    pub user: &'a str,
    pub unknown: UnknownFields,
}

pub(crate) struct Collection {
    pub name: String,
    /// the collection's `meta` as given
    pub meta: Value,
    /// false for a folder (`schema: null`): no table, no items
    pub table: bool,
    pub fields: Vec<Field>,
    pub pk: usize,
    pub items: BTreeMap<Key, Row>,
    next_id: i64,
    /// (field, (millis, key)) for `date-created`/`date-updated` fields
    pub time_index: Vec<(usize, BTreeSet<(i64, Key)>)>,
    /// (field, value -> key) for unique fields other than the key
    unique: Vec<(usize, HashMap<String, Key>)>,
}

fn unique_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Collection {
    pub fn new(name: &str, meta: Value, table: bool, fields: Vec<Field>) -> Result<Self, ApiError> {
        let pk = fields.iter().position(|f| f.pk);
        if table && pk.is_none() {
            return Err(ApiError::invalid_payload(format!(
                "Collection \"{name}\" has no primary key"
            )));
        }
        let mut c = Collection {
            name: name.to_string(),
            meta,
            table,
            fields: Vec::new(),
            pk: pk.unwrap_or(0),
            items: BTreeMap::new(),
            next_id: 1,
            time_index: Vec::new(),
            unique: Vec::new(),
        };
        for f in fields {
            c.add_field(f)?;
        }
        Ok(c)
    }

    /// Adds a field (`POST /fields/{collection}`); existing items hold null in it.
    pub fn add_field(&mut self, f: Field) -> Result<(), ApiError> {
        if self.fields.iter().any(|x| x.name == f.name) {
            return Err(ApiError::invalid_payload(format!(
                "Field \"{}\" already exists in collection \"{}\"",
                f.name, self.name
            )));
        }
        let i = self.fields.len();
        let timed = matches!(f.kind, Kind::Timestamp | Kind::DateTime)
            && (f.has_special("date-created") || f.has_special("date-updated"));
        if timed {
            self.time_index.push((i, BTreeSet::new()));
        }
        if f.unique && !f.pk {
            self.unique.push((i, HashMap::new()));
        }
        self.fields.push(f);
        Ok(())
    }

    pub fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn pk_kind(&self) -> Kind {
        self.fields[self.pk].kind
    }

    /// The collection's manual sort field (`meta.sort_field`), the default sort when set.
    pub fn sort_field(&self) -> Option<usize> {
        self.meta["sort_field"].as_str().and_then(|f| self.field(f))
    }

    /// Whether writes are logged (`meta.accountability`: "all" or "activity"; null: not).
    pub fn logs_activity(&self) -> bool {
        match self.meta.get("accountability") {
            None => true,
            Some(v) => v.is_string(),
        }
    }

    /// The collection object (https://docs.directus.io/reference/system/collections.html).
    pub fn to_json(&self) -> Value {
        let mut meta: Map<String, Value> = json!({
            "collection": self.name, "icon": null, "note": null, "display_template": null,
            "hidden": false, "singleton": false, "translations": null, "archive_field": null,
            "archive_app_filter": true, "archive_value": null, "unarchive_value": null,
            "sort_field": null, "accountability": "all", "color": null,
            "item_duplication_fields": null, "sort": null, "group": null, "collapse": "open",
            "preview_url": null, "versioning": false,
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        if let Value::Object(given) = &self.meta {
            meta.extend(given.clone());
        }
        let schema = self
            .table
            .then(|| json!({"name": self.name, "comment": null}));
        json!({"collection": self.name, "meta": meta, "schema": schema})
    }

    /// An item as the API returns it, with the fields at `projection`.
    pub fn render(&self, row: &[Value], projection: &[usize]) -> Value {
        let mut m = Map::with_capacity(projection.len());
        for &i in projection {
            let f = &self.fields[i];
            m.insert(
                f.name.clone(),
                render(f.kind, row.get(i).unwrap_or(&Value::Null)),
            );
        }
        Value::Object(m)
    }

    /// Every field with a column.
    pub fn all_fields(&self) -> Vec<usize> {
        (0..self.fields.len())
            .filter(|i| self.fields[*i].kind != Kind::Alias)
            .collect()
    }

    /// A payload's values, cast to their fields' types.
    fn prepare(&self, payload: &Value, ctx: &Ctx) -> Result<Vec<(usize, Value)>, ApiError> {
        let Value::Object(map) = payload else {
            return Err(ApiError::invalid_payload("Payload has to be an object"));
        };
        let mut out = Vec::with_capacity(map.len());
        for (name, v) in map {
            let Some(i) = self.field(name) else {
                match ctx.unknown {
                    UnknownFields::Drop => continue,
                    UnknownFields::Refuse => {
                        return Err(ApiError::invalid_payload(format!(
                            "Field \"{name}\" doesn't exist in collection \"{}\"",
                            self.name
                        )))
                    }
                }
            };
            let f = &self.fields[i];
            if f.kind == Kind::Alias {
                continue;
            }
            let value = cast(f.kind, v).map_err(|what| {
                ApiError::invalid_payload(format!(
                    "Field \"{name}\" of type {} in collection \"{}\" has to be {what}, {v} given",
                    f.type_name, self.name
                ))
            })?;
            out.push((i, value));
        }
        Ok(out)
    }

    /// Creates `payloads` as one transaction: all of them, or none and the
    /// first error. Returns their keys in order.
    pub fn create_many(&mut self, payloads: &[&Value], ctx: &Ctx) -> Result<Vec<Key>, ApiError> {
        let n = self.fields.len();
        let mut next = self.next_id;
        let mut rows: Vec<(Key, Row)> = Vec::with_capacity(payloads.len());
        let mut keys = HashSet::new();
        let mut seen: Vec<HashSet<String>> = vec![HashSet::new(); self.unique.len()];
        for payload in payloads {
            let changes = self.prepare(payload, ctx)?;
            let mut errors = Vec::new();
            for (i, f) in self.fields.iter().enumerate() {
                if f.nullable || f.server_filled() || f.kind == Kind::Alias {
                    continue;
                }
                match changes.iter().find(|(j, _)| *j == i) {
                    None if f.default.is_null() => {
                        errors.push(ApiError::failed_validation(&f.name, "required"))
                    }
                    Some((_, Value::Null)) => {
                        errors.push(ApiError::failed_validation(&f.name, "nnull"))
                    }
                    _ => {}
                }
            }
            if !errors.is_empty() {
                return Err(ApiError::merge(errors));
            }
            let mut row = vec![Value::Null; n];
            for (i, f) in self.fields.iter().enumerate() {
                if !f.default.is_null() && !f.pk {
                    row[i] = cast(f.kind, &f.default).unwrap_or(Value::Null);
                }
            }
            for (i, v) in changes {
                row[i] = v;
            }
            for (i, f) in self.fields.iter().enumerate() {
                if f.has_special("date-created") {
                    row[i] = now_value(f.kind, ctx.now);
                } else if f.has_special("user-created") {
                    row[i] = json!(ctx.user);
                } else if (f.has_special("uuid") || (f.pk && f.kind == Kind::Uuid))
                    && row[i].is_null()
                {
                    row[i] = json!(new_uuid());
                }
            }
            let pkf = &self.fields[self.pk];
            let key = if !row[self.pk].is_null() {
                Key::from_json(pkf.kind, &row[self.pk]).ok_or_else(|| {
                    ApiError::invalid_payload(format!(
                        "\"{}\" is not a valid primary key",
                        row[self.pk]
                    ))
                })?
            } else if pkf.auto_increment && pkf.kind.integral() {
                row[self.pk] = json!(next);
                Key::Int(next)
            } else {
                return Err(ApiError::failed_validation(&pkf.name, "required"));
            };
            if let Key::Int(k) = key {
                next = next.max(k.saturating_add(1));
            }
            if self.items.contains_key(&key) || !keys.insert(key.clone()) {
                return Err(ApiError::not_unique(
                    &self.name,
                    &pkf.name,
                    &key.text(),
                    true,
                ));
            }
            for (u, (i, map)) in self.unique.iter().enumerate() {
                if let Some(t) = unique_text(&row[*i]) {
                    if map.contains_key(&t) || !seen[u].insert(t.clone()) {
                        return Err(ApiError::not_unique(
                            &self.name,
                            &self.fields[*i].name,
                            &t,
                            false,
                        ));
                    }
                }
            }
            rows.push((key, row.into_boxed_slice()));
        }
        self.next_id = next;
        let mut out = Vec::with_capacity(rows.len());
        for (key, row) in rows {
            index_add(&mut self.time_index, &mut self.unique, &key, &row);
            self.items.insert(key.clone(), row);
            out.push(key);
        }
        Ok(out)
    }

    /// Checks an update's payload: its values, cast. The key may be given,
    /// unchanged.
    pub fn check_update(
        &self,
        key: &Key,
        payload: &Value,
        ctx: &Ctx,
    ) -> Result<Vec<(usize, Value)>, ApiError> {
        let mut changes = self.prepare(payload, ctx)?;
        let mut errors = Vec::new();
        for (i, v) in &changes {
            let f = &self.fields[*i];
            if f.pk && Key::from_json(f.kind, v).as_ref() != Some(key) {
                return Err(ApiError::invalid_payload(format!(
                    "The primary key \"{}\" can't be changed by the simulator",
                    f.name
                )));
            }
            if !f.nullable && v.is_null() {
                errors.push(ApiError::failed_validation(&f.name, "nnull"));
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::merge(errors));
        }
        changes.retain(|(i, _)| *i != self.pk);
        Ok(changes)
    }

    /// Applies checked `changes` to item `key`; false when there is no such item.
    pub fn apply_update(
        &mut self,
        key: &Key,
        changes: &[(usize, Value)],
        ctx: &Ctx,
    ) -> Result<bool, ApiError> {
        let Some(old) = self.items.get(key) else {
            return Ok(false);
        };
        for (i, map) in &self.unique {
            if let Some((_, v)) = changes.iter().find(|(j, _)| j == i) {
                if let Some(t) = unique_text(v) {
                    if map.get(&t).is_some_and(|k| k != key) {
                        return Err(ApiError::not_unique(
                            &self.name,
                            &self.fields[*i].name,
                            &t,
                            false,
                        ));
                    }
                }
            }
        }
        let mut row = old.clone();
        for (i, v) in changes {
            row[*i] = v.clone();
        }
        for (i, f) in self.fields.iter().enumerate() {
            if f.has_special("date-updated") {
                row[i] = now_value(f.kind, ctx.now);
            } else if f.has_special("user-updated") {
                row[i] = json!(ctx.user);
            }
        }
        let old = self.items.insert(key.clone(), row).expect("the item");
        index_remove(&mut self.time_index, &mut self.unique, key, &old);
        let row = &self.items[key];
        index_add(&mut self.time_index, &mut self.unique, key, row);
        Ok(true)
    }

    /// Deletes item `key`; false when there was none.
    pub fn delete(&mut self, key: &Key) -> bool {
        match self.items.remove(key) {
            Some(row) => {
                index_remove(&mut self.time_index, &mut self.unique, key, &row);
                true
            }
            None => false,
        }
    }
}

fn index_add(
    times: &mut [(usize, BTreeSet<(i64, Key)>)],
    unique: &mut [(usize, HashMap<String, Key>)],
    key: &Key,
    row: &[Value],
) {
    for (i, set) in times.iter_mut() {
        if let Some(ms) = row.get(*i).and_then(ts_millis) {
            set.insert((ms, key.clone()));
        }
    }
    for (i, map) in unique.iter_mut() {
        if let Some(t) = row.get(*i).and_then(unique_text) {
            map.insert(t, key.clone());
        }
    }
}

fn index_remove(
    times: &mut [(usize, BTreeSet<(i64, Key)>)],
    unique: &mut [(usize, HashMap<String, Key>)],
    key: &Key,
    row: &[Value],
) {
    for (i, set) in times.iter_mut() {
        if let Some(ms) = row.get(*i).and_then(ts_millis) {
            set.remove(&(ms, key.clone()));
        }
    }
    for (i, map) in unique.iter_mut() {
        if let Some(t) = row.get(*i).and_then(unique_text) {
            if map.get(&t) == Some(key) {
                map.remove(&t);
            }
        }
    }
}

/// Everything the simulator holds.
#[derive(Default)]
pub(crate) struct Store {
    pub collections: BTreeMap<String, Collection>,
    pub activity: ActivityLog,
}

/// Directus' own collections, listed by `GET /collections` (never by the
/// connector, which skips `directus_*`).
pub(crate) const SYSTEM_COLLECTIONS: &[&str] = &[
    "directus_activity",
    "directus_collections",
    "directus_fields",
    "directus_files",
    "directus_permissions",
    "directus_roles",
    "directus_settings",
    "directus_users",
];

pub(crate) fn system_collection(name: &str) -> Value {
    json!({"collection": name, "meta": {"collection": name, "system": true, "hidden": false,
           "singleton": name == "directus_settings", "accountability": "all", "note": null},
           "schema": {"name": name, "comment": null}})
}

impl Store {
    pub fn collection(&self, name: &str) -> Option<&Collection> {
        self.collections.get(name).filter(|c| c.table)
    }

    pub fn collection_mut(&mut self, name: &str) -> Option<&mut Collection> {
        self.collections.get_mut(name).filter(|c| c.table)
    }
}
