//! Merging two records: `POST /crm/v3/objects/{type}/merge` and the handle's
//! `HubSpotSim::merge`.
//!
//! References:
//! - "Merge two contacts" (https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/merge-contacts):
//!   a body of `primaryObjectId` ("the record that the merge will generally set
//!   as the current value after the merge") and `objectIdToMerge`; the answer
//!   is the resulting record.
//! - Changelog "Updated merge functionality for contacts and companies"
//!   (https://developers.hubspot.com/changelog/updated-merge-functionality-for-contacts-and-companies):
//!   "a new record with a new ID will be created for the resulting merged
//!   record, with both records merged into the new one ... both of the
//!   previous IDs will point to the resulting merged record, so fetching any
//!   records using the original IDs will return the new merged record with
//!   the new ID"; "the property values of the resulting merged record will use
//!   the latest property values of the primary record as the current value.
//!   Property values from both objects will still be merged onto the new
//!   object". The change makes them "more consistent with merges for other
//!   object types", so deals merge the same way here.
//! - "Merge records" (https://knowledge.hubspot.com/deals/merge-deals): "For
//!   all objects, you can use the Merged [record] IDs property to view
//!   previously merged records": `hs_merged_object_ids`, `;`-separated.
//! - The records merged away are not archived: they leave the lists, the
//!   archived list and search, and only their ids live on as aliases.

use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

use super::model::{ApiError, ObjectType};
use super::store::{not_found, Record, Store};
use super::webhook::What;

/// The property listing the ids merged into a record.
pub(crate) const MERGED_IDS: &str = "hs_merged_object_ids";

impl Store {
    /// The record an id names, following merges to the record it became.
    pub fn resolve(&self, ty: ObjectType, id: u64) -> Option<&Record> {
        let mut id = id;
        // Merges chain (A into C, then C into E); each step is recorded.
        for _ in 0..64 {
            if let Some(r) = self.of(ty).records.get(&id) {
                return Some(r);
            }
            id = *self.merged_into.get(&(ty, id))?;
        }
        None
    }

    /// Merges `other` into `primary`: both leave, a new record holds the
    /// result. Returns the new record's id.
    pub fn merge(
        &mut self,
        ty: ObjectType,
        primary: &str,
        other: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, ApiError> {
        let p = self
            .active(ty, primary)
            .ok_or_else(|| not_found(ty, primary))?
            .clone();
        let o = self
            .active(ty, other)
            .ok_or_else(|| not_found(ty, other))?
            .clone();
        if p.id == o.id {
            return Err(ApiError::validation(format!(
                "Cannot merge a {} with itself",
                ty.upper()
            )));
        }
        let mut merged: BTreeSet<u64> = [p.id, o.id].into();
        for r in [&p, &o] {
            let earlier = r.values.get(MERGED_IDS).map(String::as_str).unwrap_or("");
            merged.extend(
                earlier
                    .split(';')
                    .filter_map(|x| x.trim().parse::<u64>().ok()),
            );
        }
        let mut values = o.values.clone();
        values.extend(p.values.clone());
        let list: Vec<String> = merged.iter().map(u64::to_string).collect();
        values.insert(MERGED_IDS.to_string(), list.join(";"));
        let id = self.allocate_id();
        let objects = self.of_mut(ty);
        objects.records.remove(&p.id);
        objects.records.remove(&o.id);
        objects.records.insert(
            id,
            Record {
                id,
                created: now,
                updated: now,
                archived_at: None,
                values,
            },
        );
        self.merged_into.insert((ty, p.id), id);
        self.merged_into.insert((ty, o.id), id);
        self.changed(
            ty,
            id,
            What::Merge {
                primary: p.id,
                merged: vec![o.id],
            },
            now,
        );
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_merge_makes_a_new_record_and_the_old_ids_point_to_it() {
        let now = Utc::now();
        let mut store = Store::new(now);
        let ty = ObjectType::Contacts;
        let a = store
            .create(ty, &json!({"email": "a@x.co", "firstname": "Ann"}), now)
            .unwrap();
        let b = store
            .create(ty, &json!({"lastname": "Bee", "firstname": "Other"}), now)
            .unwrap();
        let c = store
            .merge(ty, &a.to_string(), &b.to_string(), now)
            .unwrap();
        let r = &store.of(ty).records[&c];
        assert_eq!(r.values["firstname"], "Ann", "the primary's value wins");
        assert_eq!(r.values["lastname"], "Bee", "the other's values are kept");
        assert_eq!(r.values[MERGED_IDS], format!("{a};{b}"));
        assert!(store.active(ty, &a.to_string()).is_none());
        assert_eq!(store.resolve(ty, b).map(|r| r.id), Some(c));
        let (archived, _) = store.list(ty, true, None, 10).unwrap();
        assert!(archived.is_empty(), "merged records are not archived");
        let d = store.create(ty, &json!({"firstname": "Dee"}), now).unwrap();
        let e = store
            .merge(ty, &d.to_string(), &c.to_string(), now)
            .unwrap();
        let r = &store.of(ty).records[&e];
        assert_eq!(r.values[MERGED_IDS], format!("{a};{b};{c};{d}"));
        assert_eq!(store.resolve(ty, a).map(|r| r.id), Some(e));
    }
}
