use super::*;
use serde_json::json;

fn t(s: &str) -> Millis {
    time::parse(s).unwrap()
}

#[test]
fn deleted_windows_respect_salesforce_rules() {
    // An ordinary window: since rounded down to the minute, up to the start of the read.
    let (start, end, clamped) =
        deleted_window(t("2024-03-01T10:00:45Z"), t("2024-03-01T11:30:20Z"));
    assert_eq!(
        (time::soql(start), time::soql(end), clamped),
        (
            "2024-03-01T10:00:00Z".into(),
            "2024-03-01T11:30:20Z".into(),
            false
        )
    );
    // Too short: widened back to two whole minutes before the end.
    let (start, _, _) = deleted_window(t("2024-03-01T11:30:05Z"), t("2024-03-01T11:30:20Z"));
    assert_eq!(time::soql(start), "2024-03-01T11:28:00Z");
    let (start, _, _) = deleted_window(t("2024-03-01T12:00:00Z"), t("2024-03-01T11:30:20Z"));
    assert_eq!(time::soql(start), "2024-03-01T11:28:00Z");
    // Too old: brought forward to within 30 days, and said so.
    let (start, _, clamped) = deleted_window(t("2024-01-01T00:00:00Z"), t("2024-03-01T11:30:20Z"));
    assert_eq!(
        (time::soql(start), clamped),
        ("2024-01-31T11:31:00Z".into(), true)
    );
    assert_eq!(
        deleted_url("https://acme.my.salesforce.com/services/data/v59.0", "Contact", t("2024-03-01T10:00:00Z"), t("2024-03-01T11:30:20Z")),
        "https://acme.my.salesforce.com/services/data/v59.0/sobjects/Contact/deleted/?start=2024-03-01T10%3A00%3A00Z&end=2024-03-01T11%3A30%3A20Z"
    );
}

#[test]
fn deleted_records_become_tombstones() {
    let body = json!({
        "deletedRecords": [{ "id": "0035g00000ABCDEAA1", "deletedDate": "2013-05-07T22:07:19.000+0000" }],
        "earliestDateAvailable": "2013-05-03T15:57:00.000+0000",
        "latestDateCovered": "2013-05-08T21:20:00.000+0000"
    });
    let d = parse_deleted(&body).unwrap();
    assert_eq!(d.tombstones.len(), 1);
    let r = &d.tombstones[0];
    assert!(r.deleted && r.fields.is_empty());
    assert_eq!(r.id, "0035g00000ABCDEAA1");
    assert_eq!(r.updated_at.as_deref(), Some("2013-05-07T22:07:19.000Z"));
    assert_eq!(d.covered.as_deref(), Some("2013-05-08T21:20:00.000Z"));
    assert_eq!(d.earliest, Some(t("2013-05-03T15:57:00Z")));
    assert!(parse_deleted(&json!({})).is_err());
}

/// A getDeleted answer of `n` deletions, one a second from `from`.
fn found(from: &str, n: usize, covered: &str) -> Answer {
    let start = t(from);
    let list: Vec<Value> = (0..n)
        .map(|i| {
            json!({ "id": format!("0035g00000A{i:06}AA"), "deletedDate": time::rfc3339(start + 1000 * i as i64) })
        })
        .collect();
    Answer::Found(
        parse_deleted(&json!({
            "deletedRecords": list,
            "earliestDateAvailable": "2024-02-20T00:00:00.000+0000",
            "latestDateCovered": covered,
        }))
        .unwrap(),
    )
}

fn state_with(windows: &[(&str, &str)]) -> CursorState {
    CursorState {
        windows: windows.iter().map(|(a, b)| (t(a), t(b))).collect(),
        ..CursorState::default()
    }
}

#[test]
fn tombstones_are_ordered_by_deletion_then_id() {
    let body = json!({ "deletedRecords": [
        { "id": "0035g00000BBBBBAA1", "deletedDate": "2024-03-01T10:00:05.000+0000" },
        { "id": "0035g00000CCCCCAA1", "deletedDate": "2024-03-01T10:00:01.000+0000" },
        { "id": "0035g00000AAAAAAA1", "deletedDate": "2024-03-01T10:00:05.000+0000" },
    ] });
    let ids: Vec<String> = parse_deleted(&body)
        .unwrap()
        .tombstones
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        ids,
        [
            "0035g00000CCCCCAA1",
            "0035g00000AAAAAAA1",
            "0035g00000BBBBBAA1"
        ]
    );
}

#[test]
fn windows_split_at_a_whole_minute_into_halves_salesforce_accepts() {
    let mid = split(t("2024-03-01T10:00:00Z"), t("2024-03-01T11:00:20Z")).unwrap();
    assert_eq!(time::soql(mid), "2024-03-01T10:30:00Z");
    let mid = split(t("2024-03-01T10:00:00Z"), t("2024-03-01T10:05:59Z")).unwrap();
    assert_eq!(time::soql(mid), "2024-03-01T10:02:00Z");
    let mid = split(t("2024-03-01T10:00:00Z"), t("2024-03-01T10:04:00Z")).unwrap();
    assert_eq!(time::soql(mid), "2024-03-01T10:02:00Z");
    // Halves of a shorter window would be a minute or less: refused.
    assert_eq!(
        split(t("2024-03-01T10:00:00Z"), t("2024-03-01T10:03:59Z")),
        None
    );
}

#[test]
fn exceeded_id_limit_halves_the_window_older_half_first() {
    let mut state = state_with(&[("2024-03-01T10:00:00Z", "2024-03-01T11:00:20Z")]);
    let taken = take(&mut state, Answer::TooMany, 200, 200);
    assert!(taken.tombstones.is_empty() && !taken.page_full && taken.dropped.is_none());
    assert_eq!(
        state.windows,
        [
            (t("2024-03-01T10:30:00Z"), t("2024-03-01T11:00:20Z")),
            (t("2024-03-01T10:00:00Z"), t("2024-03-01T10:30:00Z")),
        ]
    );
    // The older half's deletions, then the newer half's, each window popped
    // once read; the last window's coverage is the read's.
    let taken = take(
        &mut state,
        found("2024-03-01T10:01:00Z", 30, "2024-03-01T10:30:00.000+0000"),
        200,
        200,
    );
    assert_eq!(taken.tombstones.len(), 30);
    assert_eq!(state.windows.len(), 1);
    assert_eq!(state.covered, None);
    let taken = take(
        &mut state,
        found("2024-03-01T10:31:00Z", 5, "2024-03-01T11:00:00.000+0000"),
        170,
        200,
    );
    assert_eq!(taken.tombstones.len(), 5);
    assert!(state.windows.is_empty());
    assert_eq!(state.covered.as_deref(), Some("2024-03-01T11:00:00.000Z"));
}

#[test]
fn a_window_that_cannot_be_halved_is_dropped_when_salesforce_refuses_it() {
    let mut state = state_with(&[("2024-03-01T10:00:00Z", "2024-03-01T10:02:30Z")]);
    let taken = take(&mut state, Answer::TooMany, 200, 200);
    assert_eq!(
        taken.dropped,
        Some((t("2024-03-01T10:00:00Z"), t("2024-03-01T10:02:30Z")))
    );
    assert!(state.windows.is_empty());
}

#[test]
fn more_deletions_than_a_page_halve_the_window_and_the_smallest_window_spans_pages() {
    let mut state = state_with(&[("2024-03-01T10:00:00Z", "2024-03-01T10:30:20Z")]);
    let taken = take(
        &mut state,
        found("2024-03-01T10:00:00Z", 500, "2024-03-01T10:30:00.000+0000"),
        200,
        200,
    );
    assert!(taken.tombstones.is_empty());
    assert_eq!(state.windows.len(), 2, "halved, not handed over");

    // Two minutes, 450 deletions, pages of 200: 200, 200, 50.
    let mut state = state_with(&[("2024-03-01T10:00:00Z", "2024-03-01T10:02:00Z")]);
    let mut seen = Vec::new();
    for (expected, full) in [(200, true), (200, true), (50, false)] {
        let answer = found("2024-03-01T10:00:00Z", 450, "2024-03-01T10:02:00.000+0000");
        let taken = take(&mut state, answer, 200, 200);
        assert_eq!((taken.tombstones.len(), taken.page_full), (expected, full));
        seen.extend(taken.tombstones.into_iter().map(|r| r.id));
    }
    assert!(state.windows.is_empty() && state.offset == 0);
    let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), distinct.len()), (450, 450));
}

#[test]
fn a_window_that_fits_a_page_but_not_what_is_left_waits_for_the_next_page() {
    let mut state = state_with(&[("2024-03-01T10:00:00Z", "2024-03-01T10:30:20Z")]);
    let answer = found("2024-03-01T10:00:00Z", 150, "2024-03-01T10:30:00.000+0000");
    let taken = take(&mut state, answer, 100, 200);
    assert!(taken.tombstones.is_empty() && taken.page_full);
    assert_eq!((state.windows.len(), state.offset), (1, 0));
}

#[test]
fn coverage_short_of_a_windows_end_holds_the_checkpoint_back() {
    let mut state = state_with(&[
        ("2024-03-01T10:30:00Z", "2024-03-01T11:00:20Z"),
        ("2024-03-01T10:00:00Z", "2024-03-01T10:30:00Z"),
    ]);
    let taken = take(
        &mut state,
        found("2024-03-01T10:01:00Z", 1, "2024-03-01T10:20:00.000+0000"),
        200,
        200,
    );
    assert_eq!(taken.tombstones.len(), 1);
    take(
        &mut state,
        found("2024-03-01T10:31:00Z", 1, "2024-03-01T11:00:00.000+0000"),
        200,
        200,
    );
    assert_eq!(state.covered.as_deref(), Some("2024-03-01T10:20:00.000Z"));
}

#[test]
fn a_purge_inside_the_window_is_reported() {
    let mut state = state_with(&[("2024-02-15T00:00:00Z", "2024-03-01T00:00:20Z")]);
    let taken = take(
        &mut state,
        found("2024-02-25T00:00:00Z", 1, "2024-03-01T00:00:00.000+0000"),
        200,
        200,
    );
    assert_eq!(taken.purged, Some(t("2024-02-20T00:00:00Z")));
}
