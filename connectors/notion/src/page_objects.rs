//! A query response read straight into records. Building a `serde_json::Value`
//! of every page (a map per object, a string per key and annotation) was most
//! of a read's time inside the sandbox; here each page is deserialized into
//! the few parts a record needs, borrowing text from the body, and the rest
//! (annotations, users, icons, parents) is skipped without being kept.
//!
//! This is a fast path only: a response whose shape it does not expect
//! (a property value of an odd shape, a field of another type than the
//! reference documents) yields `None`, and the caller translates it through
//! `serde_json::Value` as before, with the same records or the same error.
//! Property types whose value becomes JSON text (people, formulas, rollups
//! and every other read-only type) go through `Value` here too, one property
//! at a time, so their text is exactly what the slow path writes.
//!
//! Reference: "Page", "Page properties" and "Rich text" in the Notion API
//! reference (version 2025-09-03).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use synchost_sdk::{Field, FieldValue, Record};

use crate::properties::inner_value;
use crate::query::{later, QueryPage, RefKind, Truncated, PAGE_REFERENCES};
use crate::schema::PropKind;

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    results: Vec<PageObject<'a>>,
    #[serde(default)]
    has_more: Option<bool>,
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct PageObject<'a> {
    #[serde(borrow, default)]
    object: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    last_edited_time: Option<String>,
    #[serde(default)]
    in_trash: Option<bool>,
    #[serde(default)]
    archived: Option<bool>,
    /// Property name -> its value object's keys (`id`, `type`, the value
    /// under the type's name, `has_more`), each left unparsed until needed.
    #[serde(borrow, default)]
    properties: Option<BTreeMap<Cow<'a, str>, PropertyKeys<'a>>>,
}

/// A property value object's keys, their values unparsed.
type PropertyKeys<'a> = BTreeMap<Cow<'a, str>, &'a RawValue>;

#[derive(Deserialize)]
struct RichText<'a> {
    #[serde(borrow, default)]
    plain_text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<TextObject<'a>>,
}

#[derive(Deserialize)]
struct TextObject<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct MaybeNamed {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct DateObject<'a> {
    #[serde(borrow)]
    start: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(default)]
    id: Option<String>,
}

fn parse<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    serde_json::from_str(raw.get()).ok()
}

/// The field value of one property, or `None` where the slow path must judge.
fn field_value(notion_type: &str, prop: &PropertyKeys) -> Option<FieldValue> {
    // A missing value reads as null, as `prop[type]` does on a `Value`.
    let inner = prop.get(notion_type).copied().unwrap_or(RawValue::NULL);
    Some(match PropKind::from_type(notion_type) {
        PropKind::Title | PropKind::RichText => {
            let items: Vec<RichText> = parse(inner)?;
            let mut text = String::new();
            for item in &items {
                let part = item
                    .plain_text
                    .as_deref()
                    .or_else(|| item.text.as_ref().and_then(|t| t.content.as_deref()));
                text.push_str(part.unwrap_or(""));
            }
            FieldValue::Text(text)
        }
        PropKind::Email | PropKind::Url | PropKind::PhoneNumber => {
            match parse::<Option<String>>(inner)? {
                Some(s) => FieldValue::Text(s),
                None => FieldValue::Null,
            }
        }
        PropKind::Number => match parse::<Option<f64>>(inner)? {
            Some(n) => FieldValue::Number(n),
            None => FieldValue::Null,
        },
        PropKind::Checkbox => FieldValue::Boolean(parse(inner)?),
        PropKind::Select | PropKind::Status => match parse::<Option<Named>>(inner)? {
            Some(o) => FieldValue::Select(o.name),
            None => FieldValue::Null,
        },
        PropKind::MultiSelect => {
            let options: Vec<MaybeNamed> = parse(inner)?;
            FieldValue::MultiSelect(options.into_iter().filter_map(|o| o.name).collect())
        }
        PropKind::Date => match parse::<Option<DateObject>>(inner)? {
            Some(d) if d.start.contains('T') => FieldValue::Datetime(d.start.into_owned()),
            Some(d) => FieldValue::Date(d.start.into_owned()),
            None => FieldValue::Null,
        },
        PropKind::Relation => {
            let refs: Vec<Reference> = parse(inner)?;
            FieldValue::Reference(refs.into_iter().filter_map(|r| r.id).collect())
        }
        PropKind::CreatedTime | PropKind::LastEditedTime => match parse::<Option<String>>(inner)? {
            Some(at) => FieldValue::Datetime(at),
            None => FieldValue::Null,
        },
        PropKind::People | PropKind::ReadOnlyJson(_) => {
            let value: Value = serde_json::from_str(inner.get()).ok()?;
            inner_value(notion_type, &value).ok()?
        }
    })
}

/// Whether a reference property may hold more than the page object shows
/// (see `query::truncated_references`), or `None` where the slow path must judge.
fn truncated(notion_type: &str, prop: &PropertyKeys) -> Option<Option<(String, RefKind)>> {
    let kind = match notion_type {
        "relation" => {
            let has_more = match prop.get("has_more") {
                Some(raw) => parse::<Value>(raw)?.as_bool() == Some(true),
                None => false,
            };
            if !has_more {
                return Some(None);
            }
            RefKind::Relation
        }
        "people" => {
            let people = match prop.get("people") {
                Some(raw) => parse::<Value>(raw)?,
                None => return Some(None),
            };
            match people.as_array() {
                Some(list) if list.len() >= PAGE_REFERENCES => RefKind::People,
                _ => return Some(None),
            }
        }
        _ => return Some(None),
    };
    let id = match prop.get("id") {
        Some(raw) => parse::<Value>(raw)?,
        None => return Some(None),
    };
    Some(id.as_str().map(|id| (id.to_string(), kind)))
}

/// The records of a query response, or `None` when anything in it is not of
/// the shape this path expects (the caller then reads it as a `Value`).
pub fn parse_query_body(body: &[u8]) -> Option<QueryPage> {
    let body: Body = serde_json::from_slice(body).ok()?;
    let mut records = Vec::with_capacity(body.results.len());
    let mut max_edited = None;
    let mut truncated_refs = Vec::new();
    for page in body.results {
        if page.object.as_deref().is_some_and(|o| o != "page") {
            continue;
        }
        let id = page.id?;
        let edited = page.last_edited_time;
        let deleted = page.in_trash.unwrap_or(false) || page.archived.unwrap_or(false);
        let mut record = Record::new(&id)
            .version(edited.clone())
            .updated_at(edited.clone())
            .deleted(deleted);
        max_edited = later(max_edited, edited);
        if let Some(props) = page.properties {
            let mut fields = Vec::with_capacity(props.len());
            let mut cut = Vec::new();
            for (name, prop) in &props {
                // A property without a non-empty text `type` is the slow
                // path's to judge (it says "has no `type`").
                let notion_type: Cow<str> = parse(prop.get("type")?)?;
                if notion_type.is_empty() {
                    return None;
                }
                fields.push(Field {
                    name: name.to_string(),
                    value: field_value(&notion_type, prop)?,
                });
                if let Some((property_id, kind)) = truncated(&notion_type, prop)? {
                    cut.push(Truncated {
                        record: records.len(),
                        field: name.to_string(),
                        page_id: id.clone(),
                        property_id,
                        kind,
                    });
                }
            }
            record.fields = fields;
            truncated_refs.extend(cut);
        }
        records.push(record);
    }
    let next = match body.has_more {
        Some(true) => body.next_cursor,
        _ => None,
    };
    Some(QueryPage {
        records,
        next,
        max_edited,
        truncated: truncated_refs,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::parse_query_body;
    use crate::query::{parse_query_bytes, parse_query_response};

    /// A page with a property of each documented type, the shapes of the
    /// reference's own examples (Page properties; Rich text).
    fn page(id: &str) -> Value {
        let text = |s: &str| {
            json!({ "type": "text", "text": { "content": s, "link": null },
                "annotations": { "bold": false, "italic": false, "strikethrough": false,
                    "underline": false, "code": false, "color": "default" },
                "plain_text": s, "href": null })
        };
        let user = |n: usize| json!({ "object": "user", "id": format!("u{n}") });
        json!({
            "object": "page", "id": id,
            "created_time": "2022-10-24T22:54:00.000Z",
            "last_edited_time": "2023-03-08T18:25:00.000Z",
            "created_by": { "object": "user", "id": "u1" },
            "cover": null, "icon": { "type": "emoji", "emoji": "🐞" },
            "parent": { "type": "data_source_id", "data_source_id": "ds1" },
            "archived": false, "in_trash": false,
            "properties": {
                "Name": { "id": "title", "type": "title", "title": [text("Bug "),
                    { "type": "mention", "plain_text": "bash", "mention": {} }] },
                "Notes": { "id": "n", "type": "rich_text", "rich_text": [text("a \"quoted\" é")] },
                "Mail": { "id": "m", "type": "email", "email": "a@b.c" },
                "Site": { "id": "s", "type": "url", "url": null },
                "Phone": { "id": "p", "type": "phone_number", "phone_number": "+1 555" },
                "Points": { "id": "x", "type": "number", "number": 3 },
                "Ratio": { "id": "y", "type": "number", "number": 0.25 },
                "Done": { "id": "c", "type": "checkbox", "checkbox": true },
                "Priority": { "id": "pr", "type": "select", "select": { "id": "1", "name": "High", "color": "red" } },
                "Stage": { "id": "st", "type": "status", "status": null },
                "Tags": { "id": "t", "type": "multi_select", "multi_select": [
                    { "id": "a", "name": "a", "color": "blue" }, { "name": "b" }] },
                "Due": { "id": "d", "type": "date", "date": { "start": "2024-05-01", "end": null, "time_zone": null } },
                "At": { "id": "at", "type": "date", "date": { "start": "2024-05-01T10:00:00.000+02:00" } },
                "Parent": { "id": "r", "type": "relation", "relation": [{ "id": "p9" }], "has_more": true },
                "Owners": { "id": "o", "type": "people", "people": (0..25).map(user).collect::<Vec<_>>() },
                "Made": { "id": "ct", "type": "created_time", "created_time": "2022-10-24T22:54:00.000Z" },
                "Edited": { "id": "et", "type": "last_edited_time", "last_edited_time": "2023-03-08T18:25:00.000Z" },
                "Sum": { "id": "f", "type": "formula", "formula": { "type": "number", "number": 4 } },
                "Ticket": { "id": "u", "type": "unique_id", "unique_id": { "prefix": "T", "number": 3 } }
            },
            "url": "https://www.notion.so/x", "public_url": null
        })
    }

    fn body(pages: Vec<Value>) -> Value {
        json!({ "object": "list", "results": pages, "next_cursor": "c2", "has_more": true,
            "type": "page_or_data_source", "page_or_data_source": {} })
    }

    /// What the reader makes of `body` and what the `Value` path makes of
    /// it, each as text.
    fn both(body: &Value) -> (String, String) {
        let bytes = serde_json::to_vec(body).unwrap();
        (
            format!("{:?}", parse_query_bytes(&bytes, "POST q")),
            format!("{:?}", parse_query_response(body)),
        )
    }

    #[test]
    fn a_documented_response_is_read_on_the_fast_path_as_the_value_path_reads_it() {
        let b = body(vec![
            page("p1"),
            json!({ "object": "data_source", "id": "d" }),
            page("p2"),
        ]);
        let bytes = serde_json::to_vec(&b).unwrap();
        let fast = parse_query_body(&bytes).expect("the fast path takes a documented response");
        assert_eq!(fast.records.len(), 2);
        assert_eq!(fast.truncated.len(), 4, "{:?}", fast.truncated);
        let (got, want) = both(&b);
        assert_eq!(got, want);
    }

    /// Every leaf of the page replaced, in turn, by a value of each other
    /// JSON type, and every key removed: the records or the error are the
    /// same as the `Value` path's, whichever path reads it.
    #[test]
    fn any_one_odd_value_is_read_as_the_value_path_reads_it() {
        fn paths(v: &Value, at: Vec<Value>, out: &mut Vec<Vec<Value>>) {
            match v {
                Value::Object(m) => {
                    for (k, child) in m {
                        let mut p = at.clone();
                        p.push(json!(k));
                        out.push(p.clone());
                        paths(child, p, out);
                    }
                }
                Value::Array(a) => {
                    for (i, child) in a.iter().enumerate().take(2) {
                        let mut p = at.clone();
                        p.push(json!(i));
                        out.push(p.clone());
                        paths(child, p, out);
                    }
                }
                _ => {}
            }
        }
        fn at<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
            path.iter().fold(v, |v, k| match k {
                Value::String(k) => &mut v[k.as_str()],
                k => &mut v[k.as_u64().unwrap() as usize],
            })
        }
        let original = body(vec![page("p1")]);
        let mut all = Vec::new();
        paths(&original, Vec::new(), &mut all);
        let odd = [
            json!(null),
            json!(true),
            json!(7),
            json!(-1.5),
            json!("T"),
            json!(""),
            json!([]),
            json!([1]),
            json!({}),
            json!({ "name": "n", "id": "i", "start": "s" }),
        ];
        let mut cases = 0;
        for path in &all {
            for value in &odd {
                let mut b = original.clone();
                *at(&mut b, path) = value.clone();
                let (got, want) = both(&b);
                assert_eq!(got, want, "{path:?} = {value}");
                cases += 1;
            }
            let (last, parent) = path.split_last().unwrap();
            let mut b = original.clone();
            match (at(&mut b, parent), last) {
                (Value::Object(m), Value::String(k)) => drop(m.remove(k)),
                (Value::Array(a), k) => drop(a.remove(k.as_u64().unwrap() as usize)),
                _ => unreachable!(),
            }
            let (got, want) = both(&b);
            assert_eq!(got, want, "{path:?} removed");
        }
        assert!(cases > 1000, "{cases}");
    }
}
