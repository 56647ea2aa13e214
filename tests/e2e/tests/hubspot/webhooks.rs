//! Webhooks: HubSpot's v3 signature over deliveries the simulator builds from
//! its own store changes.

use super::*;

const CLIENT_SECRET: &str = "e2e-hubspot-client-secret-0f6c";
const HOOK_URL: &str = "https://sync.example.com/hooks/sync-hubspot";

/// A session whose connection verifies webhooks sent to [`HOOK_URL`].
async fn hooked_session(sim: &HubSpotSim) -> synchost::runtime::Session {
    let rt = runtime();
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut conn = conn_for(sim);
    conn.settings.insert("webhook_url".into(), HOOK_URL.into());
    bind_secret(&mut conn, "hubspot_client_secret", CLIENT_SECRET);
    rt.session(&connector, &conn).await.unwrap()
}

fn hook(headers: Vec<(String, String)>, body: Vec<u8>) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: "/hooks/sync-hubspot".into(),
        headers,
        body,
    }
}

/// `(entity, id, kind)` of each event, kind as `upsert` or `delete`.
fn summary(events: &[ChangeEvent]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            let kind = match e.kind {
                ChangeKind::Upsert => "upsert",
                ChangeKind::Delete => "delete",
            };
            (e.entity.clone(), e.id.clone(), kind.to_string())
        })
        .collect()
}

fn owned(want: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    want.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

fn unauthorized(got: &Result<Vec<ChangeEvent>, synchost::runtime::RuntimeError>, needle: &str) {
    match got {
        Err(e) => match e.connector_error() {
            Some(ConnectorError::Unauthorized(m)) => {
                assert!(m.contains(needle), "`{needle}` not in: {m}")
            }
            _ => panic!("expected unauthorized, got {e}"),
        },
        Ok(events) => panic!("expected unauthorized, got {events:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_batch_of_store_changes_gives_the_change_events() {
    let sim = seeded(2).await;
    sim.subscribe_webhooks();
    let person = sim.records("contacts")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    sim.update("contacts", &person, json!({"email": "renamed@example.com"}))
        .unwrap();
    let deal = sim
        .insert("deals", json!({"dealname": "Hooked", "amount": "10"}))
        .unwrap();
    let (headers, body) = sim.webhook_delivery(CLIENT_SECRET, HOOK_URL).unwrap();
    let sent: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();

    let mut session = hooked_session(&sim).await;
    let events = session.webhook(&hook(headers, body)).await.unwrap();
    assert_eq!(
        summary(&events),
        owned(&[("people", &person, "upsert"), ("deals", &deal, "upsert")])
    );
    // `at` is the event's occurredAt, which is when the simulator changed the record
    let updated = sim.record("contacts", &person).unwrap()["updatedAt"].clone();
    assert_eq!(events[0].at.as_deref(), updated.as_str());
    assert_eq!(sent[0]["subscriptionType"], "contact.propertyChange");
    assert_eq!(sent[0]["propertyName"], "email");
    // a webhook is only a signal: the connector made no request
    assert_eq!(sim.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_unauthorized() {
    let sim = seeded(1).await;
    sim.subscribe_webhooks();
    let person = sim.records("contacts")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut session = hooked_session(&sim).await;

    // the body changed after signing
    sim.update("contacts", &person, json!({"firstname": "Forged"}))
        .unwrap();
    let (headers, body) = sim.webhook_delivery(CLIENT_SECRET, HOOK_URL).unwrap();
    let forged = String::from_utf8(body)
        .unwrap()
        .replace(&person, "99999")
        .into_bytes();
    unauthorized(
        &session.webhook(&hook(headers, forged)).await,
        "does not match",
    );

    // signed with another app's client secret
    sim.update("contacts", &person, json!({"firstname": "Other"}))
        .unwrap();
    let (headers, body) = sim
        .webhook_delivery("another-app-secret", HOOK_URL)
        .unwrap();
    unauthorized(
        &session.webhook(&hook(headers, body)).await,
        "does not match",
    );

    // sent to another target URL than the job's `webhook_url`
    sim.update("contacts", &person, json!({"firstname": "Elsewhere"}))
        .unwrap();
    let (headers, body) = sim
        .webhook_delivery(CLIENT_SECRET, "https://sync.example.com/hooks/other-job")
        .unwrap();
    unauthorized(&session.webhook(&hook(headers, body)).await, "webhook_url");

    // no v3 signature at all (only the legacy v1 one)
    sim.update("contacts", &person, json!({"firstname": "Legacy"}))
        .unwrap();
    let (headers, body) = sim.webhook_delivery(CLIENT_SECRET, HOOK_URL).unwrap();
    let v1_only: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("X-HubSpot-Signature-v3"))
        .collect();
    unauthorized(
        &session.webhook(&hook(v1_only, body)).await,
        "X-HubSpot-Signature-v3",
    );

    // and the session still takes a good delivery
    sim.update("contacts", &person, json!({"firstname": "Good"}))
        .unwrap();
    let (headers, body) = sim.webhook_delivery(CLIENT_SECRET, HOOK_URL).unwrap();
    let events = session.webhook(&hook(headers, body)).await.unwrap();
    assert_eq!(summary(&events), owned(&[("people", &person, "upsert")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_signed_more_than_five_minutes_ago_is_unauthorized() {
    let sim = seeded(1).await;
    sim.subscribe_webhooks();
    let person = sim.records("contacts")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut session = hooked_session(&sim).await;

    sim.update("contacts", &person, json!({"firstname": "Replayed"}))
        .unwrap();
    let six_ago = chrono::Utc::now() - chrono::Duration::minutes(6);
    let (headers, body) = sim
        .webhook_delivery_at(CLIENT_SECRET, HOOK_URL, six_ago)
        .unwrap();
    unauthorized(&session.webhook(&hook(headers, body)).await, "5 minutes");

    // four minutes old is within the window
    sim.update("contacts", &person, json!({"firstname": "Late"}))
        .unwrap();
    let four_ago = chrono::Utc::now() - chrono::Duration::minutes(4);
    let (headers, body) = sim
        .webhook_delivery_at(CLIENT_SECRET, HOOK_URL, four_ago)
        .unwrap();
    let events = session.webhook(&hook(headers, body)).await.unwrap();
    assert_eq!(summary(&events), owned(&[("people", &person, "upsert")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_mixing_object_types_and_deletions() {
    let sim = seeded(3).await;
    let contacts: Vec<String> = sim
        .records("contacts")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let kept_deal = sim.insert("deals", json!({"dealname": "Kept"})).unwrap();
    let lost_deal = sim.insert("deals", json!({"dealname": "Lost"})).unwrap();
    sim.archive("deals", &kept_deal).unwrap();
    sim.subscribe_webhooks();

    // edited, then deleted: its latest event is the deletion
    sim.update("contacts", &contacts[0], json!({"lastname": "Gone"}))
        .unwrap();
    sim.clock().advance(chrono::Duration::milliseconds(5));
    sim.archive("contacts", &contacts[0]).unwrap();
    // erased for GDPR
    sim.gdpr_delete("contacts", &contacts[1]).unwrap();
    // an edit through the API is an event as well as one in the app
    let mut session = hooked_session(&sim).await;
    let ops = vec![WriteOp::Update(UpdateOp {
        id: contacts[2].clone(),
        expected_version: None,
        fields: vec![field("firstname", text("Via API"))],
    })];
    let results = session.write_results("people", &ops).await.unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    sim.archive("deals", &lost_deal).unwrap();
    sim.restore("deals", &kept_deal).unwrap();
    // companies are no entity of this job
    sim.insert("companies", json!({"name": "Acme"})).unwrap();

    let (headers, body) = sim.webhook_delivery(CLIENT_SECRET, HOOK_URL).unwrap();
    let sent: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
    let types: Vec<&str> = sent
        .iter()
        .map(|e| e["subscriptionType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "contact.propertyChange",
            "contact.deletion",
            "contact.privacyDeletion",
            "contact.propertyChange",
            "deal.deletion",
            "deal.restore",
            "company.creation",
        ]
    );
    let events = session.webhook(&hook(headers, body)).await.unwrap();
    assert_eq!(
        summary(&events),
        owned(&[
            ("people", &contacts[0], "delete"),
            ("people", &contacts[1], "delete"),
            ("people", &contacts[2], "upsert"),
            ("deals", &lost_deal, "delete"),
            ("deals", &kept_deal, "upsert"),
        ])
    );
    assert!(events.iter().all(|e| e.at.is_some()));
}

fn contact_ids(sim: &HubSpotSim) -> Vec<String> {
    sim.records("contacts")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_deletes_the_merged_records_and_upserts_the_result() {
    let sim = seeded(2).await;
    sim.subscribe_webhooks();
    let ids = contact_ids(&sim);
    let result = sim.merge("contacts", &ids[0], &ids[1]).unwrap();
    let (headers, body) = sim.webhook_delivery(CLIENT_SECRET, HOOK_URL).unwrap();
    let sent: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent[0]["subscriptionType"], "contact.merge");
    let mut session = hooked_session(&sim).await;
    let events = session.webhook(&hook(headers, body)).await.unwrap();
    assert_eq!(
        summary(&events),
        owned(&[
            ("people", &ids[1], "delete"),
            ("people", &ids[0], "delete"),
            ("people", &result, "upsert"),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_object_events_give_the_change_events() {
    let sim = seeded(2).await;
    sim.subscribe_webhooks_as(WebhookFormat::Generic);
    let ids = contact_ids(&sim);
    sim.update("contacts", &ids[0], json!({"lastname": "Edited"}))
        .unwrap();
    let deal = sim.insert("deals", json!({"dealname": "Generic"})).unwrap();
    let result = sim.merge("contacts", &ids[0], &ids[1]).unwrap();
    // companies are no entity of this job
    sim.insert("companies", json!({"name": "Acme"})).unwrap();
    let (headers, body) = sim.webhook_delivery(CLIENT_SECRET, HOOK_URL).unwrap();
    let sent: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
    assert!(sent.iter().all(|e| e["subscriptionType"]
        .as_str()
        .unwrap()
        .starts_with("object.")));
    let mut session = hooked_session(&sim).await;
    let events = session.webhook(&hook(headers, body)).await.unwrap();
    assert_eq!(
        summary(&events),
        owned(&[
            // edited, then merged away: its latest event is the merge
            ("people", &ids[0], "delete"),
            ("deals", &deal, "upsert"),
            ("people", &ids[1], "delete"),
            ("people", &result, "upsert"),
        ])
    );
}
