//! Webhook notifications as Airtable sends them (Webhooks overview, "Webhook
//! notification delivery", https://airtable.com/developers/web/api/webhooks-overview).
//!
//! - "When a change that matches the webhook's specification occurs, we send a
//!   notification via a POST request to the relevant webhook's notification URL
//!   containing the base ID and the webhook ID. The request body contains a short
//!   JSON object of the form: `{"base": {"id": "app00000000000000"},"webhook":
//!   {"id": "ach00000000000000"},"timestamp": "2022-02-01T21:25:05.663Z"}`".
//! - `X-Airtable-Content-MAC: hmac-sha256=<hex>`: the HMAC-SHA256 of the raw body
//!   keyed with the base64-decoded `macSecretBase64` that "Create a webhook"
//!   returned (the documented check builds the expected value as
//!   `'hmac-sha256=' + hmac.digest('hex')`).
//!
//! Webhooks are created, listed and refreshed through the API; they expire.
//! Create a webhook (https://airtable.com/developers/web/api/create-a-webhook):
//! "Each webhook created with OAuth or personal access token will expire and
//! be disabled after 7 days. The webhook life can be extended while it is
//! still active by calling refresh webhook or list webhook payloads. After a
//! webhook has expired and been disabled, the webhook's metadata and past
//! payloads can be accessed for an additional 7 days." Refresh a webhook
//! (https://airtable.com/developers/web/api/refresh-a-webhook): "Extend the
//! life of a webhook. The new expiration time will be 7 days after the
//! refresh time. Note that this endpoint only applies to active webhooks with
//! an expiration time." List webhook payloads is not simulated.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::store::{fmt_ts, new_id, ApiError};

/// The header carrying the MAC.
pub const MAC_HEADER: &str = "X-Airtable-Content-MAC";

/// `hmac-sha256=<hex of HMAC-SHA256(mac_secret, body)>`; `mac_secret` is the
/// decoded `macSecretBase64`.
pub fn content_mac(mac_secret: &[u8], body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(mac_secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("hmac-sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A notification's headers and raw body.
pub type Notification = (Vec<(String, String)>, Vec<u8>);

/// The headers and raw body of a notification from webhook `webhook` of `base`.
pub(crate) fn notification(
    base: &str,
    webhook: &str,
    at: DateTime<Utc>,
    mac_secret: &[u8],
) -> Notification {
    let body = json!({
        "base": {"id": base},
        "webhook": {"id": webhook},
        "timestamp": fmt_ts(at),
    });
    let bytes = serde_json::to_vec(&body).expect("JSON serializes");
    let headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        (MAC_HEADER.to_string(), content_mac(mac_secret, &bytes)),
    ];
    (headers, bytes)
}

/// How long a webhook lives after its creation or last refresh, and how long
/// its metadata stays readable once it has expired.
pub(crate) fn lifetime() -> Duration {
    Duration::days(7)
}

/// A webhook registered on a base.
pub(crate) struct Hook {
    pub id: String,
    pub base: String,
    pub notification_url: Option<String>,
    pub specification: Value,
    pub mac_secret: Vec<u8>,
    pub expires: DateTime<Utc>,
}

impl Hook {
    /// "expire and be disabled after 7 days"
    pub fn enabled(&self, now: DateTime<Utc>) -> bool {
        now < self.expires
    }

    /// Past the "additional 7 days", the webhook is no longer found.
    fn gone(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires + lifetime()
    }

    /// An element of List webhooks' `webhooks`
    /// (https://airtable.com/developers/web/api/list-webhooks).
    fn render(&self, now: DateTime<Utc>) -> Value {
        json!({
            "id": self.id,
            "areNotificationsEnabled": self.notification_url.is_some() && self.enabled(now),
            "cursorForNextPayload": 1,
            "isHookEnabled": self.enabled(now),
            "lastNotificationResult": null,
            "lastSuccessfulNotificationTime": null,
            "notificationUrl": self.notification_url,
            "expirationTime": fmt_ts(self.expires),
            "specification": self.specification,
        })
    }
}

/// Registers a webhook; returns its id and its MAC secret (decoded).
pub(crate) fn register(
    hooks: &mut Vec<Hook>,
    base: &str,
    notification_url: Option<String>,
    specification: Value,
    now: DateTime<Utc>,
) -> (String, Vec<u8>) {
    use rand::Rng;
    let mac_secret: Vec<u8> = (0..32).map(|_| rand::rng().random()).collect();
    let id = new_id("ach");
    hooks.push(Hook {
        id: id.clone(),
        base: base.to_string(),
        notification_url,
        specification,
        mac_secret: mac_secret.clone(),
        expires: now + lifetime(),
    });
    (id, mac_secret)
}

/// `/v0/bases/{baseId}/webhooks[/...]` for a base that exists: create
/// (POST), list (GET) and refresh (POST `{webhookId}/refresh`).
pub(crate) fn route(
    hooks: &mut Vec<Hook>,
    base: &str,
    method: &axum::http::Method,
    rest: &[&str],
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    use axum::http::Method;
    hooks.retain(|h| !h.gone(now));
    match (method, rest) {
        (&Method::POST, []) => {
            let v: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_request())?;
            // "specification: object" is the one required member.
            let spec = v
                .get("specification")
                .filter(|s| s.get("options").is_some_and(Value::is_object))
                .ok_or_else(ApiError::invalid_request)?;
            let url = v
                .get("notificationUrl")
                .and_then(Value::as_str)
                .map(String::from);
            let (id, secret) = register(hooks, base, url, spec.clone(), now);
            let expires = hooks.last().map(|h| fmt_ts(h.expires));
            Ok(json!({
                "id": id,
                "macSecretBase64": base64::engine::general_purpose::STANDARD.encode(secret),
                "expirationTime": expires,
            }))
        }
        (&Method::GET, []) => {
            let listed: Vec<Value> = hooks
                .iter()
                .filter(|h| h.base == base)
                .map(|h| h.render(now))
                .collect();
            Ok(json!({ "webhooks": listed }))
        }
        (&Method::POST, [id, "refresh"]) => {
            let hook = hooks
                .iter_mut()
                .find(|h| h.base == base && h.id == *id)
                .ok_or_else(ApiError::not_found)?;
            // The docs name no error for a webhook that is no longer active;
            // this type and wording are the simulator's.
            if !hook.enabled(now) {
                return Err(ApiError::new(
                    422,
                    "INVALID_REQUEST_UNKNOWN",
                    "Only active webhooks with an expiration time can be refreshed",
                ));
            }
            hook.expires = now + lifetime();
            Ok(json!({ "expirationTime": fmt_ts(hook.expires) }))
        }
        _ => Err(ApiError::not_found()),
    }
}
