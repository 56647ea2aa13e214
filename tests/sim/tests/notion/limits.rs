//! Size limits as the API counts them (Request limits: Size limits).

use reqwest::Method;
use serde_json::json;

use super::{assert_error, call, sim, title, LEGACY};

#[tokio::test]
async fn text_limits_count_utf16_code_units_so_an_emoji_counts_twice() {
    let sim = sim().await;
    let db = sim.create_database("Tasks", &[("Notes", "rich_text"), ("Site", "url")]);
    let create = |props| json!({"parent": {"database_id": db}, "properties": props});

    // 2,000 characters, one of them an emoji: 2,001 UTF-16 code units.
    let over = format!("{}😀", "x".repeat(1999));
    assert_eq!(over.chars().count(), 2000);
    let r = call(
        &sim,
        LEGACY,
        Method::POST,
        "/v1/pages",
        Some(create(title(&over))),
    )
    .await;
    assert_error(&r, 400, "validation_error");
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.contains("text.content.length should be ≤ `2000`, instead was `2001`"),
        "{message}"
    );

    let fits = format!("{}😀", "x".repeat(1998));
    let notes = json!({"Notes": {"rich_text": [{"text": {"content": fits}}]}});
    let r = call(&sim, LEGACY, Method::POST, "/v1/pages", Some(create(notes))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["properties"]["Notes"]["rich_text"][0]["plain_text"],
        fits
    );

    // A URL property is a string limited the same way.
    let url = format!("https://e.x/{}", "é".repeat(1987));
    assert_eq!(url.encode_utf16().count(), 1999);
    let r = call(
        &sim,
        LEGACY,
        Method::POST,
        "/v1/pages",
        Some(create(json!({"Site": {"url": url}}))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = format!("{url}😀");
    let r = call(
        &sim,
        LEGACY,
        Method::POST,
        "/v1/pages",
        Some(create(json!({"Site": {"url": url}}))),
    )
    .await;
    assert_error(&r, 400, "validation_error");
    assert_eq!(sim.pages(&db).len(), 2);
}

#[tokio::test]
async fn an_overload_is_529_service_overload_with_retry_after() {
    let sim = sim().await;
    let db = sim.create_database("Tasks", &[]);
    sim.fail_next(1, 529);
    let r = call(
        &sim,
        LEGACY,
        Method::GET,
        &format!("/v1/databases/{db}"),
        None,
    )
    .await;
    assert_error(&r, 529, "service_overload");
    assert_eq!(r.headers["retry-after"], "1");
    let r = call(
        &sim,
        LEGACY,
        Method::GET,
        &format!("/v1/databases/{db}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
}
