//! Reading a database: the query body, pages -> records, and the cursor that
//! carries the incremental state from one page to the next. Pure functions.
//!
//! Reference: "Query a data source", "Pagination" and "Page" in the Notion API
//! reference (version 2025-09-03; page objects are unchanged from 2022-06-28).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use synchost_sdk::{cursor, errors, ConnectorError, Field, FieldValue, Page, Record};

use crate::properties::field_value;

/// Notion's largest `page_size`.
pub const MAX_PAGE_SIZE: u32 = 100;

/// What a read carries from one page to the next, inside the opaque cursor
/// handed to the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorState {
    /// Notion's `next_cursor`, passed back as `start_cursor`
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub notion: Option<String>,
    /// the greatest `last_edited_time` seen so far in this read
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub max_seen: Option<String>,
    /// the `since` this read started with, so every page uses the same filter
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Notion's time (its `Date` header) when the first page was answered:
    /// everything edited before it is in this read, so it is the checkpoint
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
}

impl CursorState {
    /// The state of a read: decoded from `cursor` when resuming, otherwise a
    /// fresh read from `since`.
    pub fn resume(
        cursor: Option<&str>,
        since: Option<&str>,
    ) -> Result<CursorState, ConnectorError> {
        match cursor {
            Some(c) => cursor::decode(c),
            None => Ok(CursorState {
                notion: None,
                max_seen: None,
                since: since.map(String::from),
                started: None,
            }),
        }
    }

    pub fn encode(&self) -> String {
        cursor::encode(self)
    }
}

/// The page size to ask Notion for: the request's, capped at 100; 100 when 0.
pub fn page_size(requested: u32) -> u32 {
    match requested {
        0 => MAX_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// The body of `POST /v1/databases/{id}/query`.
pub fn query_body(page_size: u32, state: &CursorState) -> Value {
    let mut body = json!({ "page_size": page_size });
    if let Some(start) = &state.notion {
        body["start_cursor"] = json!(start);
    }
    if let Some(since) = &state.since {
        body["filter"] = json!({
            "timestamp": "last_edited_time",
            "last_edited_time": { "on_or_after": since },
        });
    }
    body
}

/// How many page or person references a page object holds per property:
/// "The endpoint returns a maximum of 25 page or person references per page
/// property" (Retrieve a page, Limits,
/// https://developers.notion.com/reference/retrieve-a-page).
pub const PAGE_REFERENCES: usize = 25;

/// The two reference lists a page object may cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// "relation: the has_more value of the relation in the response object
    /// is true if a relation contains more than 25 related pages"
    Relation,
    /// "people: response object can't be guaranteed to return more than 25
    /// people" — no `has_more` says so: a list of 25 or more may be cut.
    People,
}

impl RefKind {
    pub fn notion_type(self) -> &'static str {
        match self {
            RefKind::Relation => "relation",
            RefKind::People => "people",
        }
    }
}

/// A reference property whose value the page object may have cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated {
    /// index of the record in the page
    pub record: usize,
    pub field: String,
    pub page_id: String,
    pub property_id: String,
    pub kind: RefKind,
}

/// One response of the query endpoint, translated.
#[derive(Debug)]
pub struct QueryPage {
    pub records: Vec<Record>,
    /// Notion's `next_cursor` when `has_more`
    pub next: Option<String>,
    /// the greatest `last_edited_time` on this page
    pub max_edited: Option<String>,
    pub truncated: Vec<Truncated>,
}

/// The later of two Notion timestamps. Notion writes every timestamp in one
/// format (`2023-03-08T18:25:00.000Z`), so text order is time order.
pub fn later(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b > a { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// A page object as a record: id, `last_edited_time` as version and
/// modification time, `in_trash || archived` as the tombstone, and one field
/// per property (sorted by name, for stable output).
pub fn page_to_record(page: &Value) -> Result<Record, ConnectorError> {
    let id = page["id"]
        .as_str()
        .ok_or_else(|| ConnectorError::Fatal("a page in the query results has no id".into()))?;
    let edited = page["last_edited_time"].as_str().map(String::from);
    let deleted =
        page["in_trash"].as_bool().unwrap_or(false) || page["archived"].as_bool().unwrap_or(false);
    let mut record = Record::new(id)
        .version(edited.clone())
        .updated_at(edited)
        .deleted(deleted);
    if let Some(props) = page["properties"].as_object() {
        let mut names: Vec<&String> = props.keys().collect();
        names.sort();
        record.fields = names
            .into_iter()
            .map(|name| {
                let value = field_value(&props[name]).map_err(|why| {
                    errors::bad_body(
                        "the database query",
                        format!("property `{name}` of page {id} {why}"),
                    )
                })?;
                Ok(Field {
                    name: name.clone(),
                    value,
                })
            })
            .collect::<Result<_, ConnectorError>>()?;
    }
    Ok(record)
}

/// Reference properties of `page` that may hold more than the page object
/// shows: relations with `has_more: true`, people lists of 25 or more.
pub fn truncated_references(page: &Value) -> Vec<(String, String, RefKind)> {
    let mut out: Vec<(String, String, RefKind)> = page["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, p)| {
            let kind = match p["type"].as_str()? {
                "relation" if p["has_more"].as_bool() == Some(true) => RefKind::Relation,
                "people" if p["people"].as_array()?.len() >= PAGE_REFERENCES => RefKind::People,
                _ => return None,
            };
            Some((name.clone(), p["id"].as_str()?.to_string(), kind))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Translates a query response's body: straight into records where it has
/// the documented shape (`page_objects`), through a `Value` otherwise, which
/// judges what is wrong with it (`context` names the request in the error
/// of a body that is not JSON).
pub fn parse_query_bytes(body: &[u8], context: &str) -> Result<QueryPage, ConnectorError> {
    if let Some(page) = crate::page_objects::parse_query_body(body) {
        return Ok(page);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| errors::bad_body(context, e))?;
    parse_query_response(&value)
}

/// Translates a query response. Results that are not pages (a wiki database
/// may list databases) are skipped.
pub fn parse_query_response(body: &Value) -> Result<QueryPage, ConnectorError> {
    let results = body["results"]
        .as_array()
        .ok_or_else(|| errors::bad_body("the database query", "no `results` array"))?;
    let mut records = Vec::with_capacity(results.len());
    let mut max_edited = None;
    let mut truncated = Vec::new();
    for page in results {
        if page["object"].as_str().is_some_and(|o| o != "page") {
            continue;
        }
        let record = page_to_record(page)?;
        max_edited = later(max_edited, record.updated_at.clone());
        for (field, property_id, kind) in truncated_references(page) {
            truncated.push(Truncated {
                record: records.len(),
                field,
                page_id: record.id.clone(),
                property_id,
                kind,
            });
        }
        records.push(record);
    }
    let next = match body["has_more"].as_bool() {
        Some(true) => body["next_cursor"].as_str().map(String::from),
        _ => None,
    };
    Ok(QueryPage {
        records,
        next,
        max_edited,
        truncated,
    })
}

/// The page handed to the host: a cursor that carries the running maximum
/// while Notion has more, and on the last page the checkpoint, which is the
/// greatest `last_edited_time` seen in the whole read (or the `since` it
/// started from when it saw nothing; none on an empty full scan).
pub fn finish(state: CursorState, page: QueryPage) -> Page {
    let max_seen = later(state.max_seen, page.max_edited);
    match page.next {
        Some(next) => {
            let cursor = CursorState {
                notion: Some(next),
                max_seen,
                since: state.since,
                started: state.started,
            };
            Page::new(page.records).next(Some(cursor.encode()))
        }
        None => {
            let checkpoint = state.started.or(max_seen).or(state.since);
            Page::new(page.records).checkpoint(checkpoint)
        }
    }
}

/// The path of one page of a page property item list.
pub fn property_item_path(page_id: &str, property_id: &str, start: Option<&str>) -> String {
    let mut path = format!(
        "/v1/pages/{}/properties/{}?page_size={MAX_PAGE_SIZE}",
        crate::api::encode_segment(page_id),
        crate::api::encode_segment(property_id)
    );
    if let Some(start) = start {
        path.push_str("&start_cursor=");
        path.push_str(&crate::api::encode_query(start));
    }
    path
}

/// The values in one page of a relation or people property item list (a
/// related page `{"id"}`, a user object), and the cursor of the next page.
pub fn parse_reference_items(body: &Value, kind: RefKind) -> (Vec<Value>, Option<String>) {
    let key = kind.notion_type();
    let items = body["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item[key]["id"].is_string())
        .map(|item| item[key].clone())
        .collect();
    let next = match body["has_more"].as_bool() {
        Some(true) => body["next_cursor"].as_str().map(String::from),
        _ => None,
    };
    (items, next)
}

/// Replaces field `name` of `record` with the complete list: the related page
/// ids of a relation, the user objects of a people property.
pub fn set_references(record: &mut Record, name: &str, kind: RefKind, items: Vec<Value>) {
    let value = match kind {
        RefKind::Relation => FieldValue::Reference(
            items
                .iter()
                .filter_map(|v| v["id"].as_str().map(String::from))
                .collect(),
        ),
        RefKind::People => FieldValue::Json(Value::Array(items).to_string()),
    };
    if let Some(field) = record.fields.iter_mut().find(|f| f.name == name) {
        field.value = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(id: &str, edited: &str) -> Value {
        json!({
            "object": "page",
            "id": id,
            "created_time": "2022-10-24T22:54:00.000Z",
            "last_edited_time": edited,
            "archived": false,
            "in_trash": false,
            "parent": { "type": "database_id", "database_id": "db1" },
            "properties": {
                "Name": { "id": "title", "type": "title", "title": [{ "plain_text": "Task" }] },
                "Done": { "id": "c", "type": "checkbox", "checkbox": true },
                "Due": { "id": "d", "type": "date", "date": { "start": "2024-05-01", "end": null } },
                "Parent": { "id": "r", "type": "relation", "relation": [{ "id": "p9" }], "has_more": false }
            }
        })
    }

    #[test]
    fn cursor_state_round_trips() {
        let state = CursorState {
            notion: Some("e6c6f6a6-cursor".into()),
            max_seen: Some("2024-01-01T10:00:00.000Z".into()),
            since: Some("2023-12-31T00:00:00Z".into()),
            started: None,
        };
        let encoded = state.encode();
        assert_eq!(CursorState::resume(Some(&encoded), None).unwrap(), state);
        let empty = CursorState::default();
        assert_eq!(
            CursorState::resume(Some(&empty.encode()), Some("x")).unwrap(),
            empty
        );
        assert!(matches!(
            CursorState::resume(Some("not a cursor!"), None),
            Err(ConnectorError::InvalidInput(_))
        ));
        let fresh = CursorState::resume(None, Some("2024-01-01T00:00:00Z")).unwrap();
        assert_eq!(fresh.since.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(fresh.notion, None);
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0), 100);
        assert_eq!(page_size(10), 10);
        assert_eq!(page_size(500), 100);
    }

    #[test]
    fn query_bodies() {
        assert_eq!(
            query_body(100, &CursorState::default()),
            json!({ "page_size": 100 })
        );
        let state = CursorState {
            notion: Some("cur".into()),
            max_seen: Some("m".into()),
            since: Some("2024-01-01T00:00:00Z".into()),
            started: None,
        };
        assert_eq!(
            query_body(50, &state),
            json!({
                "page_size": 50,
                "start_cursor": "cur",
                "filter": {
                    "timestamp": "last_edited_time",
                    "last_edited_time": { "on_or_after": "2024-01-01T00:00:00Z" }
                }
            })
        );
    }

    #[test]
    fn page_becomes_record() {
        let record = page_to_record(&page("p1", "2024-01-02T03:04:00.000Z")).unwrap();
        assert_eq!(record.id, "p1");
        assert_eq!(record.version.as_deref(), Some("2024-01-02T03:04:00.000Z"));
        assert_eq!(
            record.updated_at.as_deref(),
            Some("2024-01-02T03:04:00.000Z")
        );
        assert!(!record.deleted);
        let names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Done", "Due", "Name", "Parent"]);
        assert_eq!(
            format!("{:?}", record.get("Name").unwrap()),
            format!("{:?}", FieldValue::Text("Task".into()))
        );
        assert_eq!(
            format!("{:?}", record.get("Done").unwrap()),
            format!("{:?}", FieldValue::Boolean(true))
        );
        assert_eq!(
            format!("{:?}", record.get("Due").unwrap()),
            format!("{:?}", FieldValue::Date("2024-05-01".into()))
        );
        assert_eq!(
            format!("{:?}", record.get("Parent").unwrap()),
            format!("{:?}", FieldValue::Reference(vec!["p9".into()]))
        );
    }

    #[test]
    fn trashed_or_archived_pages_are_tombstones() {
        let mut trashed = page("p1", "t");
        trashed["in_trash"] = json!(true);
        assert!(page_to_record(&trashed).unwrap().deleted);
        let mut archived = page("p1", "t");
        archived["archived"] = json!(true);
        assert!(page_to_record(&archived).unwrap().deleted);
        assert!(page_to_record(&json!({ "object": "page" })).is_err());
    }

    #[test]
    fn query_response_with_more() {
        let body = json!({
            "object": "list",
            "results": [
                page("p1", "2024-01-02T03:04:00.000Z"),
                { "object": "database", "id": "db9" },
                page("p2", "2024-01-05T00:00:00.000Z"),
                page("p3", "2024-01-03T00:00:00.000Z")
            ],
            "next_cursor": "next-1",
            "has_more": true,
            "type": "page_or_database",
            "page_or_database": {}
        });
        let parsed = parse_query_response(&body).unwrap();
        assert_eq!(parsed.records.len(), 3);
        assert_eq!(parsed.next.as_deref(), Some("next-1"));
        assert_eq!(
            parsed.max_edited.as_deref(),
            Some("2024-01-05T00:00:00.000Z")
        );
        assert!(parsed.truncated.is_empty());
        assert!(parse_query_response(&json!({ "object": "list" })).is_err());
    }

    #[test]
    fn running_maximum_and_checkpoint_across_pages() {
        let since = Some("2024-01-01T00:00:00Z".to_string());
        let first = CursorState::resume(None, since.as_deref()).unwrap();
        let body1 = json!({ "results": [page("p1", "2024-01-04T00:00:00.000Z")], "has_more": true, "next_cursor": "n1" });
        let page1 = finish(first, parse_query_response(&body1).unwrap());
        assert!(page1.checkpoint.is_none());
        let cursor = page1.next_cursor.expect("more pages");
        let second = CursorState::resume(Some(&cursor), None).unwrap();
        assert_eq!(second.notion.as_deref(), Some("n1"));
        assert_eq!(second.max_seen.as_deref(), Some("2024-01-04T00:00:00.000Z"));
        assert_eq!(second.since, since);
        assert_eq!(
            query_body(100, &second)["filter"]["last_edited_time"]["on_or_after"],
            json!(since)
        );
        let body2 = json!({ "results": [page("p2", "2024-01-02T00:00:00.000Z")], "has_more": false, "next_cursor": null });
        let page2 = finish(second, parse_query_response(&body2).unwrap());
        assert!(page2.next_cursor.is_none());
        assert_eq!(
            page2.checkpoint.as_deref(),
            Some("2024-01-04T00:00:00.000Z")
        );
    }

    #[test]
    fn checkpoint_without_records() {
        let empty = json!({ "results": [], "has_more": false, "next_cursor": null });
        let incremental = CursorState::resume(None, Some("2024-01-01T00:00:00Z")).unwrap();
        let page = finish(incremental, parse_query_response(&empty).unwrap());
        assert_eq!(page.checkpoint.as_deref(), Some("2024-01-01T00:00:00Z"));
        let full = CursorState::resume(None, None).unwrap();
        assert_eq!(
            finish(full, parse_query_response(&empty).unwrap()).checkpoint,
            None
        );
    }

    #[test]
    fn has_more_without_cursor_is_the_last_page() {
        let body = json!({ "results": [], "has_more": true, "next_cursor": null });
        assert_eq!(parse_query_response(&body).unwrap().next, None);
    }

    #[test]
    fn truncated_relations_are_completed() {
        let mut p = page("p1", "2024-01-02T03:04:00.000Z");
        p["properties"]["Parent"]["has_more"] = json!(true);
        p["properties"]["Parent"]["id"] = json!("r%3Bx");
        let body = json!({ "results": [p], "has_more": false });
        let mut parsed = parse_query_response(&body).unwrap();
        assert_eq!(
            parsed.truncated,
            vec![Truncated {
                record: 0,
                field: "Parent".into(),
                page_id: "p1".into(),
                property_id: "r%3Bx".into(),
                kind: RefKind::Relation,
            }]
        );
        assert_eq!(
            property_item_path("p1", "r%3Bx", Some("c/1")),
            "/v1/pages/p1/properties/r%3Bx?page_size=100&start_cursor=c%2F1"
        );
        let items = json!({
            "object": "list",
            "results": [
                { "object": "property_item", "type": "relation", "relation": { "id": "a" } },
                { "object": "property_item", "type": "relation", "relation": { "id": "b" } }
            ],
            "has_more": true,
            "next_cursor": "c2",
            "type": "property_item"
        });
        let (ids, next) = parse_reference_items(&items, RefKind::Relation);
        assert_eq!(ids, [json!({ "id": "a" }), json!({ "id": "b" })]);
        assert_eq!(next.as_deref(), Some("c2"));
        set_references(&mut parsed.records[0], "Parent", RefKind::Relation, ids);
        assert_eq!(
            format!("{:?}", parsed.records[0].get("Parent").unwrap()),
            format!("{:?}", FieldValue::Reference(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn people_lists_of_25_or_more_are_completed() {
        let user = |n: usize| json!({ "object": "user", "id": format!("u{n}") });
        let mut p = page("p1", "2024-01-02T03:04:00.000Z");
        p["properties"]["Owners"] = json!({ "id": "o", "type": "people",
            "people": (0..25).map(user).collect::<Vec<_>>() });
        p["properties"]["Few"] = json!({ "id": "f", "type": "people",
            "people": (0..24).map(user).collect::<Vec<_>>() });
        let body = json!({ "results": [p], "has_more": false });
        let mut parsed = parse_query_response(&body).unwrap();
        assert_eq!(parsed.truncated.len(), 1);
        assert_eq!(
            (parsed.truncated[0].field.as_str(), parsed.truncated[0].kind),
            ("Owners", RefKind::People)
        );
        let items = json!({ "object": "list", "has_more": false, "next_cursor": null,
            "results": (0..30).map(|n| json!({ "object": "property_item", "type": "people",
                "people": user(n) })).collect::<Vec<_>>() });
        let (users, next) = parse_reference_items(&items, RefKind::People);
        assert_eq!((users.len(), next), (30, None));
        set_references(&mut parsed.records[0], "Owners", RefKind::People, users);
        let FieldValue::Json(doc) = parsed.records[0].get("Owners").unwrap() else {
            panic!()
        };
        let doc: Value = serde_json::from_str(doc).unwrap();
        assert_eq!(doc[29], user(29));
    }

    #[test]
    fn later_picks_the_greater() {
        assert_eq!(later(None, None), None);
        assert_eq!(later(Some("a".into()), None).as_deref(), Some("a"));
        assert_eq!(later(None, Some("b".into())).as_deref(), Some("b"));
        assert_eq!(
            later(
                Some("2024-01-02T00:00:00.000Z".into()),
                Some("2024-01-01T00:00:00.000Z".into())
            )
            .as_deref(),
            Some("2024-01-02T00:00:00.000Z")
        );
    }
}
