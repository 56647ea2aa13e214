//! Contract 0.1.0 and 0.2.0 side by side (issue 11, "Versioning"): a
//! component built with the frozen 0.1.0 SDK (tests/contract-0.1.0) keeps
//! loading, passing the acceptance suite and syncing, into a 0.2.0 component,
//! in one job; and what 0.2.0 added holds end to end against a server that
//! checks it (tests/e2e/src/probe.rs): Basic auth, client credentials,
//! entities checked, an opaque checkpoint given back exactly, max-batch, and
//! unknown write outcomes neither lost nor sent twice.

use std::path::PathBuf;

use serde_json::{json, Value};
use synchost::acceptance;
use synchost::runtime::ReadRequest;
use synchost::state::State;
use synchost::sync::{self, ConnectorSource, Report, RunOptions, Status};
use synchost_e2e::guest::assert_all_passed;
use synchost_e2e::probe::{Credential, ProbeServer};
use synchost_e2e::{bind_secret, build_connector, runtime, simulated};
use synchost_sim::items::ItemsSim;

const V1_TEMPLATE: &str = "synchost-connector-template-v0-1-0";
const ITEMS_TOKEN: &str = "tok-items-versions";

fn fresh_dir(tag: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("versions-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn basic() -> Credential {
    Credential::Basic {
        user: "alice".into(),
        password: "s3cret:with:colons".into(),
    }
}

/// A pull from the frozen 0.1.0 template on the items simulator into the
/// 0.2.0 probe connector on `probe`.
fn job(sim: &ItemsSim, probe: &ProbeServer, entity: &str) -> Value {
    // SAFETY: set before any thread reads them; the same values every time.
    unsafe {
        std::env::set_var("VERSIONS_ITEMS_TOKEN", ITEMS_TOKEN);
        std::env::set_var("VERSIONS_PROBE_USER", "alice");
        std::env::set_var("VERSIONS_PROBE_PASSWORD", "s3cret:with:colons");
    }
    let wasm = |p: &str| build_connector(p).display().to_string();
    json!({
        "sync_id": format!("versions-{entity}"),
        "mode": "pull",
        "source": {
            "platform": "Items", "connector": wasm(V1_TEMPLATE), "entity": "items",
            "connection": {
                "secrets": {"items_token": "env:VERSIONS_ITEMS_TOKEN"},
                "endpoint_overrides": {"https://items.example.com": sim.base_url()},
                "allow_private_networks": true
            }
        },
        "target": {
            "platform": "Probe", "connector": wasm("synchost-connector-probe"), "entity": entity,
            "connection": {
                "secrets": {
                    "probe_user": "env:VERSIONS_PROBE_USER",
                    "probe_password": "env:VERSIONS_PROBE_PASSWORD"
                },
                "endpoint_overrides": {"https://probe.example.com": probe.url},
                "allow_private_networks": true
            }
        },
        "mapping": {"fields": [{"source": "name", "target": "title"}]},
        "match_key": {"source": "name", "target": "title"}
    })
}

async fn run(job: &Value, state: &State) -> anyhow::Result<Report> {
    let job = synchost::job::Job::from_value(job.clone())?;
    let options = RunOptions {
        full: false,
        connectors: ConnectorSource::default(),
        progress: false,
        details: true,
        batch: None,
        daemon: None,
    };
    sync::run(&job, &runtime(), state, &options).await
}

async fn items(n: usize) -> ItemsSim {
    let sim = ItemsSim::start(ITEMS_TOKEN, None).await.unwrap();
    for i in 0..n {
        sim.insert(&format!("item {i:03}"), i % 2 == 0);
    }
    sim
}

#[tokio::test(flavor = "multi_thread")]
async fn a_0_1_0_component_loads_passes_the_suite_and_syncs_into_a_0_2_0_one() {
    let rt = runtime();
    let v1 = rt.load(&build_connector(V1_TEMPLATE)).await.unwrap();
    assert_eq!(v1.contract, "0.1.0");
    let v2 = rt
        .load(&build_connector("synchost-connector-probe"))
        .await
        .unwrap();
    assert_eq!(v2.contract, "0.2.0");
    assert_eq!(v2.descriptor.max_batch, Some(3));

    // The suite, as `connector test --simulator items` runs it: the 0.1.0
    // template reads only, so the write checks are skipped.
    let checks = acceptance::run(&rt, &build_connector(V1_TEMPLATE), "items")
        .await
        .unwrap();
    assert_all_passed(
        &checks,
        &[
            "writes round-trip",
            "each op of a write batch gets its own outcome",
        ],
    );

    let sim = items(11).await;
    let probe = ProbeServer::start(basic(), &["notes"]).await;
    let state = State::open(&fresh_dir("pull").join("state")).unwrap();
    let job = job(&sim, &probe, "notes");
    let report = run(&job, &state).await.unwrap();
    assert_eq!(report.status, Status::Success, "{report:#?}");
    let expected: Vec<String> = (0..11).map(|i| format!("item {i:03}")).collect();
    assert_eq!(probe.titles(), expected);

    let seen = probe.seen.lock().unwrap();
    // max-batch 3: 11 creates in calls of at most 3.
    assert_eq!(seen.write_calls.iter().sum::<usize>(), 11);
    assert!(
        seen.write_calls.iter().all(|&n| n <= 3),
        "{:?}",
        seen.write_calls
    );
    // RFC 7617: base64 of user ":" password, made by the host from two
    // secrets on every request.
    let basic = "Basic YWxpY2U6czNjcmV0OndpdGg6Y29sb25z";
    assert!(!seen.authorizations.is_empty());
    assert!(
        seen.authorizations.iter().all(|a| a == basic),
        "{:?}",
        seen.authorizations
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_opaque_checkpoint_comes_back_exactly_as_it_was_given() {
    let sim = items(4).await;
    let probe = ProbeServer::start(basic(), &["notes"]).await;
    let state = State::open(&fresh_dir("opaque").join("state")).unwrap();
    let job = job(&sim, &probe, "notes");
    for _ in 0..3 {
        let report = run(&job, &state).await.unwrap();
        assert_eq!(report.status, Status::Success, "{report:#?}");
    }
    let seen = probe.seen.lock().unwrap();
    // The server's checkpoints read as date-times; moved back by the host's
    // two-minute overlap they would name other changes (and be refused).
    assert!(
        seen.since_received.len() >= 2,
        "incremental reads: {:?}",
        seen.since_received
    );
    for since in &seen.since_received {
        assert!(
            seen.checkpoints_given.contains(since),
            "since {since} was never given out: {:?}",
            seen.checkpoints_given
        );
    }
    assert_eq!(probe_count(&seen), 4);
}

fn probe_count(seen: &synchost_e2e::probe::Seen) -> usize {
    seen.notes.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_naming_an_entity_the_connection_does_not_reach_fails_naming_both() {
    let sim = items(2).await;
    let probe = ProbeServer::start(basic(), &["notes", "people"]).await;
    let state = State::open(&fresh_dir("entity").join("state")).unwrap();
    let err = match run(&job(&sim, &probe, "tasks"), &state).await {
        Ok(report) => format!("{report:?}"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("`tasks`") && err.contains("notes, people"),
        "{err}"
    );
    assert!(probe.seen.lock().unwrap().write_calls.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_write_outcomes_stay_pending_and_are_never_sent_twice() {
    let sim = items(5).await;
    let probe = ProbeServer::start(basic(), &["notes"]).await;
    let state = State::open(&fresh_dir("unknown").join("state")).unwrap();
    let job = job(&sim, &probe, "notes");
    probe.seen.lock().unwrap().writes_time_out = true;
    let first = run(&job, &state).await.unwrap();
    assert_eq!(first.status, Status::Queued, "{first:#?}");
    // The creates landed, though the connector could not know it.
    assert_eq!(probe.titles().len(), 5);

    probe.seen.lock().unwrap().writes_time_out = false;
    let report = run(&job, &state).await.unwrap();
    assert_eq!(report.status, Status::Success, "{report:#?}");
    let again = run(&job, &state).await.unwrap();
    assert_eq!(again.status, Status::Success, "{again:#?}");
    let expected: Vec<String> = (0..5).map(|i| format!("item {i:03}")).collect();
    assert_eq!(probe.titles(), expected, "each item once");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_are_traded_by_the_host_and_again_after_a_401() {
    let probe = ProbeServer::start(
        Credential::ClientCredentials {
            id: "client-7".into(),
            secret: "cs-very-secret".into(),
        },
        &["notes"],
    )
    .await;
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-probe-cc"))
        .await
        .unwrap();
    let mut conn = simulated("https://probe.example.com", &probe.url);
    bind_secret(&mut conn, "probe_client_id", "client-7");
    bind_secret(&mut conn, "probe_client_secret", "cs-very-secret");
    // The connection's refresh-token block cannot also apply.
    let mut both = conn.clone();
    both.oauth2 = Some(synchost::runtime::oauth::OAuth2 {
        token_url: format!("{}/oauth/token", probe.url),
        access_token: "probe_client_id".into(),
        refresh_token: "probe_client_secret".into(),
        client_id: None,
        client_secret: None,
    });
    let refused = rt.session(&connector, &both).await.err().expect("refused");
    assert!(
        refused
            .to_string()
            .contains("`oauth2` block does not apply"),
        "{refused}"
    );

    let mut session = rt.session(&connector, &conn).await.unwrap();
    let entities = session.entities().await.unwrap();
    assert_eq!(entities.len(), 1);
    assert_eq!(entities[0].name, "notes");
    assert_eq!(entities[0].description, "the notes table");
    let read = ReadRequest {
        entity: "notes".into(),
        cursor: None,
        since: None,
        page_size: 10,
    };
    session.read(&read).await.unwrap();
    {
        let seen = probe.seen.lock().unwrap();
        assert_eq!(seen.token_requests.len(), 1, "one token for both calls");
        let form = &seen.token_requests[0];
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["client_id"], "client-7");
        assert_eq!(form["client_secret"], "cs-very-secret");
        assert_eq!(form["scope"], "records.write");
        assert!(seen.authorizations.iter().all(|a| a == "Bearer tok-1"));
    }
    // The token stops working: the platform's 401 makes the host ask again,
    // and the connector's call succeeds without it knowing.
    probe.revoke_tokens();
    session.read(&read).await.unwrap();
    let seen = probe.seen.lock().unwrap();
    assert_eq!(seen.token_requests.len(), 2);
    assert_eq!(seen.authorizations.last().unwrap(), "Bearer tok-2");
    // The connector never held the secrets: its calls' log shows placeholders.
    let calls = format!("{:?}", session.calls());
    assert!(
        !calls.contains("cs-very-secret") && !calls.contains("tok-2"),
        "{calls}"
    );
}
