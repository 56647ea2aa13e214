//! The simulators' webhook deliveries: shaped as the platforms document them,
//! and signed so that an independent HMAC computation verifies them.

use base64::Engine as _;
use chrono::{DateTime, Duration};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use synchost_sim::airtable::{AirtableOptions, AirtableSim};
use synchost_sim::notion::{NotionOptions, NotionSim};

/// HMAC-SHA256 of `body` keyed with `key`, as lowercase hex.
fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether `signature` (hex) is the MAC of `body` under `key`, by the hmac
/// crate's own constant-time check.
fn mac_verifies(key: &[u8], body: &[u8], signature: &str) -> bool {
    let Ok(tag) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

async fn notion() -> NotionSim {
    NotionSim::start(NotionOptions {
        rate_limit: None,
        ..Default::default()
    })
    .await
    .unwrap()
}

const TOKEN: &str = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl";

#[tokio::test]
async fn notion_delivery_is_signed_with_the_verification_token() {
    let sim = notion().await;
    let db = sim.create_database("Tasks", &[("Status", "select")]);
    let page = sim
        .insert_page(
            &db,
            json!({"Name": {"title": [{"text": {"content": "a"}}]}}),
        )
        .unwrap();

    let (headers, body) = sim.webhook_delivery(TOKEN, "page.properties_updated", &page);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let signature = header(&headers, "x-notion-signature").expect("signed");
    let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
    assert_eq!(hex, hmac_hex(TOKEN.as_bytes(), &body));
    assert!(mac_verifies(TOKEN.as_bytes(), &body, hex));
    assert!(!mac_verifies(b"another token", &body, hex));
    let mut tampered = body.clone();
    tampered.push(b'\n');
    assert!(!mac_verifies(TOKEN.as_bytes(), &tampered, hex));
    // the helper the simulator exports agrees
    assert_eq!(
        synchost_sim::notion::webhook_signature(TOKEN, &body),
        signature
    );
    assert_eq!(synchost_sim::notion::SIGNATURE_HEADER, "X-Notion-Signature");
}

#[tokio::test]
async fn notion_event_names_the_page_its_database_and_the_time() {
    let sim = notion().await;
    let db = sim.create_database("Tasks", &[]);
    let page = sim
        .insert_page(
            &db,
            json!({"Name": {"title": [{"text": {"content": "a"}}]}}),
        )
        .unwrap();
    sim.clock().advance(Duration::minutes(3));
    let before = sim.clock().now();

    let (_, body) = sim.webhook_delivery(TOKEN, "page.created", &page);
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["type"], "page.created");
    assert_eq!(event["entity"], json!({"id": page, "type": "page"}));
    assert_eq!(
        event["data"]["parent"],
        json!({"id": db, "type": "database"})
    );
    for key in ["id", "workspace_id", "subscription_id", "integration_id"] {
        assert!(event[key].as_str().is_some_and(|v| v.len() == 36), "{key}");
    }
    assert_eq!(event["authors"][0]["type"], "person");
    let at = DateTime::parse_from_rfc3339(event["timestamp"].as_str().unwrap()).unwrap();
    assert!(
        at >= before - Duration::milliseconds(1),
        "sim clock: {at} vs {before}"
    );
    assert!(at <= sim.clock().now());

    // ids are accepted with or without dashes; events get fresh ids
    let (_, again) = sim.webhook_delivery(TOKEN, "page.deleted", &page.replace('-', ""));
    let again: Value = serde_json::from_slice(&again).unwrap();
    assert_eq!(again["entity"]["id"], page);
    assert_eq!(again["type"], "page.deleted");
    assert_ne!(again["id"], event["id"]);
}

#[tokio::test]
async fn notion_verification_request_is_unsigned() {
    let sim = notion().await;
    let (headers, body) = sim.webhook_verification(TOKEN);
    assert!(header(&headers, "x-notion-signature").is_none());
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, json!({"verification_token": TOKEN}));
}

#[tokio::test]
#[should_panic(expected = "no page")]
async fn notion_delivery_of_an_unknown_page_panics() {
    let sim = notion().await;
    sim.webhook_delivery(
        TOKEN,
        "page.created",
        "59833787-2cf9-4fdf-8782-e53db20768a5",
    );
}

#[tokio::test]
async fn airtable_notification_is_signed_with_the_decoded_mac_secret() {
    let sim = AirtableSim::start(AirtableOptions::default())
        .await
        .unwrap();
    let base = sim.create_base();
    // what "Create a webhook" returns as macSecretBase64, and what it decodes to
    let mac_secret_base64 = "cHJldGVuZC10aGlzLWlzLTMyLXJhbmRvbS1ieXRlcyE=";
    let mac_secret = base64::engine::general_purpose::STANDARD
        .decode(mac_secret_base64)
        .unwrap();

    let (headers, body) = sim.webhook_notification(&base, &mac_secret);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let mac = header(&headers, "x-airtable-content-mac").expect("signed");
    let hex = mac
        .strip_prefix("hmac-sha256=")
        .expect("hmac-sha256= prefix");
    assert_eq!(hex, hmac_hex(&mac_secret, &body));
    assert!(mac_verifies(&mac_secret, &body, hex));
    // keyed with the decoded bytes, not with the base64 text
    assert!(!mac_verifies(mac_secret_base64.as_bytes(), &body, hex));
    assert_eq!(
        synchost_sim::airtable::webhook_content_mac(&mac_secret, &body),
        mac
    );
    assert_eq!(synchost_sim::airtable::MAC_HEADER, "X-Airtable-Content-MAC");
}

#[tokio::test]
async fn airtable_notification_names_base_webhook_and_time_only() {
    let sim = AirtableSim::start(AirtableOptions::default())
        .await
        .unwrap();
    let base = sim.create_base();
    let (_, first) = sim.webhook_notification(&base, b"k");
    let first: Value = serde_json::from_slice(&first).unwrap();
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 3, "{first}");
    assert_eq!(first["base"], json!({"id": base}));
    let webhook = first["webhook"]["id"].as_str().unwrap();
    assert!(
        webhook.starts_with("ach") && webhook.len() == 17,
        "{webhook}"
    );
    let ts = first["timestamp"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && ts.len() == 24,
        "ISO 8601 with ms: {ts}"
    );

    // one webhook per base: the same id next time, another for another base
    sim.clock().advance(Duration::seconds(5));
    let (_, second) = sim.webhook_notification(&base, b"k");
    let second: Value = serde_json::from_slice(&second).unwrap();
    assert_eq!(second["webhook"]["id"], webhook);
    assert!(second["timestamp"].as_str().unwrap() > ts);
    let (_, other) = sim.webhook_notification("appOTHERxxxxxxxxx", b"k");
    let other: Value = serde_json::from_slice(&other).unwrap();
    assert_eq!(other["base"]["id"], "appOTHERxxxxxxxxx");
    assert_ne!(other["webhook"]["id"], webhook);
}

// The connectors' own verification and parsing (their pure code, natively),
// with a real HMAC standing in for the host's `crypto` import.

/// What the host does for `hmac-sha256(secret-name, message)`, given the
/// secret's key bytes.
fn host_hmac(key: &[u8]) -> impl FnOnce(&str, &[u8]) -> Result<Vec<u8>, String> + '_ {
    move |_name, message| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(message);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

fn request(headers: Vec<(String, String)>, body: Vec<u8>) -> synchost_sdk::WebhookRequest {
    synchost_sdk::WebhookRequest {
        method: "POST".into(),
        path: "/hooks/job".into(),
        headers,
        body,
    }
}

#[tokio::test]
async fn the_notion_connector_accepts_the_simulators_deliveries() {
    use synchost_connector_notion::webhook::{handle, Delivery};
    use synchost_sdk::{ChangeKind, ConnectorError};

    let sim = notion().await;
    let db = sim.create_database("Tasks", &[]);
    let page = sim
        .insert_page(
            &db,
            json!({"Name": {"title": [{"text": {"content": "a"}}]}}),
        )
        .unwrap();
    let databases = [("tasks".to_string(), db.replace('-', ""))].into();

    let (headers, body) = sim.webhook_delivery(TOKEN, "page.properties_updated", &page);
    let got = handle(
        &request(headers, body),
        "s",
        &databases,
        host_hmac(TOKEN.as_bytes()),
    );
    let Ok(Delivery::Events(events)) = got else {
        panic!("{got:?}")
    };
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].entity.as_str(), events[0].id.as_str()),
        ("tasks", page.as_str())
    );
    assert_eq!(events[0].kind, ChangeKind::Upsert);
    assert!(events[0].at.is_some());

    sim.trash_page(&page).unwrap();
    let (headers, body) = sim.webhook_delivery(TOKEN, "page.deleted", &page);
    let got = handle(
        &request(headers, body),
        "s",
        &databases,
        host_hmac(TOKEN.as_bytes()),
    );
    assert!(
        matches!(&got, Ok(Delivery::Events(e)) if e.len() == 1 && e[0].kind == ChangeKind::Delete),
        "{got:?}"
    );

    // signed with another token: refused
    let (headers, body) = sim.webhook_delivery("another token", "page.created", &page);
    let got = handle(
        &request(headers, body),
        "s",
        &databases,
        host_hmac(TOKEN.as_bytes()),
    );
    assert!(
        matches!(got, Err(ConnectorError::Unauthorized(_))),
        "{got:?}"
    );

    let (headers, body) = sim.webhook_verification(TOKEN);
    let got = handle(
        &request(headers, body),
        "s",
        &databases,
        host_hmac(TOKEN.as_bytes()),
    );
    assert_eq!(got.unwrap(), Delivery::Verification);
}

#[tokio::test]
async fn the_airtable_connector_accepts_the_simulators_notifications() {
    use synchost_connector_airtable::config::Config;
    use synchost_connector_airtable::webhook::handle;
    use synchost_sdk::{ChangeKind, ConnectorError, Settings};

    let sim = AirtableSim::start(AirtableOptions::default())
        .await
        .unwrap();
    let base = sim.create_base();
    let config = Config::from_settings(&Settings::new(vec![
        ("base_id".into(), base.clone()),
        ("table.tasks".into(), "Tasks".into()),
    ]))
    .unwrap();
    let key = b"the decoded macSecretBase64 bytes";

    let (headers, body) = sim.webhook_notification(&base, key);
    let events = handle(&request(headers, body), "s", &config, host_hmac(key)).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].entity.as_str(), events[0].id.as_str()),
        ("tasks", "")
    );
    assert_eq!(events[0].kind, ChangeKind::Upsert);

    let (headers, body) = sim.webhook_notification(&base, b"another key");
    let got = handle(&request(headers, body), "s", &config, host_hmac(key));
    assert!(
        matches!(got, Err(ConnectorError::Unauthorized(_))),
        "{got:?}"
    );

    let (headers, body) = sim.webhook_notification("appOTHERxxxxxxxxx", key);
    let got = handle(&request(headers, body), "s", &config, host_hmac(key));
    assert!(
        matches!(got, Err(ConnectorError::InvalidInput(_))),
        "{got:?}"
    );
}

const HUBSPOT_SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
const HUBSPOT_URL: &str = "https://sync.example.com/hooks/crm%3Ajob";

async fn hubspot() -> synchost_sim::hubspot::HubSpotSim {
    synchost_sim::hubspot::HubSpotSim::start(synchost_sim::hubspot::HubSpotOptions {
        rate_limit: None,
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn hubspot_delivery_is_signed_v3_over_method_uri_body_and_timestamp() {
    let sim = hubspot().await;
    sim.subscribe_webhooks();
    sim.insert("contacts", json!({"email": "a@example.com"}))
        .unwrap();
    let before = sim.clock().now().timestamp_millis();
    let (headers, body) = sim.webhook_delivery(HUBSPOT_SECRET, HUBSPOT_URL).unwrap();
    let ts = header(&headers, "x-hubspot-request-timestamp").expect("timestamped");
    let ts_ms: i64 = ts.parse().unwrap();
    assert!((before..before + 5_000).contains(&ts_ms), "{ts}");
    // the URI is signed with `%3A` decoded, as the doc's table says
    let mut message = b"POSThttps://sync.example.com/hooks/crm:job".to_vec();
    message.extend_from_slice(&body);
    message.extend_from_slice(ts.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(HUBSPOT_SECRET.as_bytes()).unwrap();
    mac.update(&message);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(
        header(&headers, "x-hubspot-signature-v3"),
        Some(expected.as_str())
    );
    assert_eq!(
        synchost_sim::hubspot::webhook_signature_v3(
            HUBSPOT_SECRET,
            "POST",
            HUBSPOT_URL,
            &body,
            ts_ms
        ),
        expected
    );
    // the legacy v1 signature: hex SHA-256 of client secret + body
    let mut v1 = HUBSPOT_SECRET.as_bytes().to_vec();
    v1.extend_from_slice(&body);
    assert_eq!(
        header(&headers, "x-hubspot-signature"),
        Some(hex::encode(<Sha256 as sha2::Digest>::digest(&v1)).as_str())
    );
    assert_eq!(header(&headers, "x-hubspot-signature-version"), Some("v1"));
    // a delivery signed six minutes ago carries that time
    sim.update("contacts", "10001", json!({"firstname": "A"}))
        .unwrap();
    let at = sim.clock().now() - Duration::minutes(6);
    let (old, _) = sim
        .webhook_delivery_at(HUBSPOT_SECRET, HUBSPOT_URL, at)
        .unwrap();
    let expected = at.timestamp_millis().to_string();
    assert_eq!(
        header(&old, "x-hubspot-request-timestamp"),
        Some(expected.as_str())
    );
}

#[tokio::test]
async fn hubspot_batches_are_the_store_changes_since_the_last_delivery() {
    let sim = hubspot().await;
    sim.insert("contacts", json!({"email": "before@example.com"}))
        .unwrap();
    sim.subscribe_webhooks();
    assert_eq!(sim.webhook_delivery(HUBSPOT_SECRET, HUBSPOT_URL), None);
    let contact = sim
        .insert("contacts", json!({"email": "a@example.com"}))
        .unwrap();
    let deal = sim.insert("deals", json!({"dealname": "Big"})).unwrap();
    sim.update("contacts", &contact, json!({"email": "b@example.com"}))
        .unwrap();
    // a write that changes nothing is no propertyChange
    sim.update("contacts", &contact, json!({"email": "b@example.com"}))
        .unwrap();
    sim.archive("deals", &deal).unwrap();
    sim.restore("deals", &deal).unwrap();
    sim.gdpr_delete("contacts", &contact).unwrap();
    assert_eq!(sim.pending_webhook_events(), 6);

    let (_, body) = sim.webhook_delivery(HUBSPOT_SECRET, HUBSPOT_URL).unwrap();
    let events: Vec<Value> = serde_json::from_slice(&body).unwrap();
    let got: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["subscriptionType"].as_str().unwrap().to_string(),
                e["objectId"].to_string(),
            )
        })
        .collect();
    let want = [
        ("contact.creation", &contact),
        ("deal.creation", &deal),
        ("contact.propertyChange", &contact),
        ("deal.deletion", &deal),
        ("deal.restore", &deal),
        ("contact.privacyDeletion", &contact),
    ];
    assert_eq!(got, want.map(|(t, id)| (t.to_string(), id.to_string())));
    assert_eq!(events[2]["propertyName"], "email");
    assert_eq!(events[2]["propertyValue"], "b@example.com");
    let ids: Vec<u64> = events
        .iter()
        .map(|e| e["eventId"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for e in &events {
        assert_eq!(e["portalId"], synchost_sim::hubspot::PORTAL_ID);
        assert_eq!(e["appId"], synchost_sim::hubspot::APP_ID);
        assert_eq!(e["attemptNumber"], 0);
        assert!(e["occurredAt"].as_i64().unwrap() > 1_700_000_000_000);
    }
    assert_eq!(sim.pending_webhook_events(), 0);
    assert_eq!(sim.webhook_delivery(HUBSPOT_SECRET, HUBSPOT_URL), None);

    // at most 100 events a request
    for i in 0..120 {
        sim.insert("companies", json!({"name": format!("c{i}")}))
            .unwrap();
    }
    let (_, first) = sim.webhook_delivery(HUBSPOT_SECRET, HUBSPOT_URL).unwrap();
    let (_, second) = sim.webhook_delivery(HUBSPOT_SECRET, HUBSPOT_URL).unwrap();
    let len = |b: &[u8]| serde_json::from_slice::<Vec<Value>>(b).unwrap().len();
    assert_eq!((len(&first), len(&second)), (100, 20));
}

#[tokio::test]
async fn hubspot_generic_subscriptions_and_merges_name_every_record() {
    use synchost_sim::hubspot::WebhookFormat;
    let sim = hubspot().await;
    sim.subscribe_webhooks_as(WebhookFormat::Generic);
    let a = sim
        .insert("contacts", json!({"email": "a@example.com"}))
        .unwrap();
    let b = sim
        .insert("contacts", json!({"email": "b@example.com"}))
        .unwrap();
    let deal = sim.insert("deals", json!({"dealname": "Big"})).unwrap();
    sim.archive("deals", &deal).unwrap();
    let merged = sim.merge("contacts", &a, &b).unwrap();
    sim.gdpr_delete("contacts", &merged).unwrap();
    let (_, body) = sim.webhook_delivery(HUBSPOT_SECRET, HUBSPOT_URL).unwrap();
    let events: Vec<Value> = serde_json::from_slice(&body).unwrap();
    let got: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            let ty = e["subscriptionType"].as_str().unwrap();
            (ty, e["objectTypeId"].as_str().unwrap_or("-"))
        })
        .collect();
    assert_eq!(
        got,
        [
            ("object.creation", "0-1"),
            ("object.creation", "0-1"),
            ("object.creation", "0-3"),
            ("object.deletion", "0-3"),
            ("object.merge", "0-1"),
            // GDPR deletions keep the legacy name
            ("contact.privacyDeletion", "-"),
        ]
    );
    let merge = &events[4];
    assert_eq!(merge["objectId"].to_string(), merged);
    assert_eq!(merge["newObjectId"].to_string(), merged);
    assert_eq!(merge["primaryObjectId"].to_string(), a);
    assert_eq!(merge["mergedObjectIds"], json!([b.parse::<u64>().unwrap()]));
    // the merged-away records are gone, not archived
    assert!(sim.record("contacts", &a).is_none() && sim.record("contacts", &b).is_none());
}
