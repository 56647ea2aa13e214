//! The HubSpot connector, built from source to wasm, against the HubSpot
//! simulator with its rate limits on (100 requests per 10 s, 4 searches per
//! second, a daily budget; 429 without Retry-After).

use serde_json::json;
use synchost::runtime::{
    ChangeEvent, ChangeKind, ConnectorError, DeleteOp, Field, FieldValue, Rate, ReadRequest,
    UpdateOp, WebhookRequest, WriteOp,
};
use synchost_e2e::{assert_unique, bind_secret, build_connector, read_all, runtime, simulated};
use synchost_sim::hubspot::{HubSpotOptions, HubSpotSim, RateLimit};

const TOKEN: &str = "pat-na1-e2e-hubspot";
const CONNECTOR: &str = "synchost-connector-hubspot";

async fn seeded(n: usize) -> HubSpotSim {
    let sim = HubSpotSim::start(HubSpotOptions {
        token: TOKEN.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    for i in 0..n {
        sim.insert(
            "contacts",
            json!({
                "email": format!("person{i}@example.com"),
                "firstname": format!("Person {i}"),
                "lastname": "Seeded",
                "lifecyclestage": if i % 2 == 0 { "lead" } else { "customer" },
            }),
        )
        .unwrap();
    }
    sim
}

fn conn_for(sim: &HubSpotSim) -> synchost::runtime::Connection {
    let mut conn = simulated("https://api.hubapi.com", &sim.base_url());
    conn.settings
        .insert("object.people".into(), "contacts".into());
    conn.settings.insert("object.deals".into(), "deals".into());
    bind_secret(&mut conn, "hubspot_token", TOKEN);
    conn
}

fn field(name: &str, value: FieldValue) -> Field {
    Field {
        name: name.into(),
        value,
    }
}

fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.into())
}

/// Reads every page with pages of `page_size`.
async fn read_pages(
    session: &mut synchost::runtime::Session,
    entity: &str,
    since: Option<String>,
    page_size: u32,
) -> (Vec<synchost::runtime::Record>, Option<String>) {
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let req = ReadRequest {
            entity: entity.into(),
            cursor: cursor.take(),
            since: since.clone(),
            page_size,
        };
        let page = session.read(&req).await.unwrap();
        records.extend(page.records);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return (records, page.checkpoint),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_page_of_1000_contacts_with_rate_limits_on() {
    let sim = seeded(1000).await;
    let rt = runtime();
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut session = rt.session(&connector, &conn_for(&sim)).await.unwrap();
    let (records, checkpoint) = read_all(&mut session, "people", None).await.unwrap();
    assert_eq!(
        assert_unique(&records),
        1000,
        "no record lost or duplicated"
    );
    assert!(records.iter().all(|r| !r.deleted && r.version.is_some()));
    assert!(checkpoint.is_some());
    let emails: std::collections::BTreeSet<_> =
        records.iter().map(|r| r.get_text("email")).collect();
    assert_eq!(emails.len(), 1000);
    let lead = records
        .iter()
        .find(|r| r.get_text("firstname") == Some("Person 0"))
        .unwrap();
    assert_eq!(
        lead.get("lifecyclestage"),
        Some(&FieldValue::Select("lead".into()))
    );
    // The schema, 10 pages of 100, and the (empty) archived list.
    assert_eq!(sim.request_count(), 12);
    assert_eq!(
        sim.rate_limited_count(),
        0,
        "the declared rate keeps within HubSpot's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_eager_rate_is_corrected_by_429_without_retry_after() {
    let sim = seeded(1000).await;
    // A tight burst limit: 10 requests in any second.
    sim.set_rate_limit(Some(RateLimit {
        max: 10,
        interval_ms: 1000,
    }));
    let rt = runtime();
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut conn = conn_for(&sim);
    conn.rate_limit = Some(Rate {
        per_second: 100.0,
        burst: 100,
        daily_budget: None,
    });
    let mut session = rt.session(&connector, &conn).await.unwrap();
    let (records, _) = read_pages(&mut session, "people", None, 25).await;
    assert_eq!(assert_unique(&records), 1000);
    assert!(
        sim.rate_limited_count() > 0,
        "the simulator should have throttled"
    );
    assert!(rt.rate_limiter().stats().throttled > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_creates_updates_and_deletes_that_the_platform_shows() {
    let sim = seeded(5).await;
    let rt = runtime();
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut session = rt.session(&connector, &conn_for(&sim)).await.unwrap();
    let (before, _) = read_all(&mut session, "people", None).await.unwrap();
    let (first, second) = (before[0].id.clone(), before[1].id.clone());

    let ops = vec![
        WriteOp::Create(vec![
            field("email", text("new@example.com")),
            field("firstname", text("Written by synchost")),
            field("lifecyclestage", FieldValue::Select("opportunity".into())),
            field(
                "hs_buying_role",
                FieldValue::MultiSelect(vec!["CHAMPION".into(), "END_USER".into()]),
            ),
        ]),
        WriteOp::Create(vec![field("No such property", text("x"))]),
        // An email HubSpot already has: a conflict naming the existing record.
        WriteOp::Create(vec![field("email", text("PERSON3@example.com"))]),
        WriteOp::Create(vec![field("firstname", text("Second new"))]),
    ];
    let results = session.write("people", &ops).await.unwrap();
    let created = results[0].as_ref().expect("create").id.clone();
    let bad = format!("{:?}", results[1]);
    assert!(
        bad.contains("No such property"),
        "one bad op fails alone, naming the field: {bad}"
    );
    let dup = format!("{:?}", results[2]);
    assert!(dup.contains("Contact already exists"), "{dup}");
    assert!(results[3].is_ok(), "{results:?}");

    let ops = vec![
        WriteOp::Update(UpdateOp {
            id: first.clone(),
            expected_version: before[0].version.clone(),
            fields: vec![
                field("lastname", text("Updated")),
                field("phone", FieldValue::Null),
            ],
        }),
        WriteOp::Update(UpdateOp {
            id: second.clone(),
            expected_version: Some("2001-01-01T00:00:00.000Z".into()),
            fields: vec![field("lastname", text("Stale"))],
        }),
    ];
    let results = session.write("people", &ops).await.unwrap();
    let written = results[0].as_ref().expect("update");
    assert!(written.version > before[0].version, "a new version");
    assert!(
        format!("{:?}", results[1]).contains("Conflict"),
        "{results:?}"
    );
    let ops = vec![WriteOp::Delete(DeleteOp {
        id: second.clone(),
        expected_version: None,
    })];
    assert!(session.write("people", &ops).await.unwrap()[0].is_ok());

    let record = sim.record("contacts", &created).unwrap();
    assert_eq!(record["properties"]["firstname"], "Written by synchost");
    assert_eq!(record["properties"]["lifecyclestage"], "opportunity");
    assert_eq!(record["properties"]["hs_buying_role"], "CHAMPION;END_USER");
    assert_eq!(
        sim.record("contacts", &first).unwrap()["properties"]["lastname"],
        "Updated"
    );
    assert_eq!(sim.record("contacts", &second).unwrap()["archived"], true);

    // A fresh full read shows the same, the archived record as a tombstone.
    let (after, _) = read_all(&mut session, "people", None).await.unwrap();
    let live: Vec<_> = after.iter().filter(|r| !r.deleted).collect();
    assert_eq!(live.len(), 6);
    assert!(live.iter().any(|r| r.id == created));
    let tombstones: Vec<_> = after
        .iter()
        .filter(|r| r.deleted)
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(tombstones, [second]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_read_returns_only_what_changed_since_the_checkpoint() {
    let sim = seeded(300).await;
    let rt = runtime();
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut session = rt.session(&connector, &conn_for(&sim)).await.unwrap();
    // HubSpot's Date header has whole seconds: move past the seeding's second.
    sim.clock().advance(chrono::Duration::seconds(2));
    let (all, checkpoint) = read_all(&mut session, "people", None).await.unwrap();
    assert_eq!(all.len(), 300);
    sim.clock().advance(chrono::Duration::seconds(2));
    let (seventh, ninth) = (all[7].id.clone(), all[9].id.clone());
    sim.update("contacts", &seventh, json!({"lastname": "Edited"}))
        .unwrap();
    sim.archive("contacts", &ninth).unwrap();
    sim.clock().advance(chrono::Duration::seconds(2));

    let (changed, next) = read_all(&mut session, "people", checkpoint.clone())
        .await
        .unwrap();
    let mut ids: Vec<(String, bool)> = changed.iter().map(|r| (r.id.clone(), r.deleted)).collect();
    ids.sort();
    let mut expected = vec![(seventh.clone(), false), (ninth.clone(), true)];
    expected.sort();
    assert_eq!(ids, expected, "the edit, and the archive as a tombstone");
    let edited = changed.iter().find(|r| r.id == seventh).unwrap();
    assert_eq!(edited.get_text("lastname"), Some("Edited"));
    assert!(
        next > checkpoint,
        "the checkpoint moves forward: {next:?} after {checkpoint:?}"
    );

    // Nothing changed since: nothing read.
    let (none, _) = read_all(&mut session, "people", next).await.unwrap();
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_read_of_more_than_10000_changes_loses_none() {
    let sim = seeded(0).await;
    for i in 0..10_050 {
        sim.insert(
            "deals",
            json!({"dealname": format!("deal {i}"), "amount": i}),
        )
        .unwrap();
    }
    let rt = runtime();
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut session = rt.session(&connector, &conn_for(&sim)).await.unwrap();
    let since = Some("2000-01-01T00:00:00Z".to_string());
    let (records, checkpoint) = read_pages(&mut session, "deals", since, 200).await;
    assert_eq!(
        assert_unique(&records),
        10_050,
        "past the search's 10,000-result cap"
    );
    assert!(checkpoint.is_some());
    assert_eq!(
        records
            .iter()
            .filter(|r| r.get("amount") == Some(&FieldValue::Number(10_049.0)))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_an_unauthorized_error() {
    let sim = seeded(1).await;
    let rt = runtime();
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut conn = conn_for(&sim);
    bind_secret(&mut conn, "hubspot_token", "pat-na1-not-the-token");
    let mut session = rt.session(&connector, &conn).await.unwrap();
    let err = read_all(&mut session, "people", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unauthorized"), "{err}");
    assert!(err.contains("INVALID_AUTHENTICATION"), "{err}");
    assert!(!err.contains("pat-na1-not-the-token"), "{err}");
}

// --- Webhooks: HubSpot's v3 signature over deliveries the simulator builds
// from its own store changes.

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
    let results = session.write("people", &ops).await.unwrap();
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
