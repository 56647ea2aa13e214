//! URLs of the REST API. Query parameters follow the global query
//! reference (https://docs.directus.io/reference/query.html): `filter` is
//! given as one JSON document, `sort`, `limit` and `fields` as plain values.

use serde_json::{json, Value};
use synchost_sdk::http::encode;

use crate::schema::Collection;

/// Items per page when the host asks for 0; Directus' own default `limit`.
pub const DEFAULT_PAGE: u32 = 100;
/// The most items asked for in one page: Directus' `QUERY_LIMIT_MAX` is
/// unlimited by default, but a page must stay well under the host's
/// response size limit.
pub const MAX_PAGE: u32 = 500;

pub fn page_size(requested: u32) -> u32 {
    match requested {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

/// A key value as it goes into a filter: numbers unquoted.
pub fn key_json(c: &Collection, key: &str) -> Value {
    if c.pk_numeric {
        if let Ok(n) = key.parse::<i64>() {
            return json!(n);
        }
        if let Ok(n) = key.parse::<f64>() {
            return json!(n);
        }
    }
    json!(key)
}

/// The filter of one items page: past the last key seen (keyset
/// pagination: stable while items are added or removed, unlike `offset`),
/// and, on an incremental read, created or updated at or after `since`.
pub fn items_filter(c: &Collection, after: Option<&Value>, since: Option<&str>) -> Option<Value> {
    let mut and = Vec::new();
    if let Some(after) = after {
        and.push(json!({ c.pk.as_str(): { "_gt": after } }));
    }
    if let Some(since) = since {
        let changed: Vec<Value> = c
            .version_fields()
            .map(|f| json!({ f: { "_gte": since } }))
            .collect();
        // A collection without timestamps cannot be read incrementally: the
        // read is a full scan, which is still correct.
        if !changed.is_empty() {
            and.push(json!({ "_or": changed }));
        }
    }
    match and.len() {
        0 => None,
        1 => and.pop(),
        _ => Some(json!({ "_and": and })),
    }
}

/// `GET /items/{collection}` for one page, sorted by the primary key
/// (https://docs.directus.io/reference/items.html#get-items).
pub fn items_url(
    base: &str,
    c: &Collection,
    limit: u32,
    after: Option<&Value>,
    since: Option<&str>,
) -> String {
    let mut url = format!(
        "{base}/items/{}?limit={limit}&sort={}&fields=*",
        encode(&c.name),
        encode(&c.pk)
    );
    if let Some(filter) = items_filter(c, after, since) {
        url.push_str("&filter=");
        url.push_str(&encode(&filter.to_string()));
    }
    url
}

/// `GET /activity` for the deletions of `collection` at or after `since`,
/// in activity order, past activity id `after`
/// (https://docs.directus.io/reference/system/activity.html). Deletes are
/// hard deletes: the activity log is the only trace they leave.
pub fn deletions_url(base: &str, collection: &str, since: &str, after: u64, limit: u32) -> String {
    let filter = json!({ "_and": [
        { "collection": { "_eq": collection } },
        { "action": { "_eq": "delete" } },
        { "timestamp": { "_gte": since } },
        { "id": { "_gt": after } },
    ]});
    format!(
        "{base}/activity?limit={limit}&sort=id&fields=id,item,timestamp&filter={}",
        encode(&filter.to_string())
    )
}

/// `/items/{collection}/{id}`, for one item.
pub fn item_url(base: &str, collection: &str, id: &str) -> String {
    format!("{base}/items/{}/{}", encode(collection), encode(id))
}

/// `/items/{collection}`, for creating items.
pub fn collection_url(base: &str, collection: &str) -> String {
    format!("{base}/items/{}", encode(collection))
}

/// `GET /items/{collection}` for the key and version fields of the item with
/// key `id`: an empty `data` means the item does not exist.
pub fn lookup_url(base: &str, c: &Collection, id: &str) -> String {
    let mut fields = vec![c.pk.as_str()];
    fields.extend(c.version_fields());
    let filter = json!({ c.pk.as_str(): { "_eq": key_json(c, id) } });
    format!(
        "{base}/items/{}?limit=1&fields={}&filter={}",
        encode(&c.name),
        encode(&fields.join(",")),
        encode(&filter.to_string())
    )
}

/// `GET /fields/{collection}` (https://docs.directus.io/reference/system/fields.html).
pub fn fields_url(base: &str, collection: &str) -> String {
    format!("{base}/fields/{}", encode(collection))
}

/// `GET /collections`, to tell a collection that does not exist from one the
/// token may not read (both answer 403 elsewhere).
pub fn collections_url(base: &str) -> String {
    format!("{base}/collections?fields=collection")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{parse_fields, tests_support::tasks_body};

    fn decode(s: &str) -> String {
        let mut out = Vec::new();
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn first_full_page_has_no_filter() {
        let c = parse_fields("tasks", &tasks_body()).unwrap();
        assert_eq!(
            items_url("http://h", &c, 40, None, None),
            "http://h/items/tasks?limit=40&sort=id&fields=*"
        );
    }

    #[test]
    fn later_incremental_pages_filter_on_key_and_time() {
        let c = parse_fields("tasks", &tasks_body()).unwrap();
        let url = items_url(
            "http://h",
            &c,
            40,
            Some(&json!(17)),
            Some("2024-01-01T00:00:00Z"),
        );
        let filter = decode(url.split("&filter=").nth(1).unwrap());
        let filter: Value = serde_json::from_str(&filter).unwrap();
        assert_eq!(
            filter,
            json!({"_and": [
                {"id": {"_gt": 17}},
                {"_or": [
                    {"date_updated": {"_gte": "2024-01-01T00:00:00Z"}},
                    {"date_created": {"_gte": "2024-01-01T00:00:00Z"}}
                ]}
            ]})
        );
    }

    #[test]
    fn deletions_are_read_from_the_activity_log() {
        let url = deletions_url("http://h", "tasks", "2024-01-01T00:00:00Z", 5, 100);
        let filter = decode(url.split("&filter=").nth(1).unwrap());
        assert_eq!(
            serde_json::from_str::<Value>(&filter).unwrap(),
            json!({"_and": [
                {"collection": {"_eq": "tasks"}}, {"action": {"_eq": "delete"}},
                {"timestamp": {"_gte": "2024-01-01T00:00:00Z"}}, {"id": {"_gt": 5}}
            ]})
        );
    }

    #[test]
    fn keys_are_typed_and_paths_encoded() {
        let c = parse_fields("tasks", &tasks_body()).unwrap();
        assert_eq!(key_json(&c, "12"), json!(12));
        assert_eq!(
            item_url("http://h", "my tasks", "a/b"),
            "http://h/items/my%20tasks/a%2Fb"
        );
        assert_eq!(page_size(0), 100);
        assert_eq!(page_size(5000), 500);
        let lookup = decode(&lookup_url("http://h", &c, "3"));
        assert!(
            lookup.contains("fields=id,date_updated,date_created"),
            "{lookup}"
        );
        assert!(lookup.contains(r#"filter={"id":{"_eq":3}}"#), "{lookup}");
    }
}
