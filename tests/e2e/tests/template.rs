//! The SDK's template connector reads every page of the items simulator,
//! incrementally too, through the host's rate limiter and credential injection.

use synchost::runtime::{FieldValue, ReadRequest};
use synchost_e2e::{bind_secret, build_connector, runtime, simulated};
use synchost_sim::items::ItemsSim;

#[tokio::test]
async fn template_reads_every_page_then_only_changes() {
    let sim = ItemsSim::start("tok-items", Some(20)).await.unwrap();
    for i in 0..230 {
        sim.insert(&format!("item {i}"), i % 3 == 0);
    }
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-template"))
        .await
        .unwrap();
    assert_eq!(connector.descriptor.name, "items");
    assert_eq!(connector.contract, "0.2.0");

    let mut conn = simulated("https://items.example.com", &sim.base_url());
    bind_secret(&mut conn, "items_token", "tok-items");
    let mut session = rt.session(&connector, &conn).await.unwrap();

    let mut ids = Vec::new();
    let mut cursor = None;
    let checkpoint = loop {
        let page = session
            .read(&ReadRequest {
                entity: "items".into(),
                cursor: cursor.clone(),
                since: None,
                page_size: 40,
            })
            .await
            .unwrap();
        ids.extend(page.records.iter().map(|r| r.id.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break page.checkpoint.expect("the last page carries a checkpoint"),
        }
    };
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (ids.len(), unique.len()),
        (230, 230),
        "every item exactly once"
    );

    sim.clock().advance(chrono::Duration::seconds(5));
    sim.insert("new", false);
    let page = session
        .read(&ReadRequest {
            entity: "items".into(),
            cursor: None,
            since: Some(checkpoint),
            page_size: 40,
        })
        .await
        .unwrap();
    let names: Vec<_> = page
        .records
        .iter()
        .map(|r| r.fields[0].value.clone())
        .collect();
    assert!(names.contains(&FieldValue::Text("new".into())), "{names:?}");
    assert!(
        page.records.len() <= 2,
        "only changes since the checkpoint: {}",
        page.records.len()
    );

    // The token was injected by the host on every call, and every call was logged.
    let calls = session.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.status == 200 && c.host == "items.example.com"),
        "{calls:?}"
    );
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_configuration_error() {
    let rt = runtime();
    let connector = rt
        .load(&build_connector("synchost-connector-template"))
        .await
        .unwrap();
    let mut conn = simulated("https://items.example.com", "http://127.0.0.1:9");
    conn.secrets.insert(
        "items_token".into(),
        "env:SYNCHOST_TEST_UNSET_VARIABLE".into(),
    );
    let err = rt
        .session(&connector, &conn)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("items_token") && err.contains("SYNCHOST_TEST_UNSET_VARIABLE"),
        "{err}"
    );
}
