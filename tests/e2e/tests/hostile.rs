//! A hostile connector against the sandbox: every attack is contained with a
//! typed error that names what stopped it, and the host goes on serving.

use std::time::{Duration, Instant};

use synchost::runtime::{Limit, RuntimeError};
use synchost_e2e::hostile::*;

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

/// Record ids become state keys: one far longer than any platform's is
/// refused at the boundary, before the sync plans with it.
#[tokio::test]
async fn an_overlong_record_id_is_refused() {
    let s = setup().await;
    let e = attack(&s, "long-id", false).await.unwrap_err();
    assert!(e.to_string().contains("id of 60000 bytes"), "{e}");
    assert_limit(e, Limit::RecordSize);
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

// The attacks of the outside review (issue 8), one test each.

/// A connector asks a declared echo host for gzip and inflates the answer
/// itself: the host decides content coding, and scrubs the decoded body.
#[tokio::test]
async fn gzip_echo_cannot_reveal_the_token() {
    let s = setup().await;
    let seen = observed(&attack(&s, "gzip", true).await.unwrap());
    assert_no_trace_of(SECRET, &seen);
    assert!(seen.contains("Bearer {{secret:token}}"), "{seen}");
    // A platform that compresses unasked is decoded all the same.
    let mut c = conn(&s, true);
    c.settings
        .insert("path".into(), "/forced?coding=gzip".into());
    let seen = observed(&attack_with(&s, "gzip", &c).await.unwrap());
    assert_no_trace_of(SECRET, &seen);
    assert!(seen.contains("Bearer {{secret:token}}"), "{seen}");
}

/// A content coding the host cannot decode cannot be scrubbed: refused.
#[tokio::test]
async fn a_body_in_a_coding_the_host_cannot_read_is_refused() {
    let s = setup().await;
    let mut c = conn(&s, true);
    c.settings
        .insert("path".into(), "/forced?coding=x-private".into());
    let err = attack_with(&s, "gzip", &c).await.unwrap_err().to_string();
    assert!(err.contains("x-private"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
}

/// The echo re-encodes the credential: base64 (at every offset), URL
/// encoding, hex, JSON, and Basic's `user:pass` decoded.
#[tokio::test]
async fn re_encoded_echoes_cannot_reveal_the_credential() {
    let s = setup().await;
    let seen = observed(&attack(&s, "encoded", true).await.unwrap());
    assert_no_trace_of(SECRET, &seen);
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:correct-horse-battery")
    );
    let mut c = conn(&s, true);
    synchost_e2e::bind_secret(&mut c, "token", &basic);
    let seen = observed(&attack_with(&s, "encoded", &c).await.unwrap());
    assert_no_trace_of(&basic, &seen);
    assert!(!seen.contains("correct-horse-battery"), "{seen}");
}

/// `Retry-After: 10000000000000000000` panicked the host (instant overflow)
/// and poisoned the rate limiter for every job; `1e18` paused the
/// credential until a restart. Waits are capped and a later session of the
/// same credential is answered at once, with a wait it can report.
#[tokio::test]
async fn an_absurd_retry_after_neither_panics_nor_stalls_the_credential() {
    let s = setup().await;
    for after in [
        "10000000000000000000",
        "1e18",
        "-5",
        "NaN",
        "inf",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let mut c = conn(&s, true);
        c.settings.insert("retry_after".into(), after.into());
        let started = Instant::now();
        let seen = observed(&attack_with(&s, "throttle", &c).await.unwrap());
        assert_eq!(seen, "429", "Retry-After: {after}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "Retry-After: {after} held the call {:?}",
            started.elapsed()
        );
    }
    // The credential is paused for at most the cap: the next session is
    // told so at once (a 429 it can report as rate-limited), not stalled.
    let c = conn(&s, true);
    let mut session = s.rt.session(&s.hostile, &c).await.unwrap();
    let started = Instant::now();
    let seen = observed(&session.read(&req("throttle")).await.unwrap());
    assert_eq!(seen, "429");
    assert!(started.elapsed() < Duration::from_secs(3));
    host_still_serves(&s).await;
}

/// A URL of 4 MiB to a denied host, 50 times: refused, and what the host
/// keeps of it (call log, log lines) stays small.
#[tokio::test]
async fn a_url_of_megabytes_is_refused_and_never_held_whole() {
    let s = setup().await;
    let logs = CapturedLogs::install();
    let mut c = conn(&s, true);
    // copying 200 MiB of URLs in and out of the sandbox takes a while
    c.limits.as_mut().unwrap().call_timeout = Duration::from_secs(60);
    let mut session = s.rt.session(&s.hostile, &c).await.unwrap();
    let seen = observed(&session.read(&req("long-url")).await.unwrap());
    assert_eq!(seen, "refused=50");
    let calls = session.calls();
    let held: usize = calls
        .iter()
        .map(|c| c.path.len() + c.host.len())
        .sum::<usize>()
        + calls
            .iter()
            .filter_map(|c| c.error.as_ref())
            .map(String::len)
            .sum::<usize>();
    assert!(held < 256 << 10, "the call log holds {held} bytes");
    let longest = logs.longest_line();
    assert!(longest < 16 << 10, "a log line of {longest} bytes");
}

/// A thousand headers of 4 KiB: refused before anything is sent.
#[tokio::test]
async fn a_flood_of_headers_is_refused() {
    let s = setup().await;
    assert_denied(attack(&s, "headers", true).await.unwrap_err(), "header");
}

/// Requests without end in one call: the host stops them at the limit.
#[tokio::test]
async fn requests_per_call_are_bounded() {
    let s = setup().await;
    let mut c = conn(&s, true);
    c.limits.as_mut().unwrap().call_timeout = Duration::from_secs(60);
    let mut session = s.rt.session(&s.hostile, &c).await.unwrap();
    let seen = observed(&session.read(&req("many-calls")).await.unwrap());
    assert!(seen.starts_with("10000: "), "{seen}");
    assert!(session.calls().len() <= 10_001, "{}", session.calls().len());
}

/// Salesforce-style `https://*.wild.example.com`: a subdomain the job never
/// named gets no credential; the one the job names does.
#[tokio::test]
async fn a_wildcard_host_never_receives_the_credential() {
    let s = setup().await;
    let mut c = conn(&s, true);
    c.endpoint_overrides
        .insert("https://victim.wild.example.com".into(), s.echo.base_url());
    let err = attack_with(&s, "wildcard", &c).await.unwrap_err();
    assert_denied(err, "wildcard");

    let mut c = conn(&s, true);
    c.endpoint_overrides
        .insert("https://acme.wild.example.com".into(), s.echo.base_url());
    c.allowed_hosts = Some(vec![
        "https://echo.example.com".into(),
        "https://acme.wild.example.com".into(),
    ]);
    c.settings.insert("victim".into(), "acme".into());
    let seen = observed(&attack_with(&s, "wildcard", &c).await.unwrap());
    assert!(seen.contains("Bearer {{secret:token}}"), "{seen}");
}

/// A refresh token, a client secret or a webhook key in a header of the
/// connector's choosing: refused. Only the auth scheme's secret goes out.
#[tokio::test]
async fn only_the_auth_schemes_secret_goes_into_headers() {
    let s = setup().await;
    for other in ["refresh", "hook"] {
        let mut c = conn(&s, true);
        synchost_e2e::bind_secret(&mut c, "refresh", "rt-refresh-token-value");
        synchost_e2e::bind_secret(&mut c, "hook", "webhook-key-value");
        c.oauth2 = Some(synchost::runtime::oauth::OAuth2 {
            token_url: "https://echo.example.com/token".into(),
            access_token: "token".into(),
            refresh_token: "refresh".into(),
            ..Default::default()
        });
        c.settings.insert("other".into(), other.into());
        let err = attack_with(&s, "other-secret", &c).await.unwrap_err();
        assert_denied(err, other);
    }
}

/// `crypto` keys are the job's webhook secrets, never the bearer token.
#[tokio::test]
async fn the_bearer_token_is_no_hmac_key() {
    let s = setup().await;
    let mut c = conn(&s, true);
    synchost_e2e::bind_secret(&mut c, "hook", "webhook-key-value");
    let seen = observed(&attack_with(&s, "hmac-token", &c).await.unwrap());
    assert!(seen.starts_with("Err("), "{seen}");
    let seen = observed(&attack_with(&s, "hmac-webhook", &c).await.unwrap());
    assert_eq!(seen, "Ok(32)");
}
