//! Notion webhook deliveries: the signature check and the mapping of events
//! to the contract's change events.
//!
//! Notion's webhooks (https://developers.notion.com/reference/webhooks):
//!
//! - "When you create a subscription, Notion sends a one-time POST request to
//!   your webhook URL. The body of the request contains a
//!   `verification_token`" (Step 2, Verifying the subscription). That request
//!   is not signed.
//! - Every event afterwards carries `X-Notion-Signature: sha256=<hex>`, the
//!   HMAC-SHA256 of the raw request body keyed with that `verification_token`
//!   (Step 3, Validating event payloads).
//! - An event is `{"id","timestamp","workspace_id","subscription_id",
//!   "integration_id","type","authors","entity":{"id","type"},"data":{..}}`;
//!   for page events `data.parent` names the page's parent, a database for
//!   the rows this connector syncs (Event types & delivery,
//!   https://developers.notion.com/reference/webhooks-events-delivery). The
//!   event is only a signal: it carries no property values.
//!
//! Everything here is pure; the HMAC itself is computed by the host (the
//! connector never sees the token) and passed in as a function, so the whole
//! flow is unit-tested natively.

use std::collections::BTreeMap;

use serde_json::Value;
use synchost_sdk::{ChangeEvent, ChangeKind, ConnectorError, WebhookRequest};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Notion-Signature";

/// What the header's value starts with: `sha256=<hex>`.
pub const SIGNATURE_PREFIX: &str = "sha256=";

/// The setting naming the secret that holds the subscription's `verification_token`.
pub const SECRET_SETTING: &str = "webhook_secret";

/// The secret name used when the job does not set [`SECRET_SETTING`].
pub const DEFAULT_SECRET: &str = "notion_webhook_secret";

/// What a delivery turned out to be.
#[derive(Debug, PartialEq)]
pub enum Delivery {
    /// The one-time, unsigned subscription verification request.
    Verification,
    /// A signed event, with the change events it maps to (possibly none).
    Events(Vec<ChangeEvent>),
}

/// The first header called `name`, compared case-insensitively.
pub use synchost_sdk::signature::header;

/// Whether `body` is the subscription verification request: a JSON object
/// with a string `verification_token` and no event `type`.
pub fn is_verification_request(body: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            map.get("verification_token").is_some_and(Value::is_string) && !map.contains_key("type")
        }
        _ => false,
    }
}

/// The hex digest of a signature header value, or `unauthorized` when the
/// header is missing or does not start with `sha256=`.
pub fn signature_hex(value: Option<&str>) -> Result<&str, ConnectorError> {
    let value = value.ok_or_else(|| {
        ConnectorError::Unauthorized(format!(
            "the Notion webhook has no `{SIGNATURE_HEADER}` header"
        ))
    })?;
    value.trim().strip_prefix(SIGNATURE_PREFIX).ok_or_else(|| {
        ConnectorError::Unauthorized(format!(
            "the `{SIGNATURE_HEADER}` header does not start with `{SIGNATURE_PREFIX}`"
        ))
    })
}

/// Whether `expected_hex` (the signature the request carries, hex without
/// prefix, either case) is `mac` (what the host computed). The comparison
/// takes the same time whichever byte differs.
pub use synchost_sdk::signature::verify_hex as verify;

/// A Notion id without dashes, lowercased, for comparing ids.
fn bare_id(id: &str) -> String {
    id.chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The change events of a (verified) event body. `databases` maps entity
/// names to database ids, as configured.
///
/// A page event (`entity.type == "page"`) whose `data.parent` is a
/// configured database becomes one event for that entity: `delete` for
/// `page.deleted` (moved to the trash), `upsert` for anything else
/// (`page.created`, `page.properties_updated`, `page.content_updated`,
/// `page.moved`, `page.undeleted`, ...), at the event's `timestamp`. Other
/// events (databases, comments, pages elsewhere) map to none.
pub fn events_from(
    body: &[u8],
    databases: &BTreeMap<String, String>,
) -> Result<Vec<ChangeEvent>, ConnectorError> {
    let event: Value = serde_json::from_slice(body).map_err(|e| {
        ConnectorError::InvalidInput(format!("the Notion webhook body is not JSON: {e}"))
    })?;
    let kind = event["type"].as_str().ok_or_else(|| {
        ConnectorError::InvalidInput("the Notion webhook event has no `type`".into())
    })?;
    if event["entity"]["type"].as_str() != Some("page") {
        return Ok(Vec::new());
    }
    let page = event["entity"]["id"]
        .as_str()
        .filter(|id| crate::api::valid_id(id))
        .ok_or_else(|| {
            ConnectorError::InvalidInput(format!(
                "the Notion `{kind}` event has no valid `entity.id`"
            ))
        })?;
    // API version 2022-06-28 names the database in `parent.id` (type
    // `database`); `database_id` is accepted too. From 2025-09-03 "all webhooks
    // for entities that can have data sources as parents now include a new field
    // `data_source_id` under the `data.parent` object" (upgrade guide, Webhook
    // changes): an entity configured by data source matches on it.
    let parent = &event["data"]["parent"];
    let parents: Vec<String> = ["id", "database_id", "data_source_id"]
        .iter()
        .filter_map(|k| parent[*k].as_str())
        .map(bare_id)
        .collect();
    let change = if kind == "page.deleted" {
        ChangeKind::Delete
    } else {
        ChangeKind::Upsert
    };
    let at = event["timestamp"].as_str().map(String::from);
    Ok(databases
        .iter()
        .filter(|(_, db)| parents.contains(&bare_id(db)))
        .map(|(entity, _)| ChangeEvent {
            entity: entity.clone(),
            id: page.to_string(),
            kind: change,
            at: at.clone(),
        })
        .collect())
}

/// Verifies and parses one delivery. `hmac` computes HMAC-SHA256 of a
/// message with the secret named `secret` (the host's `crypto` import).
pub fn handle(
    req: &WebhookRequest,
    secret: &str,
    databases: &BTreeMap<String, String>,
    hmac: impl FnOnce(&str, &[u8]) -> Result<Vec<u8>, String>,
) -> Result<Delivery, ConnectorError> {
    if is_verification_request(&req.body) {
        return Ok(Delivery::Verification);
    }
    let expected = signature_hex(header(&req.headers, SIGNATURE_HEADER))?;
    let mac = hmac(secret, &req.body).map_err(|e| {
        ConnectorError::Fatal(format!(
            "cannot check the Notion webhook signature with secret `{secret}` \
             (setting `{SECRET_SETTING}`): {e}"
        ))
    })?;
    if !verify(expected, &mac) {
        return Err(ConnectorError::Unauthorized(format!(
            "the `{SIGNATURE_HEADER}` signature does not match the body \
             (HMAC-SHA256 keyed with secret `{secret}`)"
        )));
    }
    events_from(&req.body, databases).map(Delivery::Events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DB: &str = "1c2f0e2a-7d3b-4c5e-9f00-0123456789ab";
    const PAGE: &str = "59833787-2cf9-4fdf-8782-e53db20768a5";

    fn databases() -> BTreeMap<String, String> {
        BTreeMap::from([
            // configured without dashes, sent with them
            ("tasks".to_string(), DB.replace('-', "")),
            (
                "people".to_string(),
                "2c2f0e2a7d3b4c5e9f000123456789ab".to_string(),
            ),
        ])
    }

    fn event(kind: &str, parent: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "56c0ea14-7d3c-4e1f-9f2f-000000000001",
            "timestamp": "2024-12-05T23:57:05.379Z",
            "workspace_id": "13950b26-c203-4f3b-b97d-93ec06319565",
            "workspace_name": "Quantify Labs",
            "subscription_id": "29d75c0d-5546-4414-8459-7b7a92f1fc4b",
            "integration_id": "0ef2e755-4912-8096-91c1-00376a88a5ca",
            "type": kind,
            "authors": [{"id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person"}],
            "attempt_number": 1,
            "entity": {"id": PAGE, "type": "page"},
            "data": {"parent": {"id": parent, "type": "database"}}
        }))
        .unwrap()
    }

    /// A stand-in for the host: a MAC that is the body's length, repeated.
    fn fake_mac(body: &[u8]) -> Vec<u8> {
        vec![(body.len() % 256) as u8; 32]
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn request(body: Vec<u8>, signature: Option<String>) -> WebhookRequest {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(s) = signature {
            headers.push(("x-notion-signature".to_string(), s));
        }
        WebhookRequest {
            method: "POST".into(),
            path: "/hooks/job".into(),
            headers,
            body,
        }
    }

    fn run(req: &WebhookRequest) -> Result<Delivery, ConnectorError> {
        handle(req, "notion_webhook_secret", &databases(), |name, body| {
            assert_eq!(name, "notion_webhook_secret");
            Ok(fake_mac(body))
        })
    }

    #[test]
    fn verify_compares_hex_with_the_mac() {
        let mac: Vec<u8> = (0u8..32).collect();
        assert!(verify(&hex(&mac), &mac));
        assert!(verify(&hex(&mac).to_uppercase(), &mac));
        let mut other = mac.clone();
        other[31] ^= 1;
        assert!(!verify(&hex(&other), &mac));
        assert!(!verify(&hex(&mac[..31]), &mac), "short signature");
        assert!(!verify(&format!("{}00", hex(&mac)), &mac), "long signature");
        assert!(!verify(&hex(&mac).replace('0', "g"), &mac), "not hex");
        assert!(!verify("", &[]));
    }

    #[test]
    fn good_signature_gives_the_event() {
        let body = event("page.properties_updated", DB);
        let sig = format!("sha256={}", hex(&fake_mac(&body)));
        let got = run(&request(body, Some(sig))).unwrap();
        assert_eq!(
            got,
            Delivery::Events(vec![ChangeEvent {
                entity: "tasks".into(),
                id: PAGE.into(),
                kind: ChangeKind::Upsert,
                at: Some("2024-12-05T23:57:05.379Z".into()),
            }])
        );
    }

    #[test]
    fn bad_signature_is_unauthorized() {
        let body = event("page.created", DB);
        let mut mac = fake_mac(&body);
        mac[0] ^= 0xff;
        let got = run(&request(
            body.clone(),
            Some(format!("sha256={}", hex(&mac))),
        ));
        assert!(
            matches!(got, Err(ConnectorError::Unauthorized(_))),
            "{got:?}"
        );
        // a body changed after signing
        let sig = format!("sha256={}", hex(&fake_mac(&body)));
        let mut tampered = body;
        tampered.push(b' ');
        let got = run(&request(tampered, Some(sig)));
        assert!(
            matches!(got, Err(ConnectorError::Unauthorized(_))),
            "{got:?}"
        );
    }

    #[test]
    fn missing_signature_or_wrong_prefix_is_unauthorized() {
        let body = event("page.created", DB);
        let got = run(&request(body.clone(), None));
        assert!(
            matches!(&got, Err(ConnectorError::Unauthorized(m)) if m.contains("X-Notion-Signature")),
            "{got:?}"
        );
        for sig in [
            hex(&fake_mac(&body)),
            format!("sha1={}", hex(&fake_mac(&body))),
            format!("hmac-sha256={}", hex(&fake_mac(&body))),
        ] {
            let got = run(&request(body.clone(), Some(sig)));
            assert!(
                matches!(&got, Err(ConnectorError::Unauthorized(m)) if m.contains("sha256=")),
                "{got:?}"
            );
        }
    }

    #[test]
    fn verification_request_is_accepted_without_signature() {
        let body =
            br#"{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}"#;
        let got = handle(&request(body.to_vec(), None), "s", &databases(), |_, _| {
            panic!("a verification request is not signed")
        });
        assert_eq!(got.unwrap(), Delivery::Verification);
        assert!(!is_verification_request(&event("page.created", DB)));
        assert!(!is_verification_request(b"not json"));
        assert!(!is_verification_request(br#"{"verification_token": 1}"#));
    }

    #[test]
    fn unknown_database_is_ignored() {
        let body = event("page.created", "3c90c3cc-0d44-4b50-8888-8dd25736052a");
        let sig = format!("sha256={}", hex(&fake_mac(&body)));
        assert_eq!(
            run(&request(body, Some(sig))).unwrap(),
            Delivery::Events(vec![])
        );
    }

    #[test]
    fn deleted_page_is_a_delete_and_undeleted_an_upsert() {
        let got = events_from(&event("page.deleted", DB), &databases()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].kind, ChangeKind::Delete);
        assert_eq!(
            (got[0].entity.as_str(), got[0].id.as_str()),
            ("tasks", PAGE)
        );
        let got = events_from(&event("page.undeleted", DB), &databases()).unwrap();
        assert_eq!(got[0].kind, ChangeKind::Upsert);
    }

    #[test]
    fn ids_compare_without_dashes_or_case() {
        let got = events_from(
            &event("page.moved", &DB.replace('-', "").to_uppercase()),
            &databases(),
        )
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].entity, "tasks");
        // a later API version's parent shape, with `database_id`
        let body = serde_json::to_vec(&json!({
            "type": "page.created",
            "entity": {"id": PAGE, "type": "page"},
            "data": {"parent": {"id": "0000", "type": "data_source", "database_id": DB}}
        }))
        .unwrap();
        let got = events_from(&body, &databases()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].at, None);
    }

    #[test]
    fn an_entity_configured_by_data_source_matches_the_parents_data_source_id() {
        // the 2025-09-03 shape: the database in `id`, the data source beside it
        let with = |ds: &str| {
            serde_json::to_vec(&json!({
                "type": "page.created",
                "entity": {"id": PAGE, "type": "page"},
                "data": {"parent": {"id": "3c2f0e2a7d3b4c5e9f000123456789ab",
                    "type": "database", "data_source_id": ds}}
            }))
            .unwrap()
        };
        let ds = "98024f3c-b1d3-4aec-a301-f01e0dacf023";
        let configured = BTreeMap::from([("bugs".to_string(), ds.to_string())]);
        let got = events_from(&with(ds), &configured).unwrap();
        assert_eq!((got.len(), got[0].entity.as_str()), (1, "bugs"));
        // another data source of the same database is another table
        let other = "98024f3c-b1d3-4aec-a301-f01e0dacf024";
        assert!(events_from(&with(other), &configured).unwrap().is_empty());
    }

    #[test]
    fn events_that_are_not_about_pages_are_ignored() {
        let body = serde_json::to_vec(&json!({
            "type": "database.schema_updated",
            "timestamp": "2024-12-05T23:57:05.379Z",
            "entity": {"id": DB, "type": "database"},
            "data": {"parent": {"id": "13950b26-c203-4f3b-b97d-93ec06319565", "type": "space"}}
        }))
        .unwrap();
        assert!(events_from(&body, &databases()).unwrap().is_empty());
        let body = serde_json::to_vec(&json!({
            "type": "comment.created",
            "entity": {"id": PAGE, "type": "comment"},
            "data": {"parent": {"id": DB, "type": "database"}}
        }))
        .unwrap();
        assert!(events_from(&body, &databases()).unwrap().is_empty());
    }

    #[test]
    fn malformed_events_are_invalid_input() {
        for body in [
            b"not json".to_vec(),
            br#"{"entity": {"id": "x", "type": "page"}}"#.to_vec(),
            br#"{"type": "page.created", "entity": {"type": "page"}}"#.to_vec(),
            br#"{"type": "page.created", "entity": {"id": "../x", "type": "page"}}"#.to_vec(),
        ] {
            let got = events_from(&body, &databases());
            assert!(
                matches!(got, Err(ConnectorError::InvalidInput(_))),
                "{got:?}"
            );
        }
    }

    #[test]
    fn an_unbound_secret_is_fatal_not_unauthorized() {
        let body = event("page.created", DB);
        let sig = format!("sha256={}", hex(&fake_mac(&body)));
        let got = handle(&request(body, Some(sig)), "mine", &databases(), |_, _| {
            Err("no secret named `mine` is bound for this job".into())
        });
        assert!(
            matches!(&got, Err(ConnectorError::Fatal(m)) if m.contains("`mine`") && m.contains("webhook_secret")),
            "{got:?}"
        );
    }
}
