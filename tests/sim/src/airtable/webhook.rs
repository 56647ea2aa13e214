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

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::store::fmt_ts;

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

/// The headers and raw body of a notification from webhook `webhook` of `base`.
pub(crate) fn notification(
    base: &str,
    webhook: &str,
    at: DateTime<Utc>,
    mac_secret: &[u8],
) -> (Vec<(String, String)>, Vec<u8>) {
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
