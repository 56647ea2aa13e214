//! A hostile connector against the sandbox: every attack is contained with a
//! typed error that names what stopped it, and the host goes on serving.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use synchost::runtime::{
    Connection, FieldValue, Limit, Limits, LoadedConnector, ReadRequest, Runtime, RuntimeError,
};
use synchost_e2e::{bind_secret, build_connector, runtime, simulated};
use synchost_sim::server::Served;

const SECRET: &str = "sk-live-very-secret-value-42";

fn req(entity: &str) -> ReadRequest {
    ReadRequest {
        entity: entity.into(),
        cursor: None,
        since: None,
        page_size: 10,
    }
}

/// A declared host that echoes every request back, and serves a large body.
async fn echo_server() -> Served {
    let app = Router::new()
        .route(
            "/echo",
            post(
                |headers: HeaderMap, uri: axum::http::Uri, body: Bytes| async move {
                    let headers: Vec<String> = headers
                        .iter()
                        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
                        .collect();
                    format!(
                        "uri={uri}\nheaders={headers:?}\nbody={}",
                        String::from_utf8_lossy(&body)
                    )
                },
            ),
        )
        .route("/big", get(|| async { vec![b'x'; 4 << 20] }));
    Served::start(app).await.unwrap()
}

struct Setup {
    rt: Runtime,
    hostile: Arc<LoadedConnector>,
    echo: Served,
}

async fn setup() -> Setup {
    let rt = runtime();
    let hostile = rt
        .load(&build_connector("synchost-connector-hostile"))
        .await
        .unwrap();
    Setup {
        rt,
        hostile,
        echo: echo_server().await,
    }
}

fn conn(s: &Setup, allow_private: bool) -> Connection {
    let mut c = simulated("https://echo.example.com", &s.echo.base_url());
    c.allow_private_networks = allow_private;
    c.limits = Some(Limits {
        call_timeout: Duration::from_secs(2),
        memory_bytes: 64 << 20,
        max_response_bytes: 1 << 20,
        ..Limits::default()
    });
    bind_secret(&mut c, "token", SECRET);
    c
}

async fn attack(
    s: &Setup,
    entity: &str,
    allow_private: bool,
) -> Result<synchost::runtime::Page, RuntimeError> {
    let mut session =
        s.rt.session(&s.hostile, &conn(s, allow_private))
            .await
            .unwrap();
    session.read(&req(entity)).await
}

/// After an attack, a fresh session of the same host still works.
async fn host_still_serves(s: &Setup) {
    let page = attack(s, "wasi", false)
        .await
        .expect("the host keeps serving after an attack");
    assert_eq!(page.records.len(), 1);
}

fn observed(page: &synchost::runtime::Page) -> String {
    match &page.records[0].fields[0].value {
        FieldValue::Text(t) => t.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

fn assert_limit(err: RuntimeError, limit: Limit) {
    match err {
        RuntimeError::LimitExceeded {
            limit: got,
            ref detail,
            ..
        } if got == limit => {
            assert!(!err.to_string().is_empty(), "{detail}");
        }
        other => panic!("expected the {limit}, got: {other}"),
    }
}

fn assert_denied(err: RuntimeError, needle: &str) {
    let text = err.to_string();
    assert!(matches!(err, RuntimeError::Connector { .. }), "{text}");
    assert!(text.contains("denied") && text.contains(needle), "{text}");
    assert!(!text.contains(SECRET), "an error leaked the secret: {text}");
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_the_wall_time_limit() {
    let s = setup().await;
    let started = Instant::now();
    assert_limit(
        attack(&s, "loop", false).await.unwrap_err(),
        Limit::WallTime,
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    host_still_serves(&s).await;
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_by_the_memory_limit() {
    let s = setup().await;
    assert_limit(
        attack(&s, "memory", false).await.unwrap_err(),
        Limit::Memory,
    );
    host_still_serves(&s).await;
}

#[tokio::test]
async fn a_trap_is_reported_with_the_panic_message() {
    let s = setup().await;
    let err = attack(&s, "trap", false).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RuntimeError::Trap { .. }), "{text}");
    assert!(text.contains("panics on purpose"), "{text}");
    host_still_serves(&s).await;
}

#[tokio::test]
async fn a_session_that_trapped_is_never_called_again() {
    let s = setup().await;
    let mut session = s.rt.session(&s.hostile, &conn(&s, false)).await.unwrap();
    assert!(session.read(&req("trap")).await.is_err());
    assert!(matches!(
        session.read(&req("wasi")).await.unwrap_err(),
        RuntimeError::Poisoned { .. }
    ));
}

#[tokio::test]
async fn requests_to_undeclared_hosts_are_denied() {
    let s = setup().await;
    assert_denied(
        attack(&s, "undeclared", true).await.unwrap_err(),
        "evil.example.net",
    );
}

#[tokio::test]
async fn cloud_metadata_and_loopback_are_refused_without_permission() {
    let s = setup().await;
    assert_denied(
        attack(&s, "metadata", false).await.unwrap_err(),
        "169.254.169.254",
    );
    assert_denied(
        attack(&s, "loopback", false).await.unwrap_err(),
        "127.0.0.1",
    );
    // By name too: the check runs after DNS.
    assert_denied(
        attack(&s, "localhost", false).await.unwrap_err(),
        "localhost",
    );
    // With the job's explicit permission the request does leave (and finds
    // nothing listening on port 80, or whatever is there): it is not denied.
    match attack(&s, "loopback", true).await {
        Ok(_) => {}
        Err(e) => assert!(!e.to_string().contains("denied"), "{e}"),
    }
}

#[tokio::test]
async fn a_secret_never_reaches_the_connector_even_when_echoed() {
    let s = setup().await;
    let page = attack(&s, "echo", true).await.unwrap();
    let seen = observed(&page);
    assert!(
        !seen.contains(SECRET),
        "the connector read the secret: {seen}"
    );
    // The host did send it: the echo shows where it stood, as a placeholder.
    assert!(
        seen.contains("authorization: Bearer {{secret:token}}"),
        "{seen}"
    );
    // Placeholders outside headers are not substituted at all.
    assert!(seen.contains("body={{secret:token}}"), "{seen}");
}

#[tokio::test]
async fn a_secret_is_never_sent_to_an_undeclared_host() {
    let s = setup().await;
    assert_denied(
        attack(&s, "leak", true).await.unwrap_err(),
        "evil.example.net",
    );
}

#[tokio::test]
async fn an_oversized_response_is_cut_off() {
    let s = setup().await;
    let err = attack(&s, "big", true).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("larger than 1048576 bytes"), "{text}");
    host_still_serves(&s).await;
}

#[tokio::test]
async fn an_oversized_record_is_refused() {
    let s = setup().await;
    assert_limit(
        attack(&s, "record", false).await.unwrap_err(),
        Limit::RecordSize,
    );
}

#[tokio::test]
async fn wasi_grants_no_files_no_environment_no_sockets() {
    let s = setup().await;
    let page = attack(&s, "wasi", true).await.unwrap();
    let seen = observed(&page);
    assert!(seen.contains("file=error"), "{seen}");
    assert!(seen.contains("env=[]"), "{seen}");
    assert!(seen.contains("socket=error"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_connectors_keep_working_while_one_loops() {
    let s = setup().await;
    let looping = {
        let rt = s.rt.clone();
        let hostile = s.hostile.clone();
        let c = conn(&s, false);
        tokio::spawn(async move {
            rt.session(&hostile, &c)
                .await
                .unwrap()
                .read(&req("loop"))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..3 {
        host_still_serves(&s).await;
    }
    assert!(
        !looping.is_finished(),
        "the others were served while the loop still ran"
    );
    assert_limit(looping.await.unwrap().unwrap_err(), Limit::WallTime);
}
