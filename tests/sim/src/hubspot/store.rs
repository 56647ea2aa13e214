//! The simulator's state: property definitions and records of each object
//! type, and the record lifecycle (create, update, archive, restore) shared by
//! the HTTP API and the Rust handle.
//!
//! Reference: "CRM API | Objects" (https://developers.hubspot.com/docs/api/crm/understanding-the-crm):
//! records are `{"id","properties","createdAt","updatedAt","archived"}`;
//! "Delete" archives a record ("Archived records can be restored within 90
//! days"), and archived records are listed with `archived=true`, with `archivedAt`.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

use super::model::{standard_properties, ApiError, ObjectType, PropertyDef};
use super::values::{invalid_values, iso, write_value, PropError};
use super::webhook::{Change, Outbox, What};

#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub id: u64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
    /// stored property values, as HubSpot's strings; system properties are derived
    pub values: BTreeMap<String, String>,
}

pub(crate) struct Objects {
    pub props: BTreeMap<String, PropertyDef>,
    /// by id: ids grow, so this is also creation order
    pub records: BTreeMap<u64, Record>,
}

pub(crate) struct Store {
    pub objects: HashMap<ObjectType, Objects>,
    next_id: u64,
    /// the webhook subscription's undelivered changes, once subscribed
    pub webhooks: Option<Outbox>,
    /// ids of records merged away, and the record each now points to
    pub merged_into: HashMap<(ObjectType, u64), u64>,
}

/// Validated values of one input, ready to apply.
pub(crate) type Values = Vec<(String, Option<String>)>;

impl Store {
    pub fn new(now: DateTime<Utc>) -> Store {
        let objects = [
            ObjectType::Contacts,
            ObjectType::Companies,
            ObjectType::Deals,
        ]
        .into_iter()
        .map(|ty| {
            let props = standard_properties(ty, now)
                .into_iter()
                .map(|p| (p.name.clone(), p))
                .collect();
            (
                ty,
                Objects {
                    props,
                    records: BTreeMap::new(),
                },
            )
        })
        .collect();
        // Record ids are numbers, unique in the portal, rendered as strings.
        Store {
            objects,
            next_id: 10_001,
            webhooks: None,
            merged_into: HashMap::new(),
        }
    }

    /// A new record id.
    pub fn allocate_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// Queues a change for the webhook subscription, if there is one.
    pub(crate) fn changed(&mut self, ty: ObjectType, id: u64, what: What, at: DateTime<Utc>) {
        if let Some(outbox) = &mut self.webhooks {
            outbox.push(Change { ty, id, what, at });
        }
    }

    pub fn of(&self, ty: ObjectType) -> &Objects {
        &self.objects[&ty]
    }

    pub fn of_mut(&mut self, ty: ObjectType) -> &mut Objects {
        self.objects.get_mut(&ty).expect("every type has a store")
    }

    /// Validates a `properties` object against the definitions of `ty`.
    /// Every invalid value is reported at once, as HubSpot does.
    pub fn validate(&self, ty: ObjectType, properties: &Value) -> Result<Values, ApiError> {
        let Some(map) = properties.as_object() else {
            return Err(ApiError::validation(format!(
                "Invalid input JSON: properties must be an object, was {properties}"
            )));
        };
        let defs = &self.of(ty).props;
        let mut values = Vec::new();
        let mut errors = Vec::new();
        for (name, v) in map {
            match defs.get(name) {
                None => errors.push(PropError {
                    name: name.clone(),
                    code: "PROPERTY_DOESNT_EXIST",
                    message: format!("Property \"{name}\" does not exist"),
                }),
                Some(def) => match write_value(def, v) {
                    Ok(value) => values.push((name.clone(), value)),
                    Err(e) => errors.push(e),
                },
            }
        }
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(invalid_values(&errors))
        }
    }

    /// Contacts are deduplicated by email: "HubSpot uses email addresses to
    /// deduplicate contacts ... a contact with an existing email address cannot
    /// be created" — 409 CONFLICT "Contact already exists. Existing ID: 512"
    /// (Contacts: "Create contacts").
    pub fn check_unique(
        &self,
        ty: ObjectType,
        values: &Values,
        except: Option<u64>,
        pending: &[String],
    ) -> Result<(), ApiError> {
        if ty != ObjectType::Contacts {
            return Ok(());
        }
        let Some(email) = values
            .iter()
            .find(|(k, _)| k == "email")
            .and_then(|(_, v)| v.as_ref())
            .map(|e| e.to_lowercase())
        else {
            return Ok(());
        };
        let existing = self.of(ty).records.values().find(|r| {
            r.archived_at.is_none()
                && Some(r.id) != except
                && r.values.get("email").map(|e| e.to_lowercase()) == Some(email.clone())
        });
        if let Some(r) = existing {
            return Err(ApiError::new(
                409,
                "CONFLICT",
                format!("Contact already exists. Existing ID: {}", r.id),
            ));
        }
        if pending.contains(&email) {
            return Err(ApiError::new(
                409,
                "CONFLICT",
                format!("Duplicate email {email} in batch input"),
            ));
        }
        Ok(())
    }

    /// Creates a record from validated values.
    pub fn insert(&mut self, ty: ObjectType, values: Values, now: DateTime<Utc>) -> u64 {
        let id = self.allocate_id();
        let record = Record {
            id,
            created: now,
            updated: now,
            archived_at: None,
            values: values
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect(),
        };
        self.of_mut(ty).records.insert(id, record);
        self.changed(ty, id, What::Creation, now);
        id
    }

    /// Validates and creates one record.
    pub fn create(
        &mut self,
        ty: ObjectType,
        properties: &Value,
        now: DateTime<Utc>,
    ) -> Result<u64, ApiError> {
        let values = self.validate(ty, properties)?;
        self.check_unique(ty, &values, None, &[])?;
        Ok(self.insert(ty, values, now))
    }

    /// An active (not archived) record.
    pub fn active(&self, ty: ObjectType, id: &str) -> Option<&Record> {
        let id: u64 = id.trim().parse().ok()?;
        self.of(ty)
            .records
            .get(&id)
            .filter(|r| r.archived_at.is_none())
    }

    /// Applies validated values to an active record. Every write moves the
    /// last-modified date, even one that changes nothing.
    pub fn apply(&mut self, ty: ObjectType, id: u64, values: Values, now: DateTime<Utc>) {
        let record = self
            .of_mut(ty)
            .records
            .get_mut(&id)
            .expect("applied to an existing record");
        let mut changed = Vec::new();
        for (k, v) in values {
            let old = match &v {
                Some(v) => record.values.insert(k.clone(), v.clone()),
                None => record.values.remove(&k),
            };
            // "propertyChange" is sent when the value changes, not on every write.
            if old != v {
                changed.push(What::PropertyChange(k, v));
            }
        }
        record.updated = now.max(record.updated);
        for what in changed {
            self.changed(ty, id, what, now);
        }
    }

    /// Validates and applies an update of one active record; 404 otherwise.
    pub fn update(
        &mut self,
        ty: ObjectType,
        id: &str,
        properties: &Value,
        now: DateTime<Utc>,
    ) -> Result<u64, ApiError> {
        let record = self.active(ty, id).ok_or_else(|| not_found(ty, id))?.id;
        let values = self.validate(ty, properties)?;
        self.check_unique(ty, &values, Some(record), &[])?;
        self.apply(ty, record, values, now);
        Ok(record)
    }

    /// Archives an active record; `false` when there is none (archiving is
    /// idempotent: the API answers 204 either way).
    pub fn archive(&mut self, ty: ObjectType, id: &str, now: DateTime<Utc>) -> bool {
        let Some(id) = self.active(ty, id).map(|r| r.id) else {
            return false;
        };
        let record = self.of_mut(ty).records.get_mut(&id).expect("active");
        record.archived_at = Some(now);
        record.updated = now.max(record.updated);
        self.changed(ty, id, What::Deletion, now);
        true
    }

    /// Restores an archived record (as "Restore" in the recycle bin does).
    pub fn restore(&mut self, ty: ObjectType, id: &str, now: DateTime<Utc>) -> bool {
        let Ok(id) = id.trim().parse::<u64>() else {
            return false;
        };
        match self.of_mut(ty).records.get_mut(&id) {
            Some(r) if r.archived_at.is_some() => {
                r.archived_at = None;
                r.updated = now.max(r.updated);
                self.changed(ty, id, What::Restore, now);
                true
            }
            _ => false,
        }
    }

    /// Permanently deletes a contact, archived or not ("GDPR delete": the
    /// record is gone, not in the recycle bin); `false` when there is none.
    pub fn gdpr_delete(&mut self, ty: ObjectType, id: &str, now: DateTime<Utc>) -> bool {
        let Ok(id) = id.trim().parse::<u64>() else {
            return false;
        };
        if self.of_mut(ty).records.remove(&id).is_none() {
            return false;
        }
        self.changed(ty, id, What::PrivacyDeletion, now);
        true
    }

    /// The value of property `name` as the API shows it, system ones included.
    pub fn value(ty: ObjectType, r: &Record, name: &str) -> Option<String> {
        match name {
            "hs_object_id" => Some(r.id.to_string()),
            "createdate" => Some(iso(r.created)),
            n if n == ty.modified_property() => Some(iso(r.updated)),
            n => r.values.get(n).cloned(),
        }
    }

    /// A record as the API returns it. `properties` names what to include
    /// (unknown names are ignored, unset ones are null); `None` gives the
    /// defaults. `hs_object_id`, `createdate` and the last-modified date are
    /// always included.
    pub fn render(&self, ty: ObjectType, r: &Record, properties: Option<&[String]>) -> Value {
        let objects = self.of(ty);
        let mut names: Vec<&str> = match properties {
            Some(list) => list
                .iter()
                .map(String::as_str)
                .filter(|n| objects.props.contains_key(*n))
                .collect(),
            None => ty.default_properties().to_vec(),
        };
        names.extend(["hs_object_id", "createdate", ty.modified_property()]);
        let mut props = Map::new();
        for name in names {
            let v = Self::value(ty, r, name).map_or(Value::Null, Value::String);
            props.insert(name.to_string(), v);
        }
        let mut out = json!({
            "id": r.id.to_string(),
            "properties": props,
            "createdAt": iso(r.created),
            "updatedAt": iso(r.updated),
            "archived": r.archived_at.is_some(),
        });
        if let Some(at) = r.archived_at {
            out["archivedAt"] = json!(iso(at));
        }
        out
    }

    /// A record with every property that has a value.
    pub fn render_all(&self, ty: ObjectType, r: &Record) -> Value {
        let names: Vec<String> = self.of(ty).props.keys().cloned().collect();
        let mut v = self.render(ty, r, Some(&names));
        if let Some(props) = v["properties"].as_object_mut() {
            props.retain(|_, v| !v.is_null());
        }
        v
    }

    /// One page of `GET /crm/v3/objects/{type}`: records with `archived` as
    /// asked, in id order, from the cursor `after` on. The cursor is the
    /// base64 of the next record's id and a newline (the reference's example
    /// `NTI1Cg%3D%3D` is `525\n`), so pages stay stable while records change.
    pub fn list(
        &self,
        ty: ObjectType,
        archived: bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<&Record>, Option<String>), ApiError> {
        let from = match after {
            None => 0,
            Some(token) => decode_after(token).ok_or_else(|| {
                ApiError::validation(format!("Invalid paging cursor `after`: {token}"))
            })?,
        };
        let mut matching = self
            .of(ty)
            .records
            .range(from..)
            .map(|(_, r)| r)
            .filter(|r| r.archived_at.is_some() == archived);
        let page: Vec<&Record> = matching.by_ref().take(limit).collect();
        let next = matching.next().map(|r| encode_after(r.id));
        Ok((page, next))
    }
}

pub(crate) fn encode_after(id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{id}\n"))
}

fn decode_after(token: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    String::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// 404 for a record that does not exist or is archived ("resource not found").
pub(crate) fn not_found(ty: ObjectType, id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Object not found. objectId are usually numeric. ({} {id})",
        ty.upper()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_cursor_round_trips() {
        assert_eq!(encode_after(525), "NTI1Cg==");
        assert_eq!(decode_after("NTI1Cg=="), Some(525));
        assert_eq!(decode_after("nope"), None);
    }
}
