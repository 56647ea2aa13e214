//! Webhook deliveries as HubSpot sends them for the changes of the store.
//!
//! "Webhooks API" (https://developers.hubspot.com/docs/api/webhooks):
//! HubSpot "will send a batch of up to 100 events" in one `POST` to the app's
//! target URL, a JSON array of `{"eventId","subscriptionId","portalId","appId",
//! "occurredAt" (ms),"subscriptionType","attemptNumber","objectId",
//! "changeSource"}` plus `propertyName`/`propertyValue` for
//! `*.propertyChange`; subscription types are `contact.*`, `company.*`,
//! `deal.*` (`creation`, `deletion`, `propertyChange`, `restore`,
//! `privacyDeletion`, ...).
//!
//! Merges (changelog "New subscription types for Webhooks",
//! https://developers.hubspot.com/changelog/new-subscription-types-for-webhooks):
//! a `*.merge` event carries "primaryObjectId: The object id of the resulting
//! primary contact", "mergedObjectIds: An array of Ids that represent the
//! secondary contacts ... an array because in some cases multiple objects can
//! be merged into one primaryObject", "newObjectId: the Id of the object that
//! was created from the result of the merge. This is separate from
//! primaryObjectId because in some cases a new object is created from the
//! result of a merge" and "numberOfPropertiesMoved". Here `objectId` is the
//! new record's id.
//!
//! Generic subscriptions (changelog "Public Beta: Generic Webhook
//! Subscriptions", https://developers.hubspot.com/changelog/public-beta-generic-webhook-subscriptions):
//! "Old Format: subscriptionType: contact.creation (legacy) / New Format:
//! subscriptionType: object.creation (generic format) with the related object
//! defined in the response objectTypeId field"; "Creation, deletion, merge,
//! restore, and property change events will now include objectTypeId in the
//! response payload in raw ID format (e.g., 0-1 for contact)". A GDPR deletion
//! stays `contact.privacyDeletion` (a "hubEvents" subscription beside the
//! `object.*` ones in "Webhooks" for private apps,
//! https://developers.hubspot.com/docs/guides/crm/private-apps/webhooks).
//!
//! "Validating requests from HubSpot"
//! (https://developers.hubspot.com/docs/api/webhooks/validating-requests):
//! `X-HubSpot-Signature-v3` is base64(HMAC-SHA256(client secret, method, URI,
//! body and `X-HubSpot-Request-Timestamp` concatenated)), over the URI with
//! the doc's URL-encoded characters decoded. Requests also carry the older v1 signature
//! (`X-HubSpot-Signature`, hex SHA-256 of client secret + body, with
//! `X-HubSpot-Signature-Version: v1`), as "requests from HubSpot also include
//! older versions of the signature".

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;

use super::model::ObjectType;

/// The header carrying the v3 signature.
pub const SIGNATURE_HEADER: &str = "X-HubSpot-Signature-v3";
/// The header carrying the time of signing, ms since the epoch.
pub const TIMESTAMP_HEADER: &str = "X-HubSpot-Request-Timestamp";
/// "HubSpot will send a batch of up to 100 events."
pub const MAX_BATCH: usize = 100;

/// The simulated portal (HubSpot account) and app.
pub const PORTAL_ID: u64 = 62515;
pub const APP_ID: u64 = 54321;

/// What happened to a record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum What {
    Creation,
    /// a property's new value (`None`: cleared, sent as "")
    PropertyChange(String, Option<String>),
    Deletion,
    Restore,
    PrivacyDeletion,
    /// the change's record is the merge's result: a new record
    Merge {
        primary: u64,
        merged: Vec<u64>,
    },
}

impl What {
    fn suffix(&self) -> &'static str {
        match self {
            What::Creation => "creation",
            What::PropertyChange(..) => "propertyChange",
            What::Deletion => "deletion",
            What::Restore => "restore",
            What::PrivacyDeletion => "privacyDeletion",
            What::Merge { .. } => "merge",
        }
    }
}

/// How the app subscribed: `contact.creation` or `object.creation` with
/// `objectTypeId`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Legacy,
    Generic,
}

/// One change of the store, waiting for a delivery.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub ty: ObjectType,
    pub id: u64,
    pub what: What,
    pub at: DateTime<Utc>,
}

/// The app's subscription: the changes not yet delivered. It exists only
/// once a test subscribes, so that simulators without one keep no log.
#[derive(Default)]
pub(crate) struct Outbox {
    pending: VecDeque<Change>,
    next_event_id: u64,
    pub format: Format,
}

impl Outbox {
    pub fn push(&mut self, change: Change) {
        self.pending.push_back(change);
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The next batch of events (at most 100), oldest first; empty when
    /// nothing changed since the last one.
    pub fn next_batch(&mut self) -> Vec<Value> {
        let n = self.pending.len().min(MAX_BATCH);
        let changes: Vec<Change> = self.pending.drain(..n).collect();
        changes
            .into_iter()
            .map(|c| {
                self.next_event_id += 1;
                event(self.next_event_id, &c, self.format)
            })
            .collect()
    }
}

/// The singular name HubSpot's subscription types use.
fn singular(ty: ObjectType) -> &'static str {
    match ty {
        ObjectType::Contacts => "contact",
        ObjectType::Companies => "company",
        ObjectType::Deals => "deal",
    }
}

/// The raw object type id of generic events.
fn type_id(ty: ObjectType) -> &'static str {
    match ty {
        ObjectType::Contacts => "0-1",
        ObjectType::Companies => "0-2",
        ObjectType::Deals => "0-3",
    }
}

/// One event of a delivery. Each subscription type has a subscription of
/// its own, numbered in a fixed order.
fn event(event_id: u64, c: &Change, format: Format) -> Value {
    let generic = format == Format::Generic && c.what != What::PrivacyDeletion;
    let prefix = if generic { "object" } else { singular(c.ty) };
    let kind = format!("{prefix}.{}", c.what.suffix());
    let subscription = [
        ObjectType::Contacts,
        ObjectType::Companies,
        ObjectType::Deals,
    ]
    .iter()
    .position(|t| *t == c.ty)
    .unwrap_or(0) as u64
        * 10
        + match c.what {
            What::Creation => 1,
            What::PropertyChange(..) => 2,
            What::Deletion => 3,
            What::Restore => 4,
            What::PrivacyDeletion => 5,
            What::Merge { .. } => 6,
        };
    let mut e = json!({
        "eventId": event_id,
        "subscriptionId": 1_000 + subscription,
        "portalId": PORTAL_ID,
        "appId": APP_ID,
        "occurredAt": c.at.timestamp_millis(),
        "subscriptionType": kind,
        "attemptNumber": 0,
        "objectId": c.id,
        "changeSource": "CRM",
    });
    if let What::PropertyChange(name, value) = &c.what {
        e["propertyName"] = json!(name);
        e["propertyValue"] = json!(value.clone().unwrap_or_default());
    }
    if let What::Merge { primary, merged } = &c.what {
        e["primaryObjectId"] = json!(primary);
        e["mergedObjectIds"] = json!(merged);
        e["newObjectId"] = json!(c.id);
        e["numberOfPropertiesMoved"] = json!(0);
    }
    if generic {
        e["objectTypeId"] = json!(type_id(c.ty));
    }
    e
}

/// The URI as signed: the doc's URL-encoded characters decoded.
pub fn signed_uri(url: &str) -> String {
    const TABLE: [(&str, &str); 12] = [
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
        ("%3B", ";"),
    ];
    let mut out = url.to_string();
    for (encoded, decoded) in TABLE {
        out = out
            .replace(encoded, decoded)
            .replace(&encoded.to_lowercase(), decoded);
    }
    out
}

/// `X-HubSpot-Signature-v3`: base64(HMAC-SHA256(client_secret,
/// method + uri + body + timestamp)).
pub fn signature_v3(
    client_secret: &str,
    method: &str,
    url: &str,
    body: &[u8],
    timestamp_ms: i64,
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(method.as_bytes());
    mac.update(signed_uri(url).as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.to_string().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A delivery: its headers and raw body.
pub type Delivery = (Vec<(String, String)>, Vec<u8>);

/// The headers and raw body of a `POST` of `events` to `target_url`, signed
/// at `at`.
pub(crate) fn delivery(
    client_secret: &str,
    target_url: &str,
    events: &[Value],
    at: DateTime<Utc>,
) -> Delivery {
    let body = serde_json::to_vec(events).expect("JSON serializes");
    let ts = at.timestamp_millis();
    let mut v1 = Sha256::new();
    v1.update(client_secret.as_bytes());
    v1.update(&body);
    let headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        (
            SIGNATURE_HEADER.to_string(),
            signature_v3(client_secret, "POST", target_url, &body, ts),
        ),
        (TIMESTAMP_HEADER.to_string(), ts.to_string()),
        (
            "X-HubSpot-Signature".to_string(),
            hex::encode(v1.finalize()),
        ),
        ("X-HubSpot-Signature-Version".to_string(), "v1".to_string()),
    ];
    (headers, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_uri_decodes_the_documented_characters_only() {
        assert_eq!(
            signed_uri("https://h.example.com/a%3Ab%2fc?x=%28y%29%20z"),
            "https://h.example.com/a:b/c?x=(y)%20z"
        );
    }

    #[test]
    fn batches_hold_at_most_100_events_with_growing_ids() {
        let mut outbox = Outbox::default();
        for id in 0..150 {
            outbox.push(Change {
                ty: ObjectType::Deals,
                id,
                what: What::PropertyChange("amount".into(), None),
                at: DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
            });
        }
        let first = outbox.next_batch();
        assert_eq!(first.len(), 100);
        assert_eq!(outbox.pending(), 50);
        let second = outbox.next_batch();
        assert_eq!(second.len(), 50);
        assert_eq!(second[0]["eventId"], 101);
        assert_eq!(second[0]["subscriptionType"], "deal.propertyChange");
        assert_eq!(second[0]["propertyValue"], "");
        assert_eq!(second[0]["occurredAt"], 1_700_000_000_000i64);
        assert!(outbox.next_batch().is_empty());
    }

    #[test]
    fn generic_events_name_the_object_type_id_and_merges_name_every_record() {
        let mut outbox = Outbox {
            format: Format::Generic,
            ..Default::default()
        };
        let at = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        let merge = What::Merge {
            primary: 7,
            merged: vec![8],
        };
        for (id, what) in [(9, merge), (5, What::PrivacyDeletion)] {
            let ty = ObjectType::Contacts;
            outbox.push(Change { ty, id, what, at });
        }
        let batch = outbox.next_batch();
        assert_eq!(batch[0]["subscriptionType"], "object.merge");
        assert_eq!(batch[0]["objectTypeId"], "0-1");
        assert_eq!(
            (
                &batch[0]["primaryObjectId"],
                &batch[0]["mergedObjectIds"],
                &batch[0]["newObjectId"]
            ),
            (&json!(7), &json!([8]), &json!(9))
        );
        assert_eq!(batch[1]["subscriptionType"], "contact.privacyDeletion");
        assert!(batch[1].get("objectTypeId").is_none());
    }
}
