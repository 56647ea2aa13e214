//! The HubSpot connector, built from source to wasm, against the HubSpot
//! simulator with its rate limits on (100 requests per 10 s, 4 searches per
//! second, a daily budget; 429 without Retry-After).

use serde_json::json;
use synchost::runtime::{
    ChangeEvent, ChangeKind, ConnectorError, DeleteOp, Field, FieldValue, Rate, ReadRequest,
    UpdateOp, WebhookRequest, WriteOp,
};
use synchost_e2e::{assert_unique, bind_secret, build_connector, read_all, runtime, simulated};
use synchost_sim::hubspot::{BatchResults, HubSpotOptions, HubSpotSim, RateLimit, WebhookFormat};

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

// HubSpot promises neither the order of batch results nor the echo of
// `objectWriteTraceId` (see `synchost_sim::hubspot::BatchResults`): the
// writes must come out the same under every reading.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_round_trip_with_the_echo_in_shuffled_order() {
    writes_round_trip(true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_round_trip_without_the_echo_in_shuffled_order() {
    writes_round_trip(false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_round_trip_without_the_echo_in_input_order() {
    writes_round_trip(false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_round_trip_with_the_echo_in_input_order() {
    writes_round_trip(true, false).await;
}

/// Creates (one refused before any request, one a duplicate email, which
/// HubSpot refuses alone), updates (one stale) and a delete, then what the
/// platform shows.
async fn writes_round_trip(echo: bool, shuffle: bool) {
    let sim = seeded(5).await;
    sim.set_batch_results(BatchResults {
        echo_write_trace_ids: echo,
        shuffle,
    });
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
    let results = session.write_results("people", &ops).await.unwrap();
    let created = results[0].as_ref().expect("create").id.clone();
    let bad = format!("{:?}", results[1]);
    assert!(
        bad.contains("No such property"),
        "one bad op fails alone, naming the field: {bad}"
    );
    let dup = format!("{:?}", results[2]);
    assert!(dup.contains("Contact already exists"), "{dup}");
    let second_new = results[3].as_ref().expect("second create").id.clone();
    // Each op got its own record, not another op's.
    let shown = |id: &str| sim.record("contacts", id).unwrap()["properties"]["firstname"].clone();
    assert_eq!(shown(&created), "Written by synchost");
    assert_eq!(shown(&second_new), "Second new");
    assert_eq!(sim.records("contacts").len(), 7, "nothing created twice");

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
    let results = session.write_results("people", &ops).await.unwrap();
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
    assert!(session.write_results("people", &ops).await.unwrap()[0].is_ok());

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
async fn an_incremental_read_shows_a_merge_as_tombstones_and_the_result() {
    let sim = seeded(3).await;
    let rt = runtime();
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut session = rt.session(&connector, &conn_for(&sim)).await.unwrap();
    sim.clock().advance(chrono::Duration::seconds(2));
    let (_, checkpoint) = read_all(&mut session, "people", None).await.unwrap();
    sim.clock().advance(chrono::Duration::seconds(2));
    let ids: Vec<String> = sim
        .records("contacts")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    // Merged records are neither archived nor listed: only the result names them.
    let result = sim.merge("contacts", &ids[0], &ids[1]).unwrap();
    sim.clock().advance(chrono::Duration::seconds(2));
    let (changed, _) = read_all(&mut session, "people", checkpoint).await.unwrap();
    let mut got: Vec<(String, bool)> = changed.iter().map(|r| (r.id.clone(), r.deleted)).collect();
    got.sort();
    let mut want = vec![
        (ids[0].clone(), true),
        (ids[1].clone(), true),
        (result, false),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_incremental_read_never_meets_the_search_limit() {
    let sim = seeded(0).await;
    for i in 0..1_500 {
        sim.insert("deals", json!({"dealname": format!("deal {i}")}))
            .unwrap();
    }
    let rt = runtime();
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut session = rt.session(&connector, &conn_for(&sim)).await.unwrap();
    let since = Some("2000-01-01T00:00:00Z".to_string());
    // 30 searches, at the pace the host keeps for the declared 10 per second
    let (records, _) = read_pages(&mut session, "deals", since, 50).await;
    assert_eq!(assert_unique(&records), 1_500);
    assert_eq!(
        sim.rate_limited_count(),
        0,
        "HubSpot's search limit (4 a second here) was met"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_reads_of_two_sessions_on_one_token_both_complete() {
    // Each session spaces its own searches; together they exceed HubSpot's
    // search limit, and the 429s must be waited out, not fail the reads.
    let sim = seeded(600).await;
    for i in 0..600 {
        sim.insert("deals", json!({"dealname": format!("deal {i}")}))
            .unwrap();
    }
    let rt = runtime();
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut people = rt.session(&connector, &conn_for(&sim)).await.unwrap();
    let mut deals = rt.session(&connector, &conn_for(&sim)).await.unwrap();
    let since = Some("2000-01-01T00:00:00Z".to_string());
    let (a, b) = tokio::join!(
        read_pages(&mut people, "people", since.clone(), 40),
        read_pages(&mut deals, "deals", since, 40)
    );
    assert_eq!((assert_unique(&a.0), assert_unique(&b.0)), (600, 600));
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

#[path = "hubspot/webhooks.rs"]
mod webhooks;
