//! Airtable webhook notifications: the MAC check and the mapping to the
//! contract's change events.
//!
//! Airtable's webhooks (Webhooks overview, "Webhook notification delivery",
//! https://airtable.com/developers/web/api/webhooks-overview):
//!
//! - When a change matches the webhook's specification, Airtable POSTs to the
//!   notification URL "a short JSON object of the form
//!   `{"base": {"id": "app00000000000000"},"webhook": {"id":
//!   "ach00000000000000"},"timestamp": "2022-02-01T21:25:05.663Z"}`". It
//!   names no record: the receiver lists the webhook's payloads to learn what
//!   changed.
//! - The request carries `X-Airtable-Content-MAC: hmac-sha256=<hex>`, the
//!   HMAC-SHA256 of the raw body keyed with the base64-decoded
//!   `macSecretBase64` that "Create a webhook" returned.
//!
//! The job binds the MAC secret with the source suffix `#base64`, so the host
//! keys the HMAC with the decoded bytes; the connector only names the secret.
//! Everything here is pure; the HMAC is passed in as a function.

use serde_json::Value;
use synchost_sdk::{ChangeEvent, ChangeKind, ConnectorError, WebhookRequest};

use crate::config::Config;

/// The header carrying the MAC.
pub const MAC_HEADER: &str = "X-Airtable-Content-MAC";

/// What the header's value starts with: `hmac-sha256=<hex>`.
pub const MAC_PREFIX: &str = "hmac-sha256=";

/// The setting naming the secret that holds the webhook's MAC secret.
pub const SECRET_SETTING: &str = "webhook_secret";

/// The secret name used when the job does not set [`SECRET_SETTING`].
pub const DEFAULT_SECRET: &str = "airtable_webhook_mac";

/// The first header called `name`, compared case-insensitively.
pub use synchost_sdk::signature::header;

/// The hex digest of a MAC header value, or `unauthorized` when the header
/// is missing or does not start with `hmac-sha256=`.
pub fn mac_hex(value: Option<&str>) -> Result<&str, ConnectorError> {
    let value = value.ok_or_else(|| {
        ConnectorError::Unauthorized(format!(
            "the Airtable notification has no `{MAC_HEADER}` header"
        ))
    })?;
    value.trim().strip_prefix(MAC_PREFIX).ok_or_else(|| {
        ConnectorError::Unauthorized(format!(
            "the `{MAC_HEADER}` header does not start with `{MAC_PREFIX}`"
        ))
    })
}

/// Whether `expected_hex` (the MAC the request carries, hex without prefix,
/// either case) is `mac` (what the host computed). The comparison takes the
/// same time whichever byte differs.
pub use synchost_sdk::signature::verify_hex as verify;

/// The change events of a (verified) notification: one per configured
/// entity, with an empty id ("changes on this entity: read it
/// incrementally"), `upsert`, at the notification's `timestamp`. A
/// notification for another base than `base_id` is `invalid-input`.
pub fn events_from(body: &[u8], config: &Config) -> Result<Vec<ChangeEvent>, ConnectorError> {
    let note: Value = serde_json::from_slice(body).map_err(|e| {
        ConnectorError::InvalidInput(format!("the Airtable notification is not JSON: {e}"))
    })?;
    let base = note["base"]["id"].as_str().ok_or_else(|| {
        ConnectorError::InvalidInput("the Airtable notification has no `base.id`".into())
    })?;
    if base != config.base_id {
        return Err(ConnectorError::InvalidInput(format!(
            "notification for base {base}, this connection is for base {}",
            config.base_id
        )));
    }
    let at = note["timestamp"].as_str().map(String::from);
    Ok(config
        .tables
        .iter()
        .map(|(entity, _)| ChangeEvent {
            entity: entity.clone(),
            id: String::new(),
            kind: ChangeKind::Upsert,
            at: at.clone(),
        })
        .collect())
}

/// Verifies and parses one notification. `hmac` computes HMAC-SHA256 of a
/// message with the secret named `secret` (the host's `crypto` import).
pub fn handle(
    req: &WebhookRequest,
    secret: &str,
    config: &Config,
    hmac: impl FnOnce(&str, &[u8]) -> Result<Vec<u8>, String>,
) -> Result<Vec<ChangeEvent>, ConnectorError> {
    let expected = mac_hex(header(&req.headers, MAC_HEADER))?;
    let mac = hmac(secret, &req.body).map_err(|e| {
        ConnectorError::Fatal(format!(
            "cannot check the Airtable notification's MAC with secret `{secret}` \
             (setting `{SECRET_SETTING}`; bind it as `<source>#base64`): {e}"
        ))
    })?;
    if !verify(expected, &mac) {
        return Err(ConnectorError::Unauthorized(format!(
            "the `{MAC_HEADER}` MAC does not match the body (HMAC-SHA256 keyed with \
             secret `{secret}`, which must be bound as `<source>#base64`)"
        )));
    }
    events_from(&req.body, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use synchost_sdk::Settings;

    const BASE: &str = "appjRdIX59U4YEy4l";

    fn config() -> Config {
        Config::from_settings(&Settings::new(vec![
            ("base_id".into(), BASE.into()),
            ("table.tasks".into(), "Tasks".into()),
            ("table.people".into(), "tblPeople".into()),
        ]))
        .unwrap()
    }

    fn notification(base: &str) -> Vec<u8> {
        format!(
            r#"{{"base":{{"id":"{base}"}},"webhook":{{"id":"achXH94CxHYGdUcje"}},"timestamp":"2024-03-06T00:32:58.992Z"}}"#
        )
        .into_bytes()
    }

    /// A stand-in for the host: a MAC that depends on the whole body.
    fn fake_mac(body: &[u8]) -> Vec<u8> {
        let sum = body
            .iter()
            .fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(*b));
        vec![sum; 32]
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn request(body: Vec<u8>, mac: Option<String>) -> WebhookRequest {
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if let Some(m) = mac {
            headers.push(("x-airtable-content-mac".to_string(), m));
        }
        WebhookRequest {
            method: "POST".into(),
            path: "/hooks/job".into(),
            headers,
            body,
        }
    }

    fn run(req: &WebhookRequest) -> Result<Vec<ChangeEvent>, ConnectorError> {
        handle(req, "airtable_webhook_mac", &config(), |name, body| {
            assert_eq!(name, "airtable_webhook_mac");
            Ok(fake_mac(body))
        })
    }

    #[test]
    fn verify_compares_hex_with_the_mac() {
        let mac: Vec<u8> = (100u8..132).collect();
        assert!(verify(&hex(&mac), &mac));
        assert!(verify(&hex(&mac).to_uppercase(), &mac));
        let mut other = mac.clone();
        other[0] ^= 0x80;
        assert!(!verify(&hex(&other), &mac));
        assert!(!verify(&hex(&mac[1..]), &mac));
        assert!(!verify(&hex(&mac).replace('6', "z"), &mac));
        assert!(!verify("", &[]));
    }

    #[test]
    fn good_mac_gives_one_event_per_entity() {
        let body = notification(BASE);
        let mac = format!("hmac-sha256={}", hex(&fake_mac(&body)));
        let events = run(&request(body, Some(mac))).unwrap();
        let at = Some("2024-03-06T00:32:58.992Z".to_string());
        assert_eq!(
            events,
            vec![
                ChangeEvent {
                    entity: "tasks".into(),
                    id: String::new(),
                    kind: ChangeKind::Upsert,
                    at: at.clone(),
                },
                ChangeEvent {
                    entity: "people".into(),
                    id: String::new(),
                    kind: ChangeKind::Upsert,
                    at,
                },
            ]
        );
    }

    #[test]
    fn bad_mac_is_unauthorized() {
        let body = notification(BASE);
        let mut mac = fake_mac(&body);
        mac[5] ^= 1;
        let got = run(&request(
            body.clone(),
            Some(format!("hmac-sha256={}", hex(&mac))),
        ));
        assert!(
            matches!(got, Err(ConnectorError::Unauthorized(_))),
            "{got:?}"
        );
        // the body was changed after signing
        let good = format!("hmac-sha256={}", hex(&fake_mac(&body)));
        let other = notification("appOTHERxxxxxxxxx");
        let got = run(&request(other, Some(good)));
        assert!(
            matches!(got, Err(ConnectorError::Unauthorized(_))),
            "{got:?}"
        );
    }

    #[test]
    fn missing_mac_or_wrong_prefix_is_unauthorized() {
        let body = notification(BASE);
        let got = run(&request(body.clone(), None));
        assert!(
            matches!(&got, Err(ConnectorError::Unauthorized(m)) if m.contains("X-Airtable-Content-MAC")),
            "{got:?}"
        );
        for mac in [
            hex(&fake_mac(&body)),
            format!("sha256={}", hex(&fake_mac(&body))),
            format!("hmacSHA256={}", hex(&fake_mac(&body))),
        ] {
            let got = run(&request(body.clone(), Some(mac)));
            assert!(
                matches!(&got, Err(ConnectorError::Unauthorized(m)) if m.contains("hmac-sha256=")),
                "{got:?}"
            );
        }
    }

    #[test]
    fn another_base_is_invalid_input() {
        let body = notification("appOTHERxxxxxxxxx");
        let mac = format!("hmac-sha256={}", hex(&fake_mac(&body)));
        match run(&request(body, Some(mac))) {
            Err(ConnectorError::InvalidInput(m)) => assert_eq!(
                m,
                format!(
                    "notification for base appOTHERxxxxxxxxx, this connection is for base {BASE}"
                )
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_notifications_are_invalid_input() {
        for body in [
            &b"nope"[..],
            br#"{"webhook":{"id":"ach1"}}"#,
            br#"{"base":"appB"}"#,
        ] {
            let got = events_from(body, &config());
            assert!(
                matches!(got, Err(ConnectorError::InvalidInput(_))),
                "{got:?}"
            );
        }
        let no_time = events_from(br#"{"base":{"id":"appjRdIX59U4YEy4l"}}"#, &config()).unwrap();
        assert_eq!(no_time.len(), 2);
        assert_eq!(no_time[0].at, None);
    }

    #[test]
    fn an_unbound_secret_is_fatal_not_unauthorized() {
        let body = notification(BASE);
        let mac = format!("hmac-sha256={}", hex(&fake_mac(&body)));
        let got = handle(&request(body, Some(mac)), "mine", &config(), |_, _| {
            Err("no secret named `mine` is bound for this job".into())
        });
        assert!(
            matches!(&got, Err(ConnectorError::Fatal(m)) if m.contains("`mine`") && m.contains("#base64")),
            "{got:?}"
        );
    }
}
