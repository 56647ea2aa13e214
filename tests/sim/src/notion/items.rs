//! `GET /v1/pages/{page_id}/properties/{property_id}`: one property of a page,
//! whole (https://developers.notion.com/reference/retrieve-a-page-property).
//!
//! "Retrieves a property_item object for a given page_id and property_id.
//! Depending on the property type, the object returned will either be a value or
//! a paginated list of property item values." — "In cases where a property item
//! has more than 25 references, this endpoint should be used, rather than
//! Retrieve a page." — "Property types that return a paginated list of property
//! item objects are: title, rich_text, relation, people". The list is shaped as
//! Property item object, Paginated values
//! (https://developers.notion.com/reference/property-item-object): a list whose
//! `results` hold one `property_item` per reference (or rich text object), with
//! `"type": "property_item"` and a `property_item` naming the property and its
//! `next_url`. Page size as Pagination: "Default: 100, Maximum: 100".

use serde_json::{json, Value};
use std::collections::HashMap;

use super::model::ApiError;
use super::store::Store;

fn invalid(what: &str, v: &str) -> ApiError {
    ApiError::validation(format!(
        "query failed validation: {what}, instead was `\"{v}\"`."
    ))
}

/// The property item (or list of items) of property `key` (its id, as
/// returned in page objects, or its name) of page `page_id`.
pub(crate) fn property_item(
    store: &Store,
    page_id: &str,
    key: &str,
    params: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let page = store
        .pages
        .get(page_id)
        .ok_or_else(|| ApiError::not_found("page", page_id))?;
    let db = &store.sources[&page.ds];
    let prop = db
        .props
        .iter()
        .find(|p| p.id == key)
        .or_else(|| db.prop(key))
        .ok_or_else(|| ApiError::not_found("property", key))?;
    let value = page.value(prop);
    let kind = prop.kind.as_str();
    if !matches!(kind, "title" | "rich_text" | "relation" | "people") {
        let mut item = json!({"object": "property_item", "id": prop.id, "type": kind});
        item[kind] = value;
        return Ok(item);
    }
    let page_size = match params.get("page_size") {
        None => 100,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(invalid(
                    "page_size should be a number between 1 and 100",
                    raw,
                ))
            }
        },
    };
    // Cursors are opaque to the caller; here, the page, the property and where
    // the next page of items starts.
    let prefix = format!("{}:{}:", page.id, prop.id);
    let from = match params.get("start_cursor") {
        None => 0,
        Some(c) => c
            .strip_prefix(&prefix)
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                invalid(
                    "start_cursor should be a cursor returned by this endpoint",
                    c,
                )
            })?,
    };
    let all = value.as_array().cloned().unwrap_or_default();
    let to = (from + page_size).min(all.len());
    let results: Vec<Value> = all
        .get(from..to)
        .unwrap_or_default()
        .iter()
        .map(|v| {
            let mut item = json!({"object": "property_item", "id": prop.id, "type": kind});
            item[kind] = v.clone();
            item
        })
        .collect();
    let has_more = to < all.len();
    let next = has_more.then(|| format!("{prefix}{to}"));
    let next_url = next.as_ref().map(|c| {
        format!(
            "https://api.notion.com/v1/pages/{}/properties/{}?start_cursor={c}",
            page.id, prop.id
        )
    });
    let mut summary = json!({"id": prop.id, "next_url": next_url, "type": kind});
    summary[kind] = json!({});
    Ok(json!({
        "object": "list",
        "results": results,
        "next_cursor": next,
        "has_more": has_more,
        "type": "property_item",
        "property_item": summary,
    }))
}
