//! Writing property values: the write shapes of Page properties, validated
//! against the database schema and normalised to the read shapes.

use serde_json::{json, Value};

use super::model::{
    new_id, normalize_id, parse_iso, text_object, ApiError, DataSource as Database, PropSchema,
    SelectOption,
};

const COLORS: [&str; 10] = [
    "default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red",
];

fn shape(path: &str, what: &str, v: &Value) -> String {
    format!("body failed validation: {path} should be {what}, instead was `{v}`.")
}

fn too_long(path: &str, max: usize, was: usize) -> String {
    format!("body failed validation: {path}.length should be ≤ `{max}`, instead was `{was}`.")
}

/// Limits for property values (Request limits: Size limits): rich text content and
/// link 2000 characters, arrays of rich text 100 elements, URL 2000, email 200,
/// phone number 200, multi-select 100 options, relation 100 pages, people 100 users.
///
/// What a "character" is, the page does not say
/// (https://developers.notion.com/reference/request-limits: "text.content | 2000
/// characters"). The API validates in JavaScript, and its message names the
/// JavaScript property it compared, `.length`: "body failed validation:
/// body.paragraph.rich_text[0].text.content.length should be ≤ `2000`, instead
/// was `2001`." (the error quoted in the notion-client crate's tests and in
/// ftnext/sphinx-notion#4). A JavaScript string's `length` counts UTF-16 code
/// units, so a character outside the Basic Multilingual Plane (most emoji)
/// counts twice: "Notion measures the 2000-char rich_text cap in UTF-16 code
/// units ... a 2000-codepoint chunk holding one astral char (emoji) weighed 2001
/// units and the whole `v1/pages` request 400'd with `validation_error`"
/// (dwarvesf/dwarves-kit#403). Every length limit here is counted that way.
pub(crate) fn js_length(s: &str) -> usize {
    s.encode_utf16().count()
}

fn rich_text(path: &str, v: &Value) -> Result<Value, String> {
    let arr = v.as_array().ok_or_else(|| shape(path, "an array", v))?;
    if arr.len() > 100 {
        return Err(too_long(path, 100, arr.len()));
    }
    let mut out = Vec::new();
    for (i, item) in arr.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let obj = item
            .as_object()
            .ok_or_else(|| shape(&p, "an object", item))?;
        if let Some(t) = obj.get("type").filter(|t| *t != "text") {
            return Err(shape(
                &format!("{p}.type"),
                "`\"text\"` (the simulator supports text only)",
                t,
            ));
        }
        let text = obj.get("text").and_then(Value::as_object);
        let text = text.ok_or_else(|| {
            format!("body failed validation: {p}.text should be defined, instead was `undefined`.")
        })?;
        let content = text.get("content").unwrap_or(&Value::Null);
        let content = content
            .as_str()
            .ok_or_else(|| shape(&format!("{p}.text.content"), "a string", content))?;
        if js_length(content) > 2000 {
            return Err(too_long(
                &format!("{p}.text.content"),
                2000,
                js_length(content),
            ));
        }
        let link = match text.get("link") {
            None | Some(Value::Null) => Value::Null,
            Some(l) => {
                let url = l.get("url").and_then(Value::as_str);
                let url = url.ok_or_else(|| shape(&format!("{p}.text.link.url"), "a string", l))?;
                if js_length(url) > 2000 {
                    return Err(too_long(
                        &format!("{p}.text.link.url"),
                        2000,
                        js_length(url),
                    ));
                }
                json!({"url": url})
            }
        };
        out.push(text_object(
            content,
            link,
            obj.get("annotations").and_then(Value::as_object),
        ));
    }
    Ok(Value::Array(out))
}

/// A select, multi-select or status option given by `name` or `id`.
/// Select: a name the schema lacks is added as a new option, as the API does
/// (changelog: Database objects now return parent — integrations with edit
/// access "add new select or multi-select properties through the create or update
/// page endpoints"). Status: "It's not possible to update the name or options
/// values of a status property via the API" (Update database properties), so an
/// unknown status is rejected.
fn option(prop: &mut PropSchema, path: &str, v: &Value) -> Result<Value, String> {
    let obj = v.as_object().ok_or_else(|| shape(path, "an object", v))?;
    if let Some(id) = obj.get("id").and_then(Value::as_str) {
        return match prop.options.iter().find(|o| o.id == id) {
            Some(o) => Ok(o.json()),
            None => Err(format!(
                "body failed validation: {path}.id `{id}` is not an option of {}.",
                prop.name
            )),
        };
    }
    let name = obj.get("name").and_then(Value::as_str);
    let name = name
        .ok_or_else(|| shape(&format!("{path}.name"), "a string", v))?
        .trim()
        .to_string();
    if name.is_empty() || name.contains(',') {
        return Err(format!("body failed validation: {path}.name should be a non-empty string without commas, instead was `{name:?}`."));
    }
    if let Some(o) = prop.options.iter().find(|o| o.name == name) {
        return Ok(o.json());
    }
    if prop.kind == "status" {
        return Err(format!(
            "Invalid status option. Status option \"{name}\" does not exist for {}.",
            prop.name
        ));
    }
    let color = obj
        .get("color")
        .and_then(Value::as_str)
        .filter(|c| COLORS.contains(c));
    let color = color
        .unwrap_or(COLORS[prop.options.len() % COLORS.len()])
        .to_string();
    let o = SelectOption {
        id: new_id(),
        name,
        color,
    };
    prop.options.push(o.clone());
    Ok(o.json())
}

fn string_or_null(path: &str, v: &Value, max: usize) -> Result<Value, String> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::String(s) if js_length(s) > max => Err(too_long(path, max, js_length(s))),
        Value::String(_) => Ok(v.clone()),
        _ => Err(shape(path, "a string or `null`", v)),
    }
}

fn id_list(path: &str, v: &Value, user: bool) -> Result<Value, String> {
    let arr = v.as_array().ok_or_else(|| shape(path, "an array", v))?;
    if arr.len() > 100 {
        return Err(too_long(path, 100, arr.len()));
    }
    let mut out = Vec::new();
    for (i, item) in arr.iter().enumerate() {
        let raw = item.get("id").and_then(Value::as_str).unwrap_or("");
        let id = normalize_id(raw)
            .ok_or_else(|| shape(&format!("{path}[{i}].id"), "a valid uuid", &item["id"]))?;
        out.push(if user {
            json!({"object": "user", "id": id})
        } else {
            json!({"id": id})
        });
    }
    Ok(Value::Array(out))
}

/// Normalises one written property value (Page properties: the write shapes).
fn value(prop: &mut PropSchema, path: &str, v: &Value) -> Result<Value, String> {
    let kind = prop.kind.clone();
    match kind.as_str() {
        "title" | "rich_text" => rich_text(path, v),
        "number" if v.is_null() || v.is_number() => Ok(v.clone()),
        "number" => Err(shape(path, "a number or `null`", v)),
        "checkbox" if v.is_boolean() => Ok(v.clone()),
        "checkbox" => Err(shape(path, "a boolean", v)),
        "select" | "status" if v.is_null() => Ok(Value::Null),
        "select" | "status" => option(prop, path, v),
        "multi_select" => {
            let arr = v.as_array().ok_or_else(|| shape(path, "an array", v))?;
            if arr.len() > 100 {
                return Err(too_long(path, 100, arr.len()));
            }
            let mut out = Vec::new();
            for (i, item) in arr.iter().enumerate() {
                out.push(option(prop, &format!("{path}[{i}]"), item)?);
            }
            Ok(Value::Array(out))
        }
        "date" if v.is_null() => Ok(Value::Null),
        "date" => {
            let start = v
                .get("start")
                .and_then(Value::as_str)
                .filter(|s| parse_iso(s).is_some());
            let start = start.ok_or_else(|| {
                shape(
                    &format!("{path}.start"),
                    "an ISO 8601 date string",
                    &v["start"],
                )
            })?;
            let end = match v.get("end") {
                None | Some(Value::Null) => Value::Null,
                Some(Value::String(e)) if parse_iso(e).is_some() => json!(e),
                Some(e) => {
                    return Err(shape(
                        &format!("{path}.end"),
                        "an ISO 8601 date string or `null`",
                        e,
                    ))
                }
            };
            let tz = v.get("time_zone").cloned().unwrap_or(Value::Null);
            if !(tz.is_null() || tz.is_string()) {
                return Err(shape(
                    &format!("{path}.time_zone"),
                    "a string or `null`",
                    &tz,
                ));
            }
            Ok(json!({"start": start, "end": end, "time_zone": tz}))
        }
        "email" | "phone_number" => string_or_null(path, v, 200),
        "url" => string_or_null(path, v, 2000),
        "relation" => id_list(path, v, false),
        "people" => id_list(path, v, true),
        _ => Err(format!(
            "{} is a {kind} property, which cannot be written.",
            prop.name
        )),
    }
}

/// Validates a `properties` object of a create or update request against the
/// schema and returns the values to store by property id. All-or-nothing: new
/// select options reach the schema only if every property is valid.
pub(crate) fn write_properties(
    db: &mut Database,
    props: &Value,
) -> Result<Vec<(String, Value)>, ApiError> {
    let obj = props
        .as_object()
        .ok_or_else(|| ApiError::validation(shape("body.properties", "an object", props)))?;
    let mut schema = db.props.clone();
    let mut out = Vec::new();
    for (key, v) in obj {
        // "Foo is not a property that exists." is the API's message for an unknown name.
        let Some(idx) = schema
            .iter()
            .position(|p| &p.name == key)
            .or_else(|| schema.iter().position(|p| &p.id == key))
        else {
            return Err(ApiError::validation(format!(
                "{key} is not a property that exists."
            )));
        };
        let prop = &mut schema[idx];
        let kind = prop.kind.clone();
        let path = format!("body.properties.{key}");
        let inner = match v.get(&kind) {
            Some(inner) => inner,
            None => {
                let msg = match v.get("type").and_then(Value::as_str) {
                    Some(t) if t != kind => format!("{key} is expected to be {kind}."),
                    _ => format!("body failed validation: {path}.{kind} should be defined, instead was `undefined`."),
                };
                return Err(ApiError::validation(msg));
            }
        };
        let stored = value(prop, &format!("{path}.{kind}"), inner).map_err(ApiError::validation)?;
        out.push((prop.id.clone(), stored));
    }
    db.props = schema;
    Ok(out)
}
