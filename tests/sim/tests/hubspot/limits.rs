//! Property descriptions, rate limits, tokens and injected faults.

use super::*;

#[tokio::test]
async fn properties_describe_types_options_and_read_only_values() {
    let sim = sim().await;
    sim.define_property("contacts", "renewal", "date", "date", &[])
        .unwrap();
    let r = get(&sim, "/crm/v3/properties/contacts").await;
    assert_eq!(r.status, 200);
    let props = r.body["results"].as_array().unwrap();
    let find = |name: &str| props.iter().find(|p| p["name"] == name).unwrap().clone();
    let stage = find("lifecyclestage");
    assert_eq!(
        (stage["type"].as_str(), stage["fieldType"].as_str()),
        (Some("enumeration"), Some("radio"))
    );
    assert_eq!(stage["options"][1]["value"], "lead");
    assert_eq!(find("hs_buying_role")["fieldType"], "checkbox");
    assert_eq!(
        find("lastmodifieddate")["modificationMetadata"]["readOnlyValue"],
        true
    );
    assert_eq!(
        find("email")["modificationMetadata"]["readOnlyValue"],
        false
    );
    assert_eq!(find("renewal")["type"], "date");
    let id = sim
        .insert("contacts", json!({"renewal": "2025-01-31"}))
        .unwrap();
    assert_eq!(
        sim.record("contacts", &id).unwrap()["properties"]["renewal"],
        "2025-01-31"
    );
    assert!(sim
        .insert("contacts", json!({"renewal": "2025-01-31T10:00:00Z"}))
        .is_err());
}

#[tokio::test]
async fn bursts_get_429_with_the_policy_and_no_retry_after() {
    let clock = Clock::default();
    let sim = sim_with(HubSpotOptions {
        rate_limit: Some(RateLimit {
            max: 5,
            interval_ms: 10_000,
        }),
        search_per_second: Some(2),
        daily_budget: Some(9),
        clock: clock.clone(),
        ..Default::default()
    })
    .await;
    seed(&sim, 2);
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let r = get(&sim, "/crm/v3/objects/contacts").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-hubspot-ratelimit-max"), Some("5"));
        assert_eq!(
            r.header("x-hubspot-ratelimit-interval-milliseconds"),
            Some("10000")
        );
        assert!(r.header("x-hubspot-ratelimit-secondly").is_some());
        assert!(r.header("x-hubspot-ratelimit-secondly-remaining").is_some());
        remaining.push(
            r.header("x-hubspot-ratelimit-remaining")
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    let r = get(&sim, "/crm/v3/objects/contacts").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body["errorType"], "RATE_LIMIT");
    assert_eq!(r.body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(
        r.body["message"],
        "You have reached your ten_secondly_rolling limit."
    );
    assert!(
        r.header("retry-after").is_none(),
        "HubSpot documents no Retry-After"
    );
    assert_eq!(sim.rate_limited_count(), 1);
    // The window rolls: 10 s later the burst is available again.
    clock.advance(Duration::seconds(10));
    let search = "/crm/v3/objects/contacts/search";
    assert_eq!(post(&sim, search, json!({})).await.status, 200);
    assert_eq!(post(&sim, search, json!({})).await.status, 200);
    let r = post(&sim, search, json!({})).await;
    assert_eq!(
        (r.status, r.body["policyName"].as_str()),
        (429, Some("SECONDLY"))
    );
    assert_eq!(r.body["message"], "You have reached your secondly limit.");
    clock.advance(Duration::seconds(1));
    assert_eq!(post(&sim, search, json!({})).await.status, 200);
    let r = get(&sim, "/crm/v3/objects/contacts").await;
    assert_eq!(r.header("x-hubspot-ratelimit-daily"), Some("9"));
    assert_eq!(r.header("x-hubspot-ratelimit-daily-remaining"), Some("0"));
    let r = get(&sim, "/crm/v3/objects/contacts").await;
    assert_eq!(
        (r.status, r.body["policyName"].as_str()),
        (429, Some("DAILY"))
    );
    assert_eq!(r.body["message"], "You have reached your daily limit.");
    clock.advance(Duration::days(1));
    assert_eq!(get(&sim, "/crm/v3/objects/contacts").await.status, 200);
    assert_eq!(sim.rate_limited_count(), 3);
}

#[tokio::test]
async fn wrong_or_missing_token_is_401() {
    let sim = sim().await;
    for token in [Some("pat-na1-wrong"), None] {
        let r = raw(&sim, Method::GET, "/crm/v3/objects/contacts", token, None).await;
        assert_error(&r, 401, "INVALID_AUTHENTICATION");
        assert!(r.header("x-hubspot-ratelimit-remaining").is_none());
    }
}

#[tokio::test]
async fn injected_faults_answer_first_and_responses_are_dated_by_the_clock() {
    let clock = Clock::default();
    clock.advance(Duration::days(400));
    let sim = sim_with(HubSpotOptions {
        clock: clock.clone(),
        ..Default::default()
    })
    .await;
    sim.fail_next(1, 503);
    sim.fail_next(1, 502);
    sim.fail_next(1, 429);
    let path = "/crm/v3/objects/contacts";
    assert_error(&get(&sim, path).await, 503, "SERVICE_UNAVAILABLE");
    let r = get(&sim, path).await;
    assert_eq!((r.status, r.body.clone()), (502, Value::Null));
    let r = get(&sim, path).await;
    assert_eq!(
        (r.status, r.body["policyName"].as_str()),
        (429, Some("TEN_SECONDLY_ROLLING"))
    );
    let r = get(&sim, path).await;
    assert_eq!(r.status, 200);
    let date = r.header("date").unwrap();
    let date = DateTime::parse_from_rfc2822(date).unwrap();
    assert!((date.with_timezone(&Utc) - clock.now()).num_seconds().abs() < 5);
    assert_eq!(sim.request_count(), 4);
}
