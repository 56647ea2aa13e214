//! sObject Get Deleted: the window, and the limit on ids it returns.

use super::*;

async fn get_deleted(
    sim: &SalesforceSim,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> Reply {
    let f = |t: chrono::DateTime<chrono::Utc>| {
        t.format("%Y-%m-%dT%H%%3A%M%%3A%S%%2B00%%3A00").to_string()
    };
    call(
        sim,
        Method::GET,
        &format!(
            "{V}/sobjects/Contact/deleted/?start={}&end={}",
            f(start),
            f(end)
        ),
        None,
    )
    .await
}

#[tokio::test]
async fn get_deleted_reports_deletions_within_the_window() {
    let clock = Clock::default();
    let sim = sim_with(None, clock.clone()).await;
    let ids: Vec<String> = (0..5)
        .map(|i| sim.insert("Contact", contact(i)).unwrap())
        .collect();
    let before = clock.now();
    clock.advance(Duration::minutes(3));
    sim.delete(&ids[1]).unwrap();
    let r = call(
        &sim,
        Method::DELETE,
        &format!("{V}/composite/sobjects?ids={}&allOrNone=false", ids[2]),
        None,
    )
    .await;
    assert_eq!(r.body[0]["success"], true, "{}", r.text);
    clock.advance(Duration::minutes(3));
    let now = clock.now();

    let r = get_deleted(&sim, before, now).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let deleted: Vec<&str> = r.body["deletedRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        deleted.iter().copied().collect::<HashSet<_>>(),
        HashSet::from([ids[1].as_str(), ids[2].as_str()])
    );
    assert!(r.body["deletedRecords"][0]["deletedDate"]
        .as_str()
        .unwrap()
        .ends_with("+0000"));
    // The seconds of `end` are ignored: the last date covered is a whole minute.
    let covered = r.body["latestDateCovered"].as_str().unwrap();
    assert!(covered.ends_with(":00.000+0000"), "{covered}");
    assert!(r.body["earliestDateAvailable"].is_string());
    // Deleted records leave queries; queryAll still has them, flagged.
    let q = query(&sim, "SELECT Id FROM Contact", None).await;
    assert_eq!(q.body["totalSize"], 3);
    let all = call(
        &sim,
        Method::GET,
        &format!("{V}/queryAll?q=SELECT+Id,IsDeleted+FROM+Contact+WHERE+IsDeleted+=+true"),
        None,
    )
    .await;
    assert_eq!(all.body["totalSize"], 2, "{}", all.text);

    // A window before the deletions is empty; windows of a minute or less,
    // reversed, or starting more than 30 days ago are refused.
    let r = get_deleted(&sim, before - Duration::minutes(10), before).await;
    assert_eq!(r.body["deletedRecords"], json!([]));
    for (start, end) in [
        (now - Duration::seconds(30), now),
        (now, now - Duration::minutes(5)),
        (now - Duration::days(31), now),
    ] {
        let r = get_deleted(&sim, start, end).await;
        assert_error(&r, 400, "INVALID_REPLICATION_DATE");
    }
    let r = call(
        &sim,
        Method::GET,
        &format!("{V}/sobjects/Contact/deleted/"),
        None,
    )
    .await;
    assert_error(&r, 400, "MISSING_ARGUMENT");

    // After 15 days the delete log is purged: the deletion is no longer reported.
    clock.advance(Duration::days(16));
    let r = get_deleted(&sim, clock.now() - Duration::days(20), clock.now()).await;
    assert_eq!(r.body["deletedRecords"], json!([]), "{}", r.text);
    assert!(sim.record(&ids[1]).is_none(), "purged for good");
}

/// sObject Get Deleted: "If more than 600,000 IDs are found,
/// EXCEEDED_ID_LIMIT is returned. You can correct the error by choosing start
/// and end dates that are closer together."
#[tokio::test]
async fn get_deleted_answers_exceeded_id_limit_past_its_limit_and_a_closer_window_does_not() {
    let clock = Clock::default();
    let sim = sim_with(None, clock.clone()).await;
    sim.set_deleted_id_limit(3);
    let ids: Vec<String> = (0..5)
        .map(|i| sim.insert("Contact", contact(i)).unwrap())
        .collect();
    let start = clock.now() - Duration::minutes(1);
    for (i, id) in ids.iter().enumerate() {
        clock.advance(Duration::minutes(if i == 3 { 10 } else { 1 }));
        sim.delete(id).unwrap();
    }
    clock.advance(Duration::minutes(2));
    let r = get_deleted(&sim, start, clock.now()).await;
    assert_error(&r, 400, "EXCEEDED_ID_LIMIT");
    assert!(r.body[0]["message"]
        .as_str()
        .unwrap()
        .contains("closer together"));
    let r = get_deleted(&sim, start, start + Duration::minutes(6)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["deletedRecords"].as_array().unwrap().len(), 3);
}
