//! Webhook deliveries as Notion sends them (https://developers.notion.com/reference/webhooks
//! and Event types & delivery, https://developers.notion.com/reference/webhooks-events-delivery).
//!
//! - The one-time verification request: "When you create a subscription, Notion
//!   sends a one-time POST request to your webhook URL. The body of the request
//!   contains a verification_token". It is not signed.
//! - Every event: `X-Notion-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw
//!   body keyed with that verification_token ("Validating event payloads").
//! - The event body: "id", "timestamp", "workspace_id", "workspace_name",
//!   "subscription_id", "integration_id", "type", "authors", "attempt_number",
//!   "entity" {id, type} and the event-specific "data" (for page events, the
//!   page's "parent").

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::model::{new_id, BOT_USER};

/// The simulated workspace, webhook subscription and integration.
pub(crate) const WORKSPACE_ID: &str = "13950b26-c203-4f3b-b97d-93ec06319565";
pub(crate) const WORKSPACE_NAME: &str = "Simulated workspace";
pub(crate) const SUBSCRIPTION_ID: &str = "29d75c0d-5546-4414-8459-7b7a92f1fc4b";
pub(crate) const INTEGRATION_ID: &str = "0ef2e755-4912-8096-91c1-00376a88a5ca";

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Notion-Signature";

/// `sha256=<hex of HMAC-SHA256(verification_token, body)>`.
pub fn signature(verification_token: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(verification_token.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// An event about a page of database `db`, last edited by `author`.
pub(crate) fn page_event(
    kind: &str,
    page: &str,
    db: &str,
    author: &str,
    at: DateTime<Utc>,
) -> Value {
    let author_type = if author == BOT_USER { "bot" } else { "person" };
    json!({
        "id": new_id(),
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "workspace_id": WORKSPACE_ID,
        "workspace_name": WORKSPACE_NAME,
        "subscription_id": SUBSCRIPTION_ID,
        "integration_id": INTEGRATION_ID,
        "type": kind,
        "authors": [{"id": author, "type": author_type}],
        "attempt_number": 1,
        "api_version": "2022-06-28",
        "entity": {"id": page, "type": "page"},
        "data": {"parent": {"id": db, "type": "database"}},
    })
}

/// The headers and raw body of a delivery of `body`, signed when a token is given.
pub(crate) fn delivery(
    body: &Value,
    verification_token: Option<&str>,
) -> (Vec<(String, String)>, Vec<u8>) {
    let bytes = serde_json::to_vec(body).expect("JSON serializes");
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(token) = verification_token {
        headers.push((SIGNATURE_HEADER.to_string(), signature(token, &bytes)));
    }
    (headers, bytes)
}
