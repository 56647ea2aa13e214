//! Unit tests of the webhook module: the v3 signature, the timestamp window
//! and the mapping of event batches.

use super::*;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
const URL: &str = "https://sync.example.com/hooks/crm?source=hubspot";
const NOW: i64 = 1_700_000_100_000;

fn entities() -> BTreeMap<String, Entity> {
    let e = |ty: &str| Entity {
        object_type: ty.into(),
        properties: None,
    };
    BTreeMap::from([
        ("people".to_string(), e("contacts")),
        ("deals".to_string(), e("deals")),
    ])
}

fn config() -> Config {
    Config {
        url: Some(URL.into()),
        secret: DEFAULT_SECRET.into(),
    }
}

/// What the host computes: the real HMAC-SHA256 keyed with the client secret.
fn real_hmac(message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// HubSpot's side: base64(HMAC-SHA256(secret, method + uri + body + timestamp)).
fn sign(method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    let mut message = format!("{method}{uri}").into_bytes();
    message.extend_from_slice(body);
    message.extend_from_slice(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(real_hmac(&message))
}

fn event(id: u64, ty: &str, object: u64, at: i64) -> Value {
    let mut e = json!({
        "eventId": id,
        "subscriptionId": 1,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": at,
        "subscriptionType": ty,
        "attemptNumber": 0,
        "objectId": object,
        "changeSource": "CRM",
    });
    if ty.ends_with(".propertyChange") {
        e["propertyName"] = json!("email");
        e["propertyValue"] = json!("x@y.com");
    }
    e
}

fn request(body: Vec<u8>, headers: Vec<(&str, String)>) -> WebhookRequest {
    let mut all = vec![("content-type".to_string(), "application/json".to_string())];
    all.extend(headers.into_iter().map(|(k, v)| (k.to_string(), v)));
    WebhookRequest {
        method: "POST".into(),
        path: "/hooks/crm".into(),
        headers: all,
        body,
    }
}

fn signed(body: Vec<u8>, timestamp: i64) -> WebhookRequest {
    let ts = timestamp.to_string();
    let sig = sign("POST", URL, &body, &ts);
    request(
        body,
        vec![
            ("x-hubspot-signature-v3", sig),
            ("x-hubspot-request-timestamp", ts),
        ],
    )
}

fn run(req: &WebhookRequest) -> Result<Delivery, ConnectorError> {
    handle(req, &config(), &entities(), NOW, |name, msg| {
        assert_eq!(name, DEFAULT_SECRET);
        Ok(real_hmac(msg))
    })
}

fn upsert(entity: &str, id: &str, at: &str) -> ChangeEvent {
    ChangeEvent {
        entity: entity.into(),
        id: id.into(),
        kind: ChangeKind::Upsert,
        at: Some(at.into()),
    }
}

fn unauthorized(got: &Result<Delivery, ConnectorError>, needle: &str) -> bool {
    matches!(got, Err(ConnectorError::Unauthorized(m)) if m.contains(needle))
}

#[test]
fn a_signed_batch_gives_its_change_events() {
    let body = serde_json::to_vec(&json!([
        event(100, "contact.propertyChange", 123, 1_700_000_000_000),
        event(101, "deal.creation", 77, 1_700_000_000_500),
    ]))
    .unwrap();
    let got = run(&signed(body, NOW - 1_000)).unwrap();
    assert_eq!(
        got.events,
        vec![
            upsert("people", "123", "2023-11-14T22:13:20.000Z"),
            upsert("deals", "77", "2023-11-14T22:13:20.500Z"),
        ]
    );
    assert!(got.ignored.is_empty());
}

#[test]
fn a_signature_over_anything_else_is_unauthorized() {
    let body = serde_json::to_vec(&json!([event(1, "contact.creation", 5, NOW)])).unwrap();
    let ts = (NOW - 1_000).to_string();
    let cases = [
        ("another method", sign("PUT", URL, &body, &ts)),
        (
            "another URL",
            sign("POST", "https://evil.example.com/", &body, &ts),
        ),
        ("another body", sign("POST", URL, b"[]", &ts)),
        (
            "another timestamp",
            sign("POST", URL, &body, &(NOW - 2_000).to_string()),
        ),
        ("not base64", "%%%".to_string()),
        ("empty", String::new()),
    ];
    for (what, sig) in cases {
        let req = request(
            body.clone(),
            vec![(SIGNATURE_HEADER, sig), (TIMESTAMP_HEADER, ts.clone())],
        );
        let got = run(&req);
        assert!(unauthorized(&got, "does not match"), "{what}: {got:?}");
    }
    // the v1 signature HubSpot also sends is not enough
    let req = request(
        body,
        vec![
            ("X-HubSpot-Signature", "00".repeat(32)),
            ("X-HubSpot-Signature-Version", "v1".into()),
            (TIMESTAMP_HEADER, ts),
        ],
    );
    assert!(unauthorized(&run(&req), SIGNATURE_HEADER));
}

#[test]
fn stale_missing_or_malformed_timestamps_are_unauthorized() {
    let body = serde_json::to_vec(&json!([event(1, "contact.creation", 5, NOW)])).unwrap();
    // exactly five minutes old still passes; a millisecond more does not
    assert!(run(&signed(body.clone(), NOW - MAX_AGE_MS)).is_ok());
    let got = run(&signed(body.clone(), NOW - MAX_AGE_MS - 1));
    assert!(unauthorized(&got, "5 minutes"), "{got:?}");
    let got = run(&signed(body.clone(), NOW - 6 * 60 * 1000));
    assert!(unauthorized(&got, "signed 360 s ago"), "{got:?}");
    // seconds instead of milliseconds look 50 years old
    let got = run(&signed(body.clone(), NOW / 1000));
    assert!(unauthorized(&got, "5 minutes"), "{got:?}");
    let sig = sign("POST", URL, &body, "");
    let got = run(&request(
        body.clone(),
        vec![(SIGNATURE_HEADER, sig.clone())],
    ));
    assert!(unauthorized(&got, TIMESTAMP_HEADER), "{got:?}");
    let got = run(&request(
        body,
        vec![
            (SIGNATURE_HEADER, sig),
            (TIMESTAMP_HEADER, "yesterday".into()),
        ],
    ));
    assert!(unauthorized(&got, "not milliseconds"), "{got:?}");
}

#[test]
fn the_request_uri_decodes_only_the_documented_characters() {
    assert_eq!(
        request_uri("https://ex.com/a%3Ab%2Fc%3Fd%40e%21f%24g%27h%28i%29j%2Ak%2Cl%3Bm"),
        "https://ex.com/a:b/c?d@e!f$g'h(i)j*k,l;m"
    );
    // lower-case hex too; other escapes stay as they are
    assert_eq!(
        request_uri("https://ex.com/x%3a%20y%25%2"),
        "https://ex.com/x:%20y%25%2"
    );
    assert_eq!(request_uri(URL), URL);
    // and the signature is over the decoded form
    let url = "https://sync.example.com/hooks/a%3Ab";
    let body = b"[]".to_vec();
    let ts = (NOW - 10).to_string();
    let sig = sign("POST", "https://sync.example.com/hooks/a:b", &body, &ts);
    let config = Config {
        url: Some(url.into()),
        secret: "mine".into(),
    };
    let req = request(body, vec![(SIGNATURE_HEADER, sig), (TIMESTAMP_HEADER, ts)]);
    let got = handle(&req, &config, &entities(), NOW, |name, m| {
        assert_eq!(name, "mine");
        Ok(real_hmac(m))
    });
    assert_eq!(got.unwrap().events, vec![]);
}

#[test]
fn deletions_and_object_types_map_to_entities() {
    let body = serde_json::to_vec(&json!([
        event(1, "contact.deletion", 11, 1_000),
        event(2, "contact.privacyDeletion", 12, 1_000),
        event(3, "contact.restore", 13, 1_000),
        event(4, "contact.merge", 14, 1_000),
        event(5, "deal.deletion", 21, 1_000),
        event(6, "company.creation", 31, 1_000),
        event(7, "contact.associationChange", 11, 1_000),
        event(8, "conversation.creation", 41, 1_000),
    ]))
    .unwrap();
    let got = events_from(&body, &entities()).unwrap();
    let kinds: Vec<(&str, &str, ChangeKind)> = got
        .events
        .iter()
        .map(|e| (e.entity.as_str(), e.id.as_str(), e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("people", "11", ChangeKind::Delete),
            ("people", "12", ChangeKind::Delete),
            ("people", "13", ChangeKind::Upsert),
            ("people", "14", ChangeKind::Upsert),
            ("deals", "21", ChangeKind::Delete),
        ]
    );
    // companies are not configured; the others name no one record
    assert_eq!(
        got.ignored,
        [
            "company.creation",
            "contact.associationChange",
            "conversation.creation"
        ]
    );
}

#[test]
fn generic_events_and_merges_map_to_entities() {
    let generic = |id: u64, ty: &str, object: u64, type_id: &str| {
        let mut e = event(id, ty, object, 1_000);
        e["objectTypeId"] = json!(type_id);
        e
    };
    let mut merge = generic(3, "object.merge", 30, "0-1");
    merge["primaryObjectId"] = json!(10);
    merge["mergedObjectIds"] = json!([11, 12]);
    merge["newObjectId"] = json!(30);
    let body = serde_json::to_vec(&json!([
        generic(1, "object.creation", 21, "0-3"),
        generic(2, "object.creation", 31, "0-2"),
        merge,
        generic(4, "object.creation", 41, "0-5"),
    ]))
    .unwrap();
    let got = events_from(&body, &entities()).unwrap();
    let kinds: Vec<(&str, &str, ChangeKind)> = got
        .events
        .iter()
        .map(|e| (e.entity.as_str(), e.id.as_str(), e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("deals", "21", ChangeKind::Upsert),
            ("people", "11", ChangeKind::Delete),
            ("people", "12", ChangeKind::Delete),
            ("people", "10", ChangeKind::Delete),
            ("people", "30", ChangeKind::Upsert),
        ]
    );
    assert_eq!(got.ignored, ["object.creation", "object.creation"]);
    // A merge that kept the primary's id (older merges) ends only the others.
    let mut merge = event(1, "contact.merge", 10, 1_000);
    merge["primaryObjectId"] = json!(10);
    merge["mergedObjectIds"] = json!([11]);
    merge["newObjectId"] = json!(10);
    let body = serde_json::to_vec(&json!([merge])).unwrap();
    let got = events_from(&body, &entities()).unwrap().events;
    let kinds: Vec<(&str, ChangeKind)> = got.iter().map(|e| (e.id.as_str(), e.kind)).collect();
    assert_eq!(
        kinds,
        [("11", ChangeKind::Delete), ("10", ChangeKind::Upsert)]
    );
    let body = br#"[{"subscriptionType":"object.deletion","objectId":5}]"#;
    assert!(matches!(
        events_from(body, &entities()),
        Err(ConnectorError::InvalidInput(m)) if m.contains("no `objectTypeId`")
    ));
}

#[test]
fn events_about_one_record_collapse_into_its_latest() {
    let body = serde_json::to_vec(&json!([
        event(1, "contact.creation", 5, 1_000),
        event(2, "contact.propertyChange", 5, 2_000),
        event(3, "deal.propertyChange", 9, 1_500),
        // HubSpot does not promise order: the deletion happened last
        event(5, "contact.deletion", 5, 3_000),
        event(4, "contact.propertyChange", 5, 2_500),
    ]))
    .unwrap();
    let got = events_from(&body, &entities()).unwrap().events;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].id.as_str(), got[0].kind, got[0].at.as_deref()),
        ("5", ChangeKind::Delete, Some("1970-01-01T00:00:03.000Z"))
    );
    assert_eq!((got[1].entity.as_str(), got[1].id.as_str()), ("deals", "9"));
}

#[test]
fn every_entity_of_an_object_type_gets_its_events() {
    let mut entities = entities();
    entities.insert(
        "leads".into(),
        Entity {
            object_type: "contacts".into(),
            properties: None,
        },
    );
    let body = serde_json::to_vec(&json!([event(1, "contact.creation", 5, 1_000)])).unwrap();
    let got = events_from(&body, &entities).unwrap().events;
    let names: Vec<&str> = got.iter().map(|e| e.entity.as_str()).collect();
    assert_eq!(names, ["leads", "people"]);
}

#[test]
fn malformed_batches_are_invalid_input() {
    for (body, needle) in [
        (b"not json".to_vec(), "not JSON"),
        (
            br#"{"subscriptionType":"contact.creation"}"#.to_vec(),
            "array",
        ),
        (
            br#"[{"objectId": 5}]"#.to_vec(),
            "event 0 has no `subscriptionType`",
        ),
        (
            br#"[{"subscriptionType":"contact.creation","objectId":"../x"}]"#.to_vec(),
            "`objectId`",
        ),
        (
            br#"[{"subscriptionType":"deal.deletion"}]"#.to_vec(),
            "(`deal.deletion`) has no valid `objectId`",
        ),
    ] {
        let got = events_from(&body, &entities());
        assert!(
            matches!(&got, Err(ConnectorError::InvalidInput(m)) if m.contains(needle)),
            "{needle}: {got:?}"
        );
    }
    // an id as digits is accepted, and an event without a time has none
    let body = br#"[{"subscriptionType":"contact.creation","objectId":"512"}]"#;
    let got = events_from(body, &entities()).unwrap().events;
    assert_eq!((got[0].id.as_str(), got[0].at.as_deref()), ("512", None));
}

#[test]
fn without_webhook_url_or_secret_nothing_is_verified() {
    let body = serde_json::to_vec(&json!([event(1, "contact.creation", 5, NOW)])).unwrap();
    let req = signed(body, NOW - 1);
    let no_url = Config {
        url: None,
        secret: DEFAULT_SECRET.into(),
    };
    let got = handle(&req, &no_url, &entities(), NOW, |_, _| {
        panic!("nothing to sign without the URL")
    });
    assert!(
        matches!(&got, Err(ConnectorError::InvalidInput(m)) if m.contains("`webhook_url`")),
        "{got:?}"
    );
    let got = handle(&req, &config(), &entities(), NOW, |_, _| {
        Err("no secret named `hubspot_client_secret` is bound for this job".into())
    });
    assert!(
        matches!(&got, Err(ConnectorError::Fatal(m)) if m.contains("`hubspot_client_secret`") && m.contains("webhook_secret")),
        "{got:?}"
    );
}

#[test]
fn settings_name_the_url_and_the_secret() {
    let settings = |pairs: &[(&str, &str)]| {
        Settings::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    assert_eq!(
        config_from_settings(&settings(&[])).unwrap(),
        Config {
            url: None,
            secret: "hubspot_client_secret".into()
        }
    );
    assert_eq!(
        config_from_settings(&settings(&[
            ("webhook_url", " https://h.example.com/hooks/j "),
            ("webhook_secret", "app_secret"),
        ]))
        .unwrap(),
        Config {
            url: Some("https://h.example.com/hooks/j".into()),
            secret: "app_secret".into()
        }
    );
    for (name, value) in [
        ("webhook_secret", " "),
        ("webhook_url", "/hooks/j"),
        ("webhook_url", "https:///hooks"),
        ("webhook_url", "ftp://h.example.com/"),
        ("webhook_url", "https://h.example.com/a b"),
    ] {
        let got = config_from_settings(&settings(&[(name, value)]));
        assert!(
            matches!(&got, Err(ConnectorError::InvalidInput(m)) if m.contains(name)),
            "{name}={value}: {got:?}"
        );
    }
}
