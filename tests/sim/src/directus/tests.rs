//! The Directus simulator's own tests of its store: filters, sorting,
//! keyset pagination, incremental reads, batch writes, the deletions feed.

use super::filter::{compile, Filter};
use super::model::{fmt_ts, Field, Key};
use super::query::Params;
use super::select::{read_activity, read_items};
use super::store::{Collection, Ctx, UnknownFields};
use super::*;
use std::ops::Bound;

fn tasks() -> Collection {
    let specs = [
        endpoints::default_key(),
        json!({"field": "name", "type": "string", "schema": {}, "meta": {"interface": "input"}}),
        json!({"field": "points", "type": "float", "schema": {}, "meta": null}),
        json!({"field": "tags", "type": "csv", "schema": {}, "meta": null}),
        json!({"field": "date_created", "type": "timestamp", "schema": {}, "meta": {"special": ["date-created"]}}),
        json!({"field": "date_updated", "type": "timestamp", "schema": {}, "meta": {"special": ["date-updated"]}}),
    ];
    let fields = specs.iter().map(|s| Field::from_spec(s).unwrap()).collect();
    Collection::new("tasks", json!({"accountability": "all"}), true, fields).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

fn ctx(now: DateTime<Utc>) -> Ctx<'static> {
    Ctx {
        now,
        user: ADMIN_USER,
        unknown: UnknownFields::Refuse,
    }
}

/// `n` tasks "T{i}" with `i % 7` points, created at t=0.
fn seeded(n: usize) -> Collection {
    let mut c = tasks();
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("T{i}"), "points": i % 7}))
        .collect();
    let refs: Vec<&Value> = items.iter().collect();
    c.create_many(&refs, &ctx(at(0))).unwrap();
    c
}

fn get(c: &Collection, query: &str) -> Value {
    read_items(c, &Params::parse(query).unwrap(), at(1000)).unwrap()
}

fn ids(v: &Value) -> Vec<i64> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

fn filter(c: &Collection, f: Value) -> Filter {
    compile(&f, &c.fields, "tasks", at(1000)).unwrap()
}

#[test]
fn keyset_pages_walk_the_key_range_once_each() {
    let c = seeded(1050);
    let (mut after, mut seen): (Option<i64>, Vec<i64>) = (None, Vec::new());
    loop {
        let f = after.map_or(String::new(), |a| {
            format!("&filter={}", json!({"id": {"_gt": a}}))
        });
        let page = ids(&get(&c, &format!("limit=100&sort=id&fields=*{f}")));
        seen.extend(&page);
        if page.len() < 100 {
            break;
        }
        after = page.last().copied();
    }
    assert_eq!(seen, (1..=1050).collect::<Vec<_>>());
    // The bound is a range of the ordered items, not a filter over all.
    let scan = filter(
        &c,
        json!({"_and": [{"id": {"_gt": 500}}, {"id": {"_lte": 900}}]}),
    )
    .key_scan(c.pk, c.pk_kind());
    assert_eq!(
        (scan.lo, scan.hi),
        (
            Bound::Excluded(Key::Int(500)),
            Bound::Included(Key::Int(900))
        )
    );
    let bracketed = get(&c, "limit=3&filter[id][_gt]=1047");
    assert_eq!(ids(&bracketed), [1048, 1049, 1050]);
    assert_eq!(ids(&get(&c, "limit=2&sort=-id&filter[id][_lt]=5")), [4, 3]);
    assert!(ids(&get(&c, "filter[id][_gt]=9&filter[id][_lt]=3")).is_empty());
}

#[test]
fn incremental_filters_use_the_time_index_and_agree_with_a_scan() {
    let mut c = seeded(300);
    for id in [5, 250, 17] {
        let changes = c
            .check_update(&Key::Int(id), &json!({"points": 100}), &ctx(at(60)))
            .unwrap();
        assert!(c
            .apply_update(&Key::Int(id), &changes, &ctx(at(60)))
            .unwrap());
    }
    let since = fmt_ts(at(30));
    let f = json!({"_and": [{"id": {"_gt": 10}},
        {"_or": [{"date_updated": {"_gte": since}}, {"date_created": {"_gte": since}}]}]});
    let compiled = filter(&c, f.clone());
    let dated: Vec<usize> = c.time_index.iter().map(|(i, _)| *i).collect();
    assert_eq!(compiled.time_ranges(&dated).map(|r| r.len()), Some(2));
    let page = get(&c, &format!("limit=100&sort=id&filter={f}"));
    assert_eq!(ids(&page), [17, 250]);
    assert_eq!(page["data"][0]["date_updated"], json!(fmt_ts(at(60))));
    assert_eq!(page["data"][0]["date_created"], json!(fmt_ts(at(0))));
    // Everything matches a `since` before the creates: the same answer,
    // page by page, with the count of every match.
    let old = fmt_ts(at(-10));
    let all = json!({"_or": [{"date_updated": {"_gte": old}}, {"date_created": {"_gte": old}}]});
    assert_eq!(ids(&get(&c, &format!("limit=-1&filter={all}"))).len(), 300);
    let page = get(
        &c,
        &format!("limit=5&filter={all}&meta=filter_count,total_count"),
    );
    assert_eq!(ids(&page), [1, 2, 3, 4, 5]);
    assert_eq!(
        page["meta"],
        json!({"total_count": 300, "filter_count": 300})
    );
}

#[test]
fn operators_compare_by_type_and_nulls_match_nothing() {
    let mut c = seeded(10);
    let changes = c
        .check_update(
            &Key::Int(3),
            &json!({"name": null, "tags": ["a", "b"]}),
            &ctx(at(5)),
        )
        .unwrap();
    c.apply_update(&Key::Int(3), &changes, &ctx(at(5))).unwrap();
    let q = |f: Value| ids(&get(&c, &format!("limit=-1&filter={f}")));
    assert_eq!(q(json!({"points": {"_eq": "3"}})), [4]);
    assert_eq!(q(json!({"points": {"_gte": 5}, "id": {"_lt": 8}})), [6, 7]);
    assert_eq!(q(json!({"id": {"_in": [2, "4", 99]}})), [2, 4]);
    assert_eq!(q(json!({"id": {"_in": "9,10"}})), [9, 10]);
    assert_eq!(q(json!({"name": {"_null": true}})), [3]);
    assert_eq!(
        q(json!({"name": {"_neq": "T1"}})).len(),
        8,
        "null is not unequal either"
    );
    assert_eq!(
        q(json!({"name": {"_nnull": true}, "id": {"_nin": [1, 2]}})).len(),
        7
    );
    assert_eq!(q(json!({"name": {"_icontains": "t9"}})), [10]);
    assert_eq!(q(json!({"name": {"_starts_with": "T1"}})), [2]);
    assert_eq!(q(json!({"tags": {"_contains": "b"}})), [3]);
    assert_eq!(q(json!({"id": {"_between": [2, 4]}})), [2, 3, 4]);
    assert_eq!(
        q(json!({"_or": [{"id": {"_eq": 1}}, {"id": {"_eq": 10}}]})),
        [1, 10]
    );
    assert_eq!(q(json!({"date_updated": {"_nnull": true}})), [3]);
    assert_eq!(q(json!({"date_created": {"_lte": "$NOW"}})).len(), 10);
    assert_eq!(ids(&get(&c, "search=t7")), [8]);
    for (f, code) in [
        (json!({"nope": {"_eq": 1}}), "FORBIDDEN"),
        (json!({"id": {"_like": 1}}), "INVALID_QUERY"),
        (json!({"id": {"_in": []}}), "INVALID_QUERY"),
        (json!({"name": {"_eq": ""}}), "INVALID_QUERY"),
    ] {
        let e = read_items(&c, &Params::parse(&format!("filter={f}")).unwrap(), at(0)).unwrap_err();
        assert_eq!(e.code(), code, "{f}");
    }
    let e = read_items(
        &c,
        &Params::parse("filter={\"nope\":{\"_eq\":1}}").unwrap(),
        at(0),
    )
    .unwrap_err();
    assert_eq!(
        e.message(),
        "You don't have permission to access field \"nope\" in collection \"tasks\" or it does not exist. Queried in root."
    );
}

#[test]
fn sorts_by_several_fields_pages_and_projects() {
    let c = seeded(20);
    let sorted = get(&c, "sort=-points,name&limit=4&fields=id,points");
    assert_eq!(
        ids(&sorted),
        [14, 7, 13, 20],
        "6 points, then by name: T13 < T6"
    );
    assert_eq!(sorted["data"][0], json!({"id": 14, "points": 6}));
    assert_eq!(ids(&get(&c, "limit=3&page=2")), [4, 5, 6]);
    assert_eq!(ids(&get(&c, "limit=3&offset=18")), [19, 20]);
    assert_eq!(ids(&get(&c, "limit=0")).len(), 0);
    assert_eq!(ids(&get(&c, "")).len(), 20, "100 by default");
    let e = read_items(&c, &Params::parse("sort=nope").unwrap(), at(0)).unwrap_err();
    assert_eq!(e.code(), "FORBIDDEN");
    let e = read_items(&c, &Params::parse("fields=id,nope").unwrap(), at(0)).unwrap_err();
    assert_eq!(e.code(), "FORBIDDEN");
}

#[test]
fn a_batch_is_written_whole_or_not_at_all() {
    let mut c = seeded(2);
    let good = json!({"name": "ok"});
    for (bad, code) in [
        (json!({"name": "x", "nope": 1}), "INVALID_PAYLOAD"),
        (json!({"points": "many"}), "INVALID_PAYLOAD"),
        (json!({"id": 1}), "RECORD_NOT_UNIQUE"),
    ] {
        let e = c.create_many(&[&good, &bad], &ctx(at(1))).unwrap_err();
        assert_eq!(e.code(), code, "{bad}");
        assert_eq!(c.items.len(), 2, "nothing of the batch was written");
    }
    let e = c
        .create_many(&[&json!({"nope": 1})], &ctx(at(1)))
        .unwrap_err();
    assert!(e.message().contains("\"nope\""), "{}", e.message());
    let dropping = Ctx {
        unknown: UnknownFields::Drop,
        ..ctx(at(1))
    };
    assert_eq!(
        c.create_many(&[&json!({"name": "y", "nope": 1})], &dropping)
            .unwrap(),
        [Key::Int(3)]
    );
    // An explicit key moves the sequence on.
    assert_eq!(
        c.create_many(&[&json!({"id": 40}), &good], &ctx(at(1)))
            .unwrap(),
        [Key::Int(40), Key::Int(41)]
    );
}

#[test]
fn the_deletions_feed_finds_deletes_by_collection_action_and_time() {
    let mut log = activity::ActivityLog::default();
    for i in 0..50 {
        log.log(
            activity::Action::Create,
            "tasks",
            &Key::Int(i),
            at(i),
            ADMIN_USER,
            "ua",
        );
        log.log(
            activity::Action::Create,
            "other",
            &Key::Int(i),
            at(i),
            ADMIN_USER,
            "ua",
        );
    }
    for i in [3, 7, 9] {
        log.log(
            activity::Action::Delete,
            "tasks",
            &Key::Int(i),
            at(100 + i),
            ADMIN_USER,
            "ua",
        );
    }
    log.log(
        activity::Action::Delete,
        "other",
        &Key::Int(1),
        at(200),
        ADMIN_USER,
        "ua",
    );
    // The connector's query (query::deletions_url).
    let feed = |since: i64, after: u64| {
        let f = json!({"_and": [{"collection": {"_eq": "tasks"}}, {"action": {"_eq": "delete"}},
            {"timestamp": {"_gte": fmt_ts(at(since))}}, {"id": {"_gt": after}}]});
        let q = Params::parse(&format!(
            "limit=2&sort=id&fields=id,item,timestamp&filter={f}"
        ))
        .unwrap();
        read_activity(&log, &q, at(300)).unwrap()["data"]
            .as_array()
            .unwrap()
            .clone()
    };
    let first = feed(0, 0);
    assert_eq!(first.len(), 2);
    assert_eq!(
        first[0],
        json!({"id": 101, "item": "3", "timestamp": fmt_ts(at(103))})
    );
    let rest = feed(0, first[1]["id"].as_u64().unwrap());
    assert_eq!(
        rest.iter().map(|e| e["item"].clone()).collect::<Vec<_>>(),
        [json!("9")]
    );
    assert_eq!(feed(108, 0).len(), 1);
}
