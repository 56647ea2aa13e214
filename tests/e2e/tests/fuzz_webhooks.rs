//! Fuzzing the webhook path: arbitrary headers and bodies, unsigned and
//! correctly signed (so the parsers behind the signature checks are reached),
//! handed to the Notion, Airtable and HubSpot connectors in the sandbox.
//! Whatever arrives, the answer is events or a typed error: never a trap (a
//! guest panic), never a host panic.
//!
//! Bounded for CI; `PROPTEST_CASES=20000 cargo test -p synchost-e2e --test
//! fuzz_webhooks` runs a longer campaign.

use std::sync::{Arc, OnceLock};

use hmac::{Hmac, Mac};
use proptest::prelude::*;
use serde_json::{json, Value};
use synchost::runtime::{Connection, LoadedConnector, Runtime, RuntimeError, WebhookRequest};
use synchost_e2e::{bind_secret, build_connector, runtime};

const NOTION_KEY: &str = "secret_fuzz_notion_verification";
const AIRTABLE_KEY: &[u8] = b"\x00\x01fuzz-mac-key\xfe";
const HUBSPOT_KEY: &str = "fuzz-hubspot-client-secret";
const HOOK_URL: &str = "https://sync.example.com/hooks/fuzz";

struct Target {
    name: &'static str,
    connector: Arc<LoadedConnector>,
    conn: Connection,
}

struct Fixture {
    rt: Runtime,
    tokio: tokio::runtime::Runtime,
    targets: Vec<Target>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let rt = runtime();
        let load = |package: &str| tokio.block_on(rt.load(&build_connector(package))).unwrap();
        use base64::Engine as _;
        let mut notion = Connection::default();
        notion.settings.insert(
            "database.tasks".into(),
            "1c2f0e2a7d3b4c5e9f000123456789ab".into(),
        );
        bind_secret(&mut notion, "notion_token", "secret_token");
        bind_secret(&mut notion, "notion_webhook_secret", NOTION_KEY);
        let mut airtable = Connection::default();
        airtable
            .settings
            .insert("base_id".into(), "appQ7sN2xK4mP9rT1".into());
        airtable
            .settings
            .insert("table.tasks".into(), "Tasks".into());
        bind_secret(&mut airtable, "airtable_token", "pat_token");
        bind_secret(
            &mut airtable,
            "airtable_webhook_mac",
            &base64::engine::general_purpose::STANDARD.encode(AIRTABLE_KEY),
        );
        let var = airtable.secrets["airtable_webhook_mac"].clone();
        airtable
            .secrets
            .insert("airtable_webhook_mac".into(), format!("{var}#base64"));
        let mut hubspot = Connection::default();
        hubspot
            .settings
            .insert("webhook_url".into(), HOOK_URL.into());
        bind_secret(&mut hubspot, "hubspot_token", "pat-na1-token");
        bind_secret(&mut hubspot, "hubspot_client_secret", HUBSPOT_KEY);
        let targets = vec![
            Target {
                name: "notion",
                connector: load("synchost-connector-notion"),
                conn: notion,
            },
            Target {
                name: "airtable",
                connector: load("synchost-connector-airtable"),
                conn: airtable,
            },
            Target {
                name: "hubspot",
                connector: load("synchost-connector-hubspot"),
                conn: hubspot,
            },
        ];
        Fixture { rt, tokio, targets }
    })
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The headers a platform would sign `body` with, for each connector.
fn signed(target: &str, body: &[u8]) -> Vec<(String, String)> {
    use base64::Engine as _;
    match target {
        "notion" => vec![(
            "X-Notion-Signature".into(),
            format!("sha256={}", hex::encode(hmac(NOTION_KEY.as_bytes(), body))),
        )],
        "airtable" => vec![(
            "X-Airtable-Content-MAC".into(),
            format!("hmac-sha256={}", hex::encode(hmac(AIRTABLE_KEY, body))),
        )],
        _ => {
            let timestamp = chrono::Utc::now().timestamp_millis().to_string();
            let mut message = b"POST".to_vec();
            message.extend_from_slice(HOOK_URL.as_bytes());
            message.extend_from_slice(body);
            message.extend_from_slice(timestamp.as_bytes());
            vec![
                (
                    "X-HubSpot-Signature-v3".into(),
                    base64::engine::general_purpose::STANDARD
                        .encode(hmac(HUBSPOT_KEY.as_bytes(), &message)),
                ),
                ("X-HubSpot-Request-Timestamp".into(), timestamp),
            ]
        }
    }
}

/// Keys the three platforms' deliveries use, so that generated JSON looks
/// enough like a delivery to get past the first checks.
const KEYS: &[&str] = &[
    "type",
    "entity",
    "id",
    "data",
    "parent",
    "timestamp",
    "verification_token",
    "base",
    "webhook",
    "objectId",
    "objectTypeId",
    "subscriptionType",
    "occurredAt",
    "propertyName",
    "changeSource",
    "eventId",
    "authors",
    "workspace_id",
    "subscription_id",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        any::<String>().prop_map(Value::from),
        prop::sample::select(vec![
            "page.created",
            "page.deleted",
            "page.properties_updated",
            "contact.creation",
            "deal.deletion",
            "2026-01-01T00:00:00Z",
            "1c2f0e2a7d3b4c5e9f000123456789ab",
            "appQ7sN2xK4mP9rT1",
            "database",
            "page",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(KEYS.to_vec()).prop_map(String::from),
                    any::<String>()
                ],
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        // a batch, as HubSpot sends
        prop::collection::vec(json_value(), 0..4)
            .prop_map(|v| Value::Array(v).to_string().into_bytes()),
        Just(json!({"verification_token": "x"}).to_string().into_bytes()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(vec![
                    "X-Notion-Signature",
                    "X-Airtable-Content-MAC",
                    "X-HubSpot-Signature-v3",
                    "X-HubSpot-Request-Timestamp",
                    "content-type",
                ])
                .prop_map(String::from),
                "[a-zA-Z-]{1,20}",
            ],
            any::<String>(),
        ),
        0..5,
    )
}

fn deliver(target: &Target, headers: Vec<(String, String)>, body: Vec<u8>) -> Result<(), String> {
    let f = fixture();
    let outcome = f.tokio.block_on(async {
        let mut session = f.rt.session(&target.connector, &target.conn).await?;
        session
            .webhook(&WebhookRequest {
                method: "POST".into(),
                path: "/hooks/fuzz".into(),
                headers,
                body,
            })
            .await
    });
    match outcome {
        Ok(_) | Err(RuntimeError::Connector { .. }) => Ok(()),
        Err(other) => Err(format!("{}: {other}", target.name)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(150),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn unsigned_garbage_gets_a_typed_answer(headers in headers(), body in body()) {
        for target in &fixture().targets {
            deliver(target, headers.clone(), body.clone()).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn signed_garbage_gets_a_typed_answer(extra in headers(), body in body()) {
        for target in &fixture().targets {
            let mut headers = signed(target.name, &body);
            headers.extend(extra.clone());
            deliver(target, headers, body.clone()).map_err(TestCaseError::fail)?;
        }
    }
}

/// The signing above is what the connectors verify: a well-formed signed
/// delivery of each platform is accepted, so the fuzzing reaches the parsers.
#[test]
fn signed_deliveries_reach_the_parsers() {
    let f = fixture();
    let bodies = [
        (
            "notion",
            json!({"id": "e1", "type": "page.properties_updated", "timestamp": "2026-01-01T00:00:00.000Z",
            "entity": {"id": "p1", "type": "page"},
            "data": {"parent": {"id": "1c2f0e2a7d3b4c5e9f000123456789ab", "type": "database"}}}),
        ),
        (
            "airtable",
            json!({"base": {"id": "appQ7sN2xK4mP9rT1"}, "webhook": {"id": "ach1"},
            "timestamp": "2026-01-01T00:00:00.000Z"}),
        ),
        ("hubspot", json!([])),
    ];
    for (target, (name, body)) in f.targets.iter().zip(bodies) {
        assert_eq!(target.name, name);
        let body = body.to_string().into_bytes();
        let got = f.tokio.block_on(async {
            let mut session = f.rt.session(&target.connector, &target.conn).await.unwrap();
            session
                .webhook(&WebhookRequest {
                    method: "POST".into(),
                    path: "/hooks/fuzz".into(),
                    headers: signed(name, &body),
                    body,
                })
                .await
        });
        assert!(got.is_ok(), "{name}: {got:?}");
    }
}
