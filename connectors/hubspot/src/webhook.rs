//! HubSpot webhook deliveries: the v3 signature check and the mapping of
//! events to the contract's change events.
//!
//! HubSpot's "Webhooks API" (https://developers.hubspot.com/docs/api/webhooks):
//!
//! - A delivery is a `POST` to the app's target URL whose body is a JSON array
//!   of up to 100 events, each `{"eventId","subscriptionId","portalId","appId",
//!   "occurredAt" (ms),"subscriptionType","attemptNumber","objectId",
//!   "changeSource", ...}`, plus `propertyName`/`propertyValue` for
//!   `*.propertyChange`. Subscription types are `contact.*`, `company.*` and
//!   `deal.*` with the suffixes `creation`, `deletion`, `propertyChange`,
//!   `restore`, `merge`, `privacyDeletion` (and others, such as
//!   `associationChange`, that name no single record).
//! - Events are signals: a `propertyChange` carries one value, not the record.
//! - Generic subscriptions (changelog "Public Beta: Generic Webhook
//!   Subscriptions", https://developers.hubspot.com/changelog/public-beta-generic-webhook-subscriptions)
//!   send `object.creation`, `object.propertyChange`, `object.deletion`,
//!   `object.merge`, `object.restore`, "with the related object defined in the
//!   response objectTypeId field ... in raw ID format (e.g., 0-1 for contact)".
//! - A merge (changelog "New subscription types for Webhooks",
//!   https://developers.hubspot.com/changelog/new-subscription-types-for-webhooks)
//!   names `primaryObjectId`, `mergedObjectIds` ("the secondary contacts ...
//!   multiple objects can be merged into one primaryObject") and `newObjectId`
//!   ("the Id of the object that was created from the result of the merge").
//!   Since contacts and companies merge into a new record (changelog "Updated
//!   merge functionality for contacts and companies"), every id of the merge
//!   but the resulting one is gone.
//!
//! "Validating requests from HubSpot"
//! (https://developers.hubspot.com/docs/api/webhooks/validating-requests),
//! "Validate the v3 request signature":
//!
//! - `X-HubSpot-Signature-v3` is the base64 of HMAC-SHA256, keyed with the
//!   app's client secret, of `requestMethod + requestUri + requestBody +
//!   timestamp`, where the timestamp is the `X-HubSpot-Request-Timestamp`
//!   header (ms since the epoch).
//! - "Reject the request if the timestamp is older than 5 minutes."
//! - `requestUri` is the full URL HubSpot called, with the URL-encoded
//!   characters of the doc's table decoded (`%3A` `:`, `%2F` `/`, `%3F` `?`,
//!   `%40` `@`, `%21` `!`, `%24` `$`, `%27` `'`, `%28` `(`, `%29` `)`, `%2A`
//!   `*`, `%2C` `,`, `%3B` `;`).
//!
//! The connector only sees the path the daemon was called on, not the URL
//! HubSpot used (TLS may end at a proxy), so the URL comes from the setting
//! `webhook_url`: the target URL configured on the app's subscriptions.
//!
//! Everything here is pure; the HMAC itself is computed by the host (the
//! connector never sees the client secret) and the current time is passed in,
//! so the whole flow is unit-tested natively.

use std::collections::BTreeMap;

use serde_json::Value;
use synchost_sdk::{ChangeEvent, ChangeKind, ConnectorError, Settings, WebhookRequest};

use crate::Entity;

/// The header carrying the v3 signature.
pub const SIGNATURE_HEADER: &str = "X-HubSpot-Signature-v3";

/// The header carrying the time HubSpot signed the request, in ms.
pub const TIMESTAMP_HEADER: &str = "X-HubSpot-Request-Timestamp";

/// The setting naming the secret that holds the app's client secret.
pub const SECRET_SETTING: &str = "webhook_secret";

/// The secret name used when the job does not set [`SECRET_SETTING`].
pub const DEFAULT_SECRET: &str = "hubspot_client_secret";

/// The setting holding the target URL of the app's webhook subscriptions.
pub const URL_SETTING: &str = "webhook_url";

/// "Reject the request if the timestamp is older than 5 minutes."
pub const MAX_AGE_MS: i64 = 5 * 60 * 1000;

/// The webhook settings of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// the target URL HubSpot calls; without it no delivery can be verified
    pub url: Option<String>,
    /// the name of the secret holding the app's client secret
    pub secret: String,
}

/// What a verified delivery maps to.
#[derive(Debug, PartialEq)]
pub struct Delivery {
    /// one event per record, its latest in the batch
    pub events: Vec<ChangeEvent>,
    /// the subscription types of the events that map to no configured entity
    pub ignored: Vec<String>,
}

pub use synchost_sdk::signature::header;

/// The webhook settings: `webhook_url` (optional, but deliveries are refused
/// without it) and `webhook_secret` (default `hubspot_client_secret`).
pub fn config_from_settings(settings: &Settings) -> Result<Config, ConnectorError> {
    let secret = match settings.get(SECRET_SETTING).map(str::trim) {
        None => DEFAULT_SECRET.to_string(),
        Some("") => {
            return Err(ConnectorError::InvalidInput(format!(
                "setting `{SECRET_SETTING}` is empty: name the secret holding the HubSpot \
                 app's client secret, or leave the setting out for `{DEFAULT_SECRET}`"
            )))
        }
        Some(name) => name.to_string(),
    };
    let url = match settings.get(URL_SETTING).map(str::trim) {
        None => None,
        Some(url) => Some(valid_url(url)?.to_string()),
    };
    Ok(Config { url, secret })
}

/// A target URL as HubSpot requires one: absolute, `https://` (or `http://`
/// for a local test), with a host.
fn valid_url(url: &str) -> Result<&str, ConnectorError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    match host {
        Some(h) if !h.is_empty() && !url.contains(char::is_whitespace) => Ok(url),
        _ => Err(ConnectorError::InvalidInput(format!(
            "setting `{URL_SETTING}` must be the absolute target URL of the app's webhook \
             subscriptions (e.g. `https://sync.example.com/hooks/my-job`), got `{url}`"
        ))),
    }
}

/// The `requestUri` of the signed message: `url` with the URL-encoded
/// characters of the doc's table decoded, and nothing else.
pub fn request_uri(url: &str) -> String {
    const DECODED: [(&str, char); 12] = [
        ("3A", ':'),
        ("2F", '/'),
        ("3F", '?'),
        ("40", '@'),
        ("21", '!'),
        ("24", '$'),
        ("27", '\''),
        ("28", '('),
        ("29", ')'),
        ("2A", '*'),
        ("2C", ','),
        ("3B", ';'),
    ];
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3);
        let decoded = code.and_then(|c| {
            DECODED
                .iter()
                .find(|(hex, _)| hex.eq_ignore_ascii_case(c))
                .map(|(_, ch)| *ch)
        });
        match decoded {
            Some(ch) => {
                out.push(ch);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `requestMethod + requestUri + requestBody + timestamp`, as bytes: the body
/// goes in as received, so nothing re-encodes it.
pub fn signed_message(method: &str, uri: &str, body: &[u8], timestamp: &str) -> Vec<u8> {
    let mut msg = Vec::with_capacity(method.len() + uri.len() + body.len() + timestamp.len());
    msg.extend_from_slice(method.as_bytes());
    msg.extend_from_slice(uri.as_bytes());
    msg.extend_from_slice(body);
    msg.extend_from_slice(timestamp.as_bytes());
    msg
}

/// The request's timestamp, or `unauthorized` when it is missing, not a
/// number of milliseconds, or older than five minutes at `now_ms`.
pub fn check_timestamp(value: Option<&str>, now_ms: i64) -> Result<i64, ConnectorError> {
    let value = value.map(str::trim).ok_or_else(|| {
        ConnectorError::Unauthorized(format!(
            "the HubSpot webhook has no `{TIMESTAMP_HEADER}` header"
        ))
    })?;
    let at: i64 = value.parse().map_err(|_| {
        ConnectorError::Unauthorized(format!(
            "the `{TIMESTAMP_HEADER}` header is not milliseconds since the epoch: `{value}`"
        ))
    })?;
    let age = now_ms.saturating_sub(at);
    if age > MAX_AGE_MS {
        return Err(ConnectorError::Unauthorized(format!(
            "the HubSpot webhook was signed {} s ago (`{TIMESTAMP_HEADER}: {value}`); \
             HubSpot's v3 signature is refused after 5 minutes, so a replayed \
             delivery cannot pass",
            age / 1000
        )));
    }
    Ok(at)
}

/// The object type of a subscription type's prefix.
fn object_type_of(prefix: &str) -> Option<&'static str> {
    match prefix {
        "contact" => Some("contacts"),
        "company" => Some("companies"),
        "deal" => Some("deals"),
        _ => None,
    }
}

/// The object type of a generic event's `objectTypeId` ("Object type IDs":
/// contacts `0-1`, companies `0-2`, deals `0-3`).
fn object_type_of_id(type_id: &str) -> Option<&'static str> {
    match type_id {
        "0-1" => Some("contacts"),
        "0-2" => Some("companies"),
        "0-3" => Some("deals"),
        _ => None,
    }
}

/// What an event suffix means for the record it names; `None` for events
/// that are not about one record's existence or values.
fn kind_of(suffix: &str) -> Option<ChangeKind> {
    match suffix {
        // privacyDeletion: "a contact was permanently deleted for GDPR".
        "deletion" | "privacyDeletion" => Some(ChangeKind::Delete),
        // Restore brings an archived record back (a merge is `changes_of`'s).
        "creation" | "propertyChange" | "restore" | "merge" => Some(ChangeKind::Upsert),
        _ => None,
    }
}

/// A record id as HubSpot sends it: a positive number (or its digits).
fn object_id(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_u64().filter(|n| *n > 0).map(|n| n.to_string()),
        Value::String(s) if crate::write::valid_id(s) => Some(s.clone()),
        _ => None,
    }
}

/// The records an event is about, and what happened to each. A merge ends
/// every record it names but the one that holds the result, which changed.
fn changes_of(
    event: &Value,
    index: usize,
    ty: &str,
    kind: ChangeKind,
    merge: bool,
) -> Result<Vec<(String, ChangeKind)>, ConnectorError> {
    if !merge {
        let id = object_id(&event["objectId"]).ok_or_else(|| {
            ConnectorError::InvalidInput(format!(
                "HubSpot webhook event {index} (`{ty}`) has no valid `objectId`: {}",
                event["objectId"]
            ))
        })?;
        return Ok(vec![(id, kind)]);
    }
    let winner = ["newObjectId", "primaryObjectId", "objectId"]
        .iter()
        .find_map(|k| object_id(&event[*k]))
        .ok_or_else(|| {
            ConnectorError::InvalidInput(format!(
                "HubSpot webhook event {index} (`{ty}`) names no merged record: no valid \
                 `newObjectId`, `primaryObjectId` or `objectId`"
            ))
        })?;
    let mut gone: Vec<String> = event["mergedObjectIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(object_id)
        .collect();
    gone.extend(object_id(&event["primaryObjectId"]));
    gone.retain(|id| *id != winner);
    gone.dedup();
    let mut out: Vec<(String, ChangeKind)> = gone
        .into_iter()
        .map(|id| (id, ChangeKind::Delete))
        .collect();
    out.push((winner, ChangeKind::Upsert));
    Ok(out)
}

/// A record's latest event so far: where it first appeared (event, and
/// place within the event), the event, and its `occurredAt`.
type Kept = ((usize, usize), ChangeEvent, i64);

/// The change events of a (verified) batch. `entities` maps entity names to
/// their object types, as configured; every entity of an event's object
/// type gets the event. Several events about one record collapse into its
/// latest (by `occurredAt`; among equals, the later in the batch), so five
/// property changes are one upsert and a creation followed by a deletion is
/// a delete.
pub fn events_from(
    body: &[u8],
    entities: &BTreeMap<String, Entity>,
) -> Result<Delivery, ConnectorError> {
    let batch: Value = serde_json::from_slice(body).map_err(|e| {
        ConnectorError::InvalidInput(format!("the HubSpot webhook body is not JSON: {e}"))
    })?;
    let batch = batch.as_array().ok_or_else(|| {
        ConnectorError::InvalidInput(
            "the HubSpot webhook body is not a JSON array of events".into(),
        )
    })?;
    // (entity, id) -> (position of first appearance, event, occurredAt)
    let mut latest: BTreeMap<(String, String), Kept> = BTreeMap::new();
    let mut ignored = Vec::new();
    for (index, event) in batch.iter().enumerate() {
        let ty = event["subscriptionType"].as_str().ok_or_else(|| {
            ConnectorError::InvalidInput(format!(
                "HubSpot webhook event {index} has no `subscriptionType`"
            ))
        })?;
        let Some((prefix, suffix)) = ty.split_once('.') else {
            ignored.push(ty.to_string());
            continue;
        };
        let object_type = if prefix == "object" {
            let type_id = event["objectTypeId"].as_str().ok_or_else(|| {
                ConnectorError::InvalidInput(format!(
                    "HubSpot webhook event {index} (`{ty}`) has no `objectTypeId`"
                ))
            })?;
            object_type_of_id(type_id)
        } else {
            object_type_of(prefix)
        };
        let mapped = object_type.zip(kind_of(suffix));
        let Some((object_type, kind)) = mapped else {
            ignored.push(ty.to_string());
            continue;
        };
        let targets: Vec<&String> = entities
            .iter()
            .filter(|(_, e)| e.object_type == object_type)
            .map(|(name, _)| name)
            .collect();
        if targets.is_empty() {
            ignored.push(ty.to_string());
            continue;
        }
        let changes = changes_of(event, index, ty, kind, suffix == "merge")?;
        let occurred = event["occurredAt"].as_i64();
        let at = occurred.map(crate::time::from_millis);
        let order = occurred.unwrap_or(i64::MIN);
        for entity in targets {
            for (sub, (id, kind)) in changes.iter().enumerate() {
                let change = ChangeEvent {
                    entity: entity.clone(),
                    id: id.clone(),
                    kind: *kind,
                    at: at.clone(),
                };
                let key = (entity.clone(), id.clone());
                match latest.get_mut(&key) {
                    Some((_, kept, kept_order)) => {
                        if order >= *kept_order {
                            *kept = change;
                            *kept_order = order;
                        }
                    }
                    None => {
                        latest.insert(key, ((index, sub), change, order));
                    }
                }
            }
        }
    }
    let mut events: Vec<((usize, usize), ChangeEvent)> =
        latest.into_values().map(|(i, e, _)| (i, e)).collect();
    events.sort_by(|a, b| (a.0, &a.1.entity).cmp(&(b.0, &b.1.entity)));
    Ok(Delivery {
        events: events.into_iter().map(|(_, e)| e).collect(),
        ignored,
    })
}

/// Verifies and parses one delivery at `now_ms`. `hmac` computes
/// HMAC-SHA256 of a message with the secret named `secret` (the host's
/// `crypto` import).
pub fn handle(
    req: &WebhookRequest,
    config: &Config,
    entities: &BTreeMap<String, Entity>,
    now_ms: i64,
    hmac: impl FnOnce(&str, &[u8]) -> Result<Vec<u8>, String>,
) -> Result<Delivery, ConnectorError> {
    let signature = header(&req.headers, SIGNATURE_HEADER).ok_or_else(|| {
        ConnectorError::Unauthorized(format!(
            "the HubSpot webhook has no `{SIGNATURE_HEADER}` header (only v3 signatures \
             are accepted)"
        ))
    })?;
    let raw_timestamp = header(&req.headers, TIMESTAMP_HEADER);
    check_timestamp(raw_timestamp, now_ms)?;
    let url = config.url.as_deref().ok_or_else(|| {
        ConnectorError::InvalidInput(format!(
            "cannot check a HubSpot webhook signature without setting `{URL_SETTING}`: \
             set it to the target URL of the app's webhook subscriptions, which HubSpot signs"
        ))
    })?;
    let timestamp = raw_timestamp.unwrap_or_default().trim();
    let message = signed_message(&req.method, &request_uri(url), &req.body, timestamp);
    let secret = &config.secret;
    let mac = hmac(secret, &message).map_err(|e| {
        ConnectorError::Fatal(format!(
            "cannot check the HubSpot webhook signature with secret `{secret}` \
             (setting `{SECRET_SETTING}`): {e}"
        ))
    })?;
    if !synchost_sdk::signature::verify_base64(signature, &mac) {
        return Err(ConnectorError::Unauthorized(format!(
            "the `{SIGNATURE_HEADER}` signature does not match the request (HMAC-SHA256 \
             of method, `{URL_SETTING}` `{url}`, body and timestamp, keyed with secret \
             `{secret}`)"
        )));
    }
    events_from(&req.body, entities)
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
