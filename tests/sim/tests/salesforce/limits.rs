//! The daily allocation, OAuth token expiry and refresh, injected faults.

use super::*;

#[tokio::test]
async fn past_the_daily_allocation_every_call_answers_request_limit_exceeded() {
    let clock = Clock::default();
    let sim = sim_with(Some(3), clock.clone()).await;
    sim.insert("Contact", contact(0)).unwrap();
    for n in 1..=3 {
        let r = query(&sim, "SELECT Id FROM Contact", None).await;
        assert_eq!(r.status, 200);
        let info = r.headers["sforce-limit-info"].to_str().unwrap();
        assert_eq!(info, format!("api-usage={n}/3"));
    }
    let r = query(&sim, "SELECT Id FROM Contact", None).await;
    assert_error(&r, 403, "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(r.body[0]["message"], "TotalRequests Limit exceeded.");
    let r = call(
        &sim,
        Method::GET,
        &format!("{V}/sobjects/Contact/describe"),
        None,
    )
    .await;
    assert_error(&r, 403, "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(sim.limited_count(), 2);
    assert_eq!(sim.api_usage(), 3);
    // The versions resource and the token endpoint are not API calls.
    let r = raw(&sim, Method::GET, "/services/data/", &[], None).await;
    assert_eq!(r.status, 200);
    assert!(r
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["version"] == "59.0" && v["label"] == "Winter '24"));
    // The allocation counts a rolling 24 hours.
    clock.advance(Duration::hours(24));
    assert_eq!(
        query(&sim, "SELECT Id FROM Contact", None).await.status,
        200
    );
    sim.set_daily_limit(None);
    for _ in 0..5 {
        assert_eq!(
            query(&sim, "SELECT Id FROM Contact", None).await.status,
            200
        );
    }
}

async fn refresh(sim: &SalesforceSim, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = CLIENT
        .with(|c| c.post(format!("{}/services/oauth2/token", sim.base_url())))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn access_tokens_expire_and_the_refresh_token_flow_issues_new_ones() {
    let clock = Clock::default();
    let sim = SalesforceSim::start(SalesforceOptions {
        access_token: TOKEN.into(),
        token_ttl: Duration::minutes(30),
        daily_limit: None,
        clock: clock.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let opts = SalesforceOptions::default();
    let path = format!("{V}/sobjects/Contact/describe");
    assert_eq!(call(&sim, Method::GET, &path, None).await.status, 200);
    let r = raw(&sim, Method::GET, &path, &[], None).await;
    assert_error(&r, 401, "INVALID_SESSION_ID");
    assert_eq!(r.body[0]["message"], "Session expired or invalid");
    let r = raw(
        &sim,
        Method::GET,
        &path,
        &[("authorization", "Bearer not-a-token")],
        None,
    )
    .await;
    assert_error(&r, 401, "INVALID_SESSION_ID");
    clock.advance(Duration::minutes(31));
    assert_error(
        &call(&sim, Method::GET, &path, None).await,
        401,
        "INVALID_SESSION_ID",
    );

    let good = [
        ("grant_type", "refresh_token"),
        ("client_id", opts.client_id.as_str()),
        ("client_secret", opts.client_secret.as_str()),
        ("refresh_token", opts.refresh_token.as_str()),
    ];
    let (status, body) = refresh(&sim, &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["instance_url"], sim.base_url());
    let (id, issued_at) = (
        body["id"].as_str().unwrap(),
        body["issued_at"].as_str().unwrap(),
    );
    assert_eq!(
        body["signature"],
        oauth_signature(&opts.client_secret, id, issued_at)
    );
    let fresh = body["access_token"].as_str().unwrap().to_string();
    let auth = format!("Bearer {fresh}");
    assert_eq!(
        raw(&sim, Method::GET, &path, &[("authorization", &auth)], None)
            .await
            .status,
        200
    );
    sim.expire_tokens();
    assert_error(
        &raw(&sim, Method::GET, &path, &[("authorization", &auth)], None).await,
        401,
        "INVALID_SESSION_ID",
    );

    for (field, value, error) in [
        ("grant_type", "password", "unsupported_grant_type"),
        ("client_id", "someone-else", "invalid_client_id"),
        ("client_secret", "wrong", "invalid_client"),
        ("refresh_token", "revoked", "invalid_grant"),
    ] {
        let form: Vec<(&str, &str)> = good
            .iter()
            .map(|(k, v)| if *k == field { (*k, value) } else { (*k, *v) })
            .collect();
        let (status, body) = refresh(&sim, &form).await;
        assert_eq!(
            (status, body["error"].as_str().unwrap()),
            (400, error),
            "{body}"
        );
        assert!(body["error_description"].is_string());
    }
}

#[tokio::test]
async fn injected_faults_answer_before_anything_else() {
    let sim = sim_with(Some(10), Clock::default()).await;
    sim.fail_next(2, 503);
    for _ in 0..2 {
        assert_error(
            &query(&sim, "SELECT Id FROM Contact", None).await,
            503,
            "SERVER_UNAVAILABLE",
        );
    }
    sim.fail_next(1, 502);
    let r = query(&sim, "SELECT Id FROM Contact", None).await;
    assert_eq!(r.status, 502);
    assert!(r.text.contains("Bad Gateway"));
    sim.fail_next(1, 403);
    assert_error(
        &query(&sim, "SELECT Id FROM Contact", None).await,
        403,
        "REQUEST_LIMIT_EXCEEDED",
    );
    assert_eq!(
        query(&sim, "SELECT Id FROM Contact", None).await.status,
        200
    );
    assert_eq!(sim.request_count(), 5);
    assert_eq!(sim.api_usage(), 1, "faults do not spend the allocation");
}
