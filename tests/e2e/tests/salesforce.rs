//! The Salesforce connector, built from source to wasm, against the
//! Salesforce simulator (REST API v59.0, a daily request allocation, OAuth
//! access tokens).
//!
//! The connector declares `{{setting:instance_url}}` and
//! `https://login.salesforce.com`: these tests name an org's My Domain as
//! `instance_url` and redirect it, and the token endpoint's origin, to the
//! simulator.

use serde_json::json;
use synchost::runtime::{
    ConnectorError, DeleteOp, Field, FieldType, FieldValue, Record, UpdateOp, WriteOp,
};
use synchost_e2e::{assert_unique, bind_secret, build_connector, read_all, runtime, simulated};
use synchost_sim::salesforce::{SalesforceOptions, SalesforceSim};

const TOKEN: &str = "00D5g00000SIMORG!AR8AQe2e_access_token";
/// The org's instance (see the module comment).
const INSTANCE: &str = "https://acme.my.salesforce.com";
/// Where the refresh token flow's token endpoint is.
const LOGIN: &str = "https://login.salesforce.com";
const CONNECTOR: &str = "synchost-connector-salesforce";

async fn seeded(n: usize, daily_limit: Option<u64>) -> (SalesforceSim, Vec<String>) {
    let sim = SalesforceSim::start(SalesforceOptions {
        access_token: TOKEN.into(),
        daily_limit,
        ..Default::default()
    })
    .await
    .unwrap();
    let ids = (0..n)
        .map(|i| {
            sim.insert(
                "Contact",
                json!({
                    "FirstName": "Ada",
                    "LastName": format!("Contact {i}"),
                    "Email": format!("contact{i}@example.com"),
                    "Level__c": if i % 2 == 0 { "Primary" } else { "Secondary" },
                    "Score__c": i,
                }),
            )
            .unwrap()
        })
        .collect();
    (sim, ids)
}

fn conn_for(sim: &SalesforceSim) -> synchost::runtime::Connection {
    let mut conn = simulated(INSTANCE, &sim.base_url());
    conn.endpoint_overrides.insert(LOGIN.into(), sim.base_url());
    conn.settings.insert("instance_url".into(), INSTANCE.into());
    conn.settings
        .insert("object.contacts".into(), "Contact".into());
    bind_secret(&mut conn, "salesforce_token", TOKEN);
    conn
}

async fn session_for(
    conn: &synchost::runtime::Connection,
) -> (synchost::runtime::Runtime, synchost::runtime::Session) {
    let rt = runtime();
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let session = rt.session(&connector, conn).await.unwrap();
    (rt, session)
}

fn find<'a>(records: &'a [Record], id: &str) -> &'a Record {
    records
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no record {id}"))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_page_of_1000_contacts() {
    let (sim, ids) = seeded(1000, Some(15_000)).await;
    let (_rt, mut session) = session_for(&conn_for(&sim)).await;
    let (records, checkpoint) = read_all(&mut session, "contacts", None).await.unwrap();
    assert_eq!(
        assert_unique(&records),
        1000,
        "no record lost or duplicated"
    );
    let read: std::collections::BTreeSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert!(ids.iter().all(|id| read.contains(id.as_str())));
    assert!(checkpoint.is_some());
    let names: std::collections::BTreeSet<_> =
        records.iter().map(|r| r.get_text("LastName")).collect();
    assert_eq!(names.len(), 1000);
    let first = &records[0];
    assert!(!first.deleted);
    assert!(first.version.as_deref().is_some_and(|v| v.ends_with('Z')));
    assert_eq!(
        first.get("Email").map(|v| matches!(v, FieldValue::Text(_))),
        Some(true)
    );
    // read_all asks for pages of 100; Salesforce's smallest batch is 200:
    // one describe and five query batches.
    assert_eq!(sim.request_count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_comes_from_the_describe_and_fields_can_be_chosen() {
    let (sim, _) = seeded(3, None).await;
    let mut conn = conn_for(&sim);
    let (_rt, mut session) = session_for(&conn).await;
    let schema = session.schema("contacts").await.unwrap();
    let kind = |n: &str| schema.fields.iter().find(|f| f.name == n).unwrap();
    assert_eq!(kind("LastName").kind, FieldType::Text);
    assert_eq!(kind("AccountId").kind, FieldType::Reference);
    assert_eq!(kind("Languages__c").kind, FieldType::MultiSelect);
    assert_eq!(
        kind("Level__c").options,
        ["Primary", "Secondary", "Tertiary"]
    );
    assert!(kind("SystemModstamp").read_only && !kind("Email").read_only);

    conn.settings
        .insert("fields.contacts".into(), "LastName, Email".into());
    let (_rt, mut session) = session_for(&conn).await;
    let (records, _) = read_all(&mut session, "contacts", None).await.unwrap();
    let names: Vec<&str> = records[0].fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["SystemModstamp", "LastName", "Email"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_creates_updates_and_deletes_that_the_platform_shows() {
    let (sim, ids) = seeded(5, None).await;
    let account = sim.insert("Account", json!({ "Name": "Acme" })).unwrap();
    let (_rt, mut session) = session_for(&conn_for(&sim)).await;
    let (first, second) = (ids[0].clone(), ids[1].clone());
    let ops = vec![
        WriteOp::Create(vec![
            field("FirstName", text("Grace")),
            field("LastName", text("Written by synchost")),
            field("Email", text("grace@example.com")),
            field("Level__c", FieldValue::Select("Tertiary".into())),
            field(
                "Languages__c",
                FieldValue::MultiSelect(vec!["English".into(), "French".into()]),
            ),
            field("Score__c", FieldValue::Number(13.0)),
            field("AccountId", FieldValue::Reference(vec![account.clone()])),
        ]),
        WriteOp::Update(UpdateOp {
            id: first.clone(),
            expected_version: None,
            fields: vec![
                field("Score__c", FieldValue::Number(99.0)),
                field("Title", text("CEO")),
            ],
        }),
        WriteOp::Delete(DeleteOp {
            id: second.clone(),
            expected_version: None,
        }),
        WriteOp::Create(vec![field("No_Such_Field__c", text("x"))]),
        WriteOp::Create(vec![field("FirstName", text("No last name"))]),
    ];
    let results = session.write_results("contacts", &ops).await.unwrap();
    let created = results[0].as_ref().expect("create").id.clone();
    assert!(results[1].is_ok() && results[2].is_ok(), "{results:?}");
    let bad = format!("{:?}", results[3]);
    assert!(
        bad.contains("InvalidInput") && bad.contains("No_Such_Field__c"),
        "one bad op fails alone, naming the field: {bad}"
    );
    let refused = format!("{:?}", results[4]);
    assert!(
        refused.contains("InvalidInput") && refused.contains("REQUIRED_FIELD_MISSING"),
        "the platform's refusal of one record is that op's outcome: {refused}"
    );

    let c = sim.record(&created).unwrap();
    assert_eq!(c["Name"], "Grace Written by synchost");
    assert_eq!(c["Level__c"], "Tertiary");
    assert_eq!(c["Languages__c"], "English;French");
    assert_eq!(c["Score__c"], 13.0);
    assert_eq!(c["AccountId"], json!(account));
    let f = sim.record(&first).unwrap();
    assert_eq!(
        (f["Score__c"].clone(), f["Title"].clone()),
        (json!(99.0), json!("CEO"))
    );
    assert_eq!(sim.record(&second).unwrap()["IsDeleted"], true);

    // A fresh read shows the same: the deleted contact is gone.
    let (after, _) = read_all(&mut session, "contacts", None).await.unwrap();
    assert_eq!(after.len(), 5);
    assert!(after.iter().all(|r| r.id != second));
    let mine = find(&after, &created);
    assert_eq!(mine.get("Score__c"), Some(&FieldValue::Number(13.0)));

    // Conditional updates: the version read is current once, stale after.
    let version = find(&after, &first).version.clone();
    let update = |v: Option<String>| {
        vec![WriteOp::Update(UpdateOp {
            id: first.clone(),
            expected_version: v,
            fields: vec![field("Title", text("CTO"))],
        })]
    };
    sim.clock().advance(chrono::Duration::seconds(1));
    let ok = session
        .write_results("contacts", &update(version.clone()))
        .await
        .unwrap();
    assert!(ok[0].is_ok(), "{ok:?}");
    let stale = session
        .write_results("contacts", &update(version))
        .await
        .unwrap();
    assert!(
        matches!(&stale[0], Err(ConnectorError::Conflict(c)) if c.id == first && c.current_version.is_some()),
        "{stale:?}"
    );
    // Deleting what is already deleted is `not-found`, which the host counts as done.
    let again = session
        .write_results(
            "contacts",
            &[WriteOp::Delete(DeleteOp {
                id: second.clone(),
                expected_version: None,
            })],
        )
        .await
        .unwrap();
    assert!(
        matches!(&again[0], Err(ConnectorError::NotFound(_))),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_read_returns_changes_since_the_checkpoint_and_deletions() {
    let (sim, ids) = seeded(300, None).await;
    let (_rt, mut session) = session_for(&conn_for(&sim)).await;
    let clock = sim.clock();
    // The checkpoint is Salesforce's time (its Date header, to the second)
    // when the read began: let the seeding be in the past.
    clock.advance(chrono::Duration::minutes(1));
    let (all, checkpoint) = read_all(&mut session, "contacts", None).await.unwrap();
    assert_eq!(all.len(), 300);
    clock.advance(chrono::Duration::minutes(2));
    sim.update(&ids[7], json!({ "Title": "Changed" })).unwrap();
    sim.delete(&ids[8]).unwrap();
    // getDeleted ignores the seconds of its window: a deletion is reported
    // once the minute it happened in is over.
    clock.advance(chrono::Duration::minutes(2));

    let (changed, next) = read_all(&mut session, "contacts", checkpoint.clone())
        .await
        .unwrap();
    let mut seen: Vec<&str> = changed.iter().map(|r| r.id.as_str()).collect();
    seen.sort();
    let mut expected = vec![ids[7].as_str(), ids[8].as_str()];
    expected.sort();
    assert_eq!(seen, expected, "only what changed since the checkpoint");
    assert!(!find(&changed, &ids[7]).deleted);
    assert_eq!(
        find(&changed, &ids[7]).get("Title"),
        Some(&FieldValue::Text("Changed".into()))
    );
    assert!(find(&changed, &ids[8]).deleted, "a deletion is a tombstone");
    assert!(
        next.is_some() && next > checkpoint,
        "the checkpoint moves forward: {next:?} after {checkpoint:?}"
    );

    clock.advance(chrono::Duration::minutes(5));
    let (nothing, _) = read_all(&mut session, "contacts", next).await.unwrap();
    assert!(nothing.is_empty(), "{nothing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_limit_exceeded_is_rate_limited_for_an_hour() {
    // One describe and three query batches fit; the fourth batch does not.
    let (sim, _) = seeded(1000, Some(4)).await;
    let (_rt, mut session) = session_for(&conn_for(&sim)).await;
    let err = read_all(&mut session, "contacts", None).await.unwrap_err();
    match err.connector_error() {
        Some(ConnectorError::RateLimited(info)) => {
            assert_eq!(info.retry_after_ms, 3_600_000);
            assert!(
                info.message.contains("REQUEST_LIMIT_EXCEEDED"),
                "{}",
                info.message
            );
        }
        other => panic!("expected rate-limited, got {other:?} ({err})"),
    }
    assert!(err.is_retryable());
    assert_eq!(
        sim.limited_count(),
        1,
        "the host does not hammer a spent allocation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_wrong_token_is_unauthorized() {
    let (sim, _) = seeded(1, None).await;
    let (_rt, mut session) = session_for(&conn_for(&sim)).await;
    sim.expire_tokens();
    let err = read_all(&mut session, "contacts", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unauthorized") && err.contains("INVALID_SESSION_ID"),
        "{err}"
    );
    assert!(!err.contains(TOKEN), "{err}");

    let mut conn = conn_for(&sim);
    bind_secret(&mut conn, "salesforce_token", "not-the-token");
    let (_rt, mut session) = session_for(&conn).await;
    let err = read_all(&mut session, "contacts", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unauthorized"), "{err}");
    assert!(!err.contains("not-the-token"), "{err}");
}

/// The host refreshes an expired access token with the refresh token flow and
/// retries once; the connector never sees either token (RFC 6749 §6;
/// Salesforce "OAuth 2.0 Refresh Token Flow for Renewed Sessions").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_refreshes_an_expired_token_and_retries_once() {
    let (sim, ids) = seeded(30, None).await;
    let defaults = SalesforceOptions::default();
    let mut conn = conn_for(&sim);
    bind_secret(&mut conn, "salesforce_refresh", &defaults.refresh_token);
    bind_secret(&mut conn, "salesforce_client_id", &defaults.client_id);
    bind_secret(
        &mut conn,
        "salesforce_client_secret",
        &defaults.client_secret,
    );
    conn.oauth2 = Some(synchost::runtime::oauth::OAuth2 {
        token_url: format!("{LOGIN}/services/oauth2/token"),
        access_token: "salesforce_token".into(),
        refresh_token: "salesforce_refresh".into(),
        client_id: Some("salesforce_client_id".into()),
        client_secret: Some("salesforce_client_secret".into()),
    });
    let (rt, mut session) = session_for(&conn).await;
    sim.expire_tokens();
    let (records, _) = read_all(&mut session, "contacts", None)
        .await
        .expect("the host refreshed the token");
    assert_eq!(assert_unique(&records), ids.len());
    // The 401 and the retry happen inside the host: the connector saw none.
    let statuses: Vec<u16> = session.calls().iter().map(|c| c.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // A new session of the same connector starts with the refreshed token.
    let connector = rt.load(&build_connector(CONNECTOR)).await.unwrap();
    let mut again = rt.session(&connector, &conn).await.unwrap();
    read_all(&mut again, "contacts", None).await.unwrap();
    assert!(again.calls().iter().all(|c| c.status != 401));

    // A refresh token the platform refuses leaves the read `unauthorized`,
    // after one attempt.
    let mut bad = conn_for(&sim);
    bind_secret(&mut bad, "salesforce_refresh", "revoked-refresh-token");
    bind_secret(&mut bad, "salesforce_client_id", &defaults.client_id);
    bind_secret(
        &mut bad,
        "salesforce_client_secret",
        &defaults.client_secret,
    );
    bad.oauth2 = conn.oauth2.clone();
    sim.expire_tokens();
    let (_rt, mut session) = session_for(&bad).await;
    let err = read_all(&mut session, "contacts", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unauthorized"), "{err}");
    assert!(!err.contains("revoked-refresh-token"), "{err}");
}

/// Surveys of `Survey__c`, the simulator's object of a few hundred fields.
fn surveys(sim: &SalesforceSim, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            sim.insert(
                "Survey__c",
                json!({
                    "Name": format!("Survey {i}"),
                    "Q005_Respondent_Answer_Long_Label__c": format!("answer {i}"),
                    "Q450_Respondent_Answer_Long_Label__c": i,
                }),
            )
            .unwrap()
        })
        .collect()
}

/// Every field of `Survey__c` in one SOQL makes a query URI longer than the
/// 16,384 bytes Salesforce accepts (Salesforce Help 000386264: "If the URI
/// itself exceeds this limit, the request returns a 414 URI Too Long
/// error"); the read must still get every record with every field, and
/// incrementally too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_field_of_an_object_wider_than_the_uri_limit() {
    let (sim, _) = seeded(0, None).await;
    let ids = surveys(&sim, 450);
    let mut conn = conn_for(&sim);
    conn.settings
        .insert("object.surveys".into(), "Survey__c".into());
    let (_rt, mut session) = session_for(&conn).await;
    let clock = sim.clock();
    clock.advance(chrono::Duration::minutes(1));
    let (records, checkpoint) = read_all(&mut session, "surveys", None).await.unwrap();
    assert_eq!(assert_unique(&records), ids.len());
    let described = sim.describe("Survey__c").unwrap()["fields"]
        .as_array()
        .unwrap()
        .len();
    let first = find(&records, &ids[7]);
    assert_eq!(first.fields.len(), described - 1, "every field but Id");
    assert_eq!(
        first.get_text("Q005_Respondent_Answer_Long_Label__c"),
        Some("answer 7")
    );
    assert_eq!(
        first.get("Q450_Respondent_Answer_Long_Label__c"),
        Some(&FieldValue::Number(7.0))
    );
    let calls = session.calls();
    assert!(calls.iter().all(|c| c.status == 200), "{calls:?}");
    assert!(
        calls
            .iter()
            .any(|c| c.method == "POST" && c.path == "/services/data/v59.0/composite"),
        "the query went in a Composite request's body: {calls:?}"
    );

    clock.advance(chrono::Duration::minutes(2));
    sim.update(
        &ids[3],
        json!({ "Q005_Respondent_Answer_Long_Label__c": "changed" }),
    )
    .unwrap();
    clock.advance(chrono::Duration::minutes(2));
    let (changed, _) = read_all(&mut session, "surveys", checkpoint).await.unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].id, ids[3]);
    assert_eq!(
        changed[0].get_text("Q005_Respondent_Answer_Long_Label__c"),
        Some("changed")
    );
}

/// sObject Get Deleted: "If more than 600,000 IDs are found,
/// EXCEEDED_ID_LIMIT is returned. You can correct the error by choosing start
/// and end dates that are closer together." The simulator's limit is lowered
/// to 40; 250 deletions over 25 minutes must all be reported, over as many
/// pages as they need, and the live records after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_past_the_get_deleted_id_limit_are_all_reported() {
    let (sim, ids) = seeded(300, None).await;
    let (_rt, mut session) = session_for(&conn_for(&sim)).await;
    let clock = sim.clock();
    clock.advance(chrono::Duration::minutes(1));
    let (all, checkpoint) = read_all(&mut session, "contacts", None).await.unwrap();
    assert_eq!(all.len(), 300);
    clock.advance(chrono::Duration::minutes(2));
    sim.set_deleted_id_limit(40);
    for (i, id) in ids[..250].iter().enumerate() {
        if i % 10 == 0 {
            clock.advance(chrono::Duration::minutes(1));
        }
        sim.delete(id).unwrap();
    }
    sim.update(&ids[299], json!({ "Title": "Still here" }))
        .unwrap();
    clock.advance(chrono::Duration::minutes(2));

    let (changed, next) = read_all(&mut session, "contacts", checkpoint.clone())
        .await
        .unwrap();
    let tombstones: std::collections::BTreeSet<&str> = changed
        .iter()
        .filter(|r| r.deleted)
        .map(|r| r.id.as_str())
        .collect();
    let expected: std::collections::BTreeSet<&str> =
        ids[..250].iter().map(String::as_str).collect();
    assert_eq!(tombstones, expected, "every deletion, once or more");
    let live: Vec<&Record> = changed.iter().filter(|r| !r.deleted).collect();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].get_text("Title"), Some("Still here"));
    assert!(
        next.is_some() && next > checkpoint,
        "{next:?} after {checkpoint:?}"
    );
    let windows = session
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/deleted/") && c.status == 200)
        .count();
    assert!(
        windows >= 250 / 40,
        "the window was narrowed: {windows} answers"
    );
}
