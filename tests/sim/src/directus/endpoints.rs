//! The endpoints of the Directus simulator, each following its section of
//! the REST reference (https://docs.directus.io/reference/introduction.html).

use super::activity::Action;
use super::error::ApiError;
use super::model::{Field, Key};
use super::query::Params;
use super::select::{read_activity, read_items, read_keys};
use super::store::{system_collection, Collection, Ctx, Store, SYSTEM_COLLECTIONS};
use crate::parse::pct_decode;
use axum::http::Method;
use serde_json::{json, Value};

/// A request that passed authentication.
pub(crate) struct Req<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
    /// whether the body is JSON (`Content-Type: application/json`)
    pub json: bool,
    /// false: no token, the public role, which may read nothing here
    pub admin: bool,
    pub agent: &'a str,
}

pub(crate) enum Answer {
    Json(Value),
    /// 204: done, nothing to return
    NoContent,
}

/// The body as Express' JSON parser leaves it: a body that is not JSON by
/// its content type is `{}`; one that does not parse is INVALID_PAYLOAD.
fn body(req: &Req) -> Result<Value, ApiError> {
    if !req.json || req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(req.body).map_err(|e| ApiError::invalid_payload(e.to_string()))
}

/// Keeps the (dotted) paths of `fields` in a JSON object.
fn project(v: &Value, fields: &Option<Vec<String>>) -> Value {
    let Some(fields) = fields.as_ref().filter(|f| !f.iter().any(|x| x == "*")) else {
        return v.clone();
    };
    let mut out = json!({});
    for path in fields {
        let parts: Vec<&str> = path.split('.').collect();
        let mut src = v;
        for p in &parts {
            src = &src[*p];
        }
        let mut dst = &mut out;
        for p in &parts[..parts.len() - 1] {
            if !dst[*p].is_object() {
                dst[*p] = json!({});
            }
            dst = &mut dst[*p];
        }
        dst[parts[parts.len() - 1]] = src.clone();
    }
    out
}

/// Routes a request to its endpoint.
pub(crate) fn route(store: &mut Store, req: &Req, ctx: &Ctx) -> Result<Answer, ApiError> {
    let segs: Vec<String> = req
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| pct_decode(s, true))
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let q = || Params::parse(req.query);
    let m = req.method;
    if !req.admin {
        // The public role has no permissions: it sees no collection, and
        // reads nothing (https://docs.directus.io/reference/authentication.html).
        return match (m, segs.as_slice()) {
            (&Method::GET, ["collections"]) => Ok(Answer::Json(json!({"data": []}))),
            (_, ["collections" | "fields" | "items" | "activity", ..]) => {
                Err(ApiError::forbidden())
            }
            _ => Err(ApiError::route_not_found(req.path)),
        };
    }
    match (m, segs.as_slice()) {
        // Collections (https://docs.directus.io/reference/system/collections.html).
        (&Method::GET, ["collections"]) => list_collections(store, &q()?),
        (&Method::GET, ["collections", c]) => get_collection(store, c, &q()?),
        (&Method::POST, ["collections"]) => create_collection(store, &body(req)?),
        // Fields (https://docs.directus.io/reference/system/fields.html):
        // "List All Fields", "List Fields in Collection" (a collection that
        // does not exist is FORBIDDEN), "Retrieve a Field", "Create Field in
        // Collection" (existing items hold null in it).
        (&Method::GET, ["fields"]) => {
            let data: Vec<Value> = store.collections.values().flat_map(fields_json).collect();
            Ok(Answer::Json(json!({ "data": data })))
        }
        (&Method::GET, ["fields", c]) => {
            let c = store.collections.get(*c).ok_or_else(ApiError::forbidden)?;
            Ok(Answer::Json(json!({ "data": fields_json(c) })))
        }
        (&Method::GET, ["fields", c, f]) => {
            let c = store.collections.get(*c).ok_or_else(ApiError::forbidden)?;
            let field = fields_json(c).into_iter().find(|x| x["field"] == *f);
            Ok(Answer::Json(
                json!({ "data": field.ok_or_else(ApiError::forbidden)? }),
            ))
        }
        (&Method::POST, ["fields", c]) => {
            let c = store
                .collections
                .get_mut(*c)
                .ok_or_else(ApiError::forbidden)?;
            let f = Field::from_spec(&body(req)?)?;
            let name = f.name.clone();
            c.add_field(f)?;
            let field = fields_json(c).into_iter().find(|x| x["field"] == name);
            Ok(Answer::Json(json!({ "data": field })))
        }
        (_, ["items", c, rest @ ..]) if rest.len() <= 1 => {
            // Items (https://docs.directus.io/reference/items.html). Directus'
            // own collections are read through their own endpoints: FORBIDDEN here.
            if c.starts_with("directus_") {
                return Err(ApiError::forbidden());
            }
            items(store, req, ctx, c, rest.first().copied())
        }
        // Activity (https://docs.directus.io/reference/system/activity.html):
        // "List Activity Actions" with the global query parameters, and
        // "Retrieve an Activity Action".
        (&Method::GET, ["activity"]) => Ok(Answer::Json(read_activity(
            &store.activity,
            &q()?,
            ctx.now,
        )?)),
        (&Method::GET, ["activity", id]) => {
            let id: usize = id.parse().map_err(|_| ApiError::forbidden())?;
            let mut one = q()?;
            one.filter = Some(json!({"id": {"_eq": id}}));
            let data = read_activity(&store.activity, &one, ctx.now)?["data"][0].take();
            match data {
                Value::Null => Err(ApiError::forbidden()),
                item => Ok(Answer::Json(json!({ "data": item }))),
            }
        }
        // Anything else: 404 ROUTE_NOT_FOUND, "Endpoint does not exist" (Error Codes).
        _ => Err(ApiError::route_not_found(req.path)),
    }
}

fn fields_json(c: &Collection) -> Vec<Value> {
    c.fields
        .iter()
        .enumerate()
        .map(|(i, f)| f.to_json(&c.name, i + 1))
        .collect()
}

/// List Collections (https://docs.directus.io/reference/system/collections.html#list-collections):
/// Directus' own collections, then the project's (folders included, with
/// `schema: null`); `fields` keeps the named keys.
fn list_collections(store: &Store, q: &Params) -> Result<Answer, ApiError> {
    let all = SYSTEM_COLLECTIONS
        .iter()
        .map(|n| system_collection(n))
        .chain(store.collections.values().map(Collection::to_json));
    let data: Vec<Value> = all.map(|c| project(&c, &q.fields)).collect();
    Ok(Answer::Json(json!({ "data": data })))
}

/// Retrieve a Collection (https://docs.directus.io/reference/system/collections.html#retrieve-a-collection).
fn get_collection(store: &Store, name: &str, q: &Params) -> Result<Answer, ApiError> {
    let c = match store.collections.get(name) {
        Some(c) => c.to_json(),
        None if SYSTEM_COLLECTIONS.contains(&name) => system_collection(name),
        None => return Err(ApiError::forbidden()),
    };
    Ok(Answer::Json(json!({ "data": project(&c, &q.fields) })))
}

/// The primary key Directus adds to a collection created without one.
pub(crate) fn default_key() -> Value {
    json!({"field": "id", "type": "integer",
           "meta": {"hidden": true, "interface": "input", "readonly": true},
           "schema": {"is_primary_key": true, "has_auto_increment": true}})
}

/// Create a Collection (https://docs.directus.io/reference/system/collections.html#create-a-collection):
/// `{collection, meta, schema, fields}`; `schema: null` (or none) makes a
/// folder; a table without a primary key field gets an auto-increment `id`.
pub(crate) fn create_collection(store: &mut Store, body: &Value) -> Result<Answer, ApiError> {
    let name = body["collection"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_payload("\"collection\" is required"))?;
    if name.starts_with("directus_") {
        return Err(ApiError::invalid_payload(
            "Collections can't start with \"directus_\"",
        ));
    }
    if store.collections.contains_key(name) {
        return Err(ApiError::invalid_payload(format!(
            "Collection \"{name}\" already exists"
        )));
    }
    let table = body["schema"].is_object();
    let mut specs: Vec<Value> = body["fields"].as_array().cloned().unwrap_or_default();
    if table && !specs.iter().any(|f| f["schema"]["is_primary_key"] == true) {
        specs.insert(0, default_key());
    }
    let fields = specs
        .iter()
        .map(Field::from_spec)
        .collect::<Result<Vec<_>, _>>()?;
    let c = Collection::new(name, body["meta"].clone(), table, fields)?;
    let data = c.to_json();
    store.collections.insert(name.to_string(), c);
    Ok(Answer::Json(json!({ "data": data })))
}

fn key(c: &Collection, text: &str) -> Result<Key, ApiError> {
    // validateKeys: a key that cannot be the key field's type is forbidden.
    Key::parse(c.pk_kind(), text).ok_or_else(ApiError::forbidden)
}

fn keys_of(c: &Collection, v: &Value) -> Result<Vec<Key>, ApiError> {
    let list = v
        .as_array()
        .ok_or_else(|| ApiError::invalid_payload("\"keys\" has to be an array"))?;
    list.iter()
        .map(|k| Key::from_json(c.pk_kind(), k).ok_or_else(ApiError::forbidden))
        .collect()
}

/// The keys of the items a `{"query": ...}` body selects.
fn keys_by_query(c: &Collection, query: &Value, ctx: &Ctx) -> Result<Vec<Key>, ApiError> {
    let map = query.as_object().cloned().unwrap_or_default();
    let mut q = Params::from_map(&map)?;
    q.fields = Some(vec![c.fields[c.pk].name.clone()]);
    let found = read_items(c, &q, ctx.now)?;
    Ok(found["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| Key::from_json(c.pk_kind(), &i[c.fields[c.pk].name.as_str()]))
        .collect())
}

fn log(store: &mut Store, name: &str, action: Action, keys: &[Key], ctx: &Ctx, agent: &str) {
    if store
        .collections
        .get(name)
        .is_some_and(Collection::logs_activity)
    {
        for k in keys {
            store
                .activity
                .log(action, name, k, ctx.now, ctx.user, agent);
        }
    }
}

/// The items endpoints (https://docs.directus.io/reference/items.html).
fn items(
    store: &mut Store,
    req: &Req,
    ctx: &Ctx,
    name: &str,
    id: Option<&str>,
) -> Result<Answer, ApiError> {
    let q = Params::parse(req.query)?;
    let c = store.collection(name).ok_or_else(ApiError::forbidden)?;
    let (m, agent) = (req.method, req.agent);
    match (m, id) {
        // Get Items: `{"data": [...]}` (and `meta` when asked for).
        (&Method::GET, None) => Ok(Answer::Json(read_items(c, &q, ctx.now)?)),
        // Get Item by ID: an item that does not exist is FORBIDDEN.
        (&Method::GET, Some(id)) => {
            let k = key(c, id)?;
            let item = read_keys(c, &[k], &q, ctx.now)?
                .pop()
                .ok_or_else(ApiError::forbidden)?;
            Ok(Answer::Json(json!({ "data": item })))
        }
        // Create an Item / Create Multiple Items: an object answers the item,
        // an array the items, read back as `readMany` reads them: in the
        // collection's default order, not the order they were sent in.
        (&Method::POST, None) => {
            let body = body(req)?;
            let payloads: Vec<&Value> = match &body {
                Value::Array(items) => items.iter().collect(),
                one => vec![one],
            };
            let keys = store
                .collection_mut(name)
                .expect("checked")
                .create_many(&payloads, ctx)?;
            log(store, name, Action::Create, &keys, ctx, agent);
            let c = store.collection(name).expect("checked");
            let mut data = read_keys(c, &keys, &q, ctx.now)?;
            Ok(Answer::Json(match body {
                Value::Array(_) => json!({ "data": data }),
                _ => json!({ "data": data.pop() }),
            }))
        }
        // Update an Item: the item as updated; an item that does not exist
        // (an admin may update any key) is 204 and nothing changes.
        (&Method::PATCH, Some(id)) => {
            let k = key(c, id)?;
            let changes = c.check_update(&k, &body(req)?, ctx)?;
            if !store
                .collection_mut(name)
                .expect("checked")
                .apply_update(&k, &changes, ctx)?
            {
                return Ok(Answer::NoContent);
            }
            log(
                store,
                name,
                Action::Update,
                std::slice::from_ref(&k),
                ctx,
                agent,
            );
            let c = store.collection(name).expect("checked");
            match read_keys(c, &[k], &q, ctx.now)?.pop() {
                Some(item) => Ok(Answer::Json(json!({ "data": item }))),
                None => Ok(Answer::NoContent),
            }
        }
        // Update Multiple Items: an array of items with their keys,
        // `{"keys": [...], "data": {...}}`, or `{"query": {...}, "data": {...}}`.
        (&Method::PATCH, None) => {
            let body = body(req)?;
            let mut work: Vec<(Key, Vec<(usize, Value)>)> = Vec::new();
            let pk_name = c.fields[c.pk].name.clone();
            if let Value::Array(list) = &body {
                for item in list {
                    let k =
                        Key::from_json(c.pk_kind(), &item[pk_name.as_str()]).ok_or_else(|| {
                            ApiError::invalid_payload(format!(
                                "Item in update misses primary key \"{pk_name}\""
                            ))
                        })?;
                    work.push((k.clone(), c.check_update(&k, item, ctx)?));
                }
            } else {
                let keys = if body.get("keys").is_some() {
                    keys_of(c, &body["keys"])?
                } else if body.get("query").is_some() {
                    keys_by_query(c, &body["query"], ctx)?
                } else {
                    return Err(ApiError::invalid_payload(
                        "Either \"keys\" or \"query\" is required",
                    ));
                };
                for k in keys {
                    let changes = c.check_update(&k, &body["data"], ctx)?;
                    work.push((k, changes));
                }
            }
            let coll = store.collection_mut(name).expect("checked");
            let mut done = Vec::new();
            for (k, changes) in work {
                if coll.apply_update(&k, &changes, ctx)? {
                    done.push(k);
                }
            }
            log(store, name, Action::Update, &done, ctx, agent);
            let c = store.collection(name).expect("checked");
            Ok(Answer::Json(
                json!({ "data": read_keys(c, &done, &q, ctx.now)? }),
            ))
        }
        // Delete an Item: 204, whether or not the item existed.
        (&Method::DELETE, Some(id)) => {
            let k = key(c, id)?;
            store.collection_mut(name).expect("checked").delete(&k);
            log(store, name, Action::Delete, &[k], ctx, agent);
            Ok(Answer::NoContent)
        }
        // Delete Multiple Items: an array of keys, `{"keys": [...]}` or `{"query": {...}}`.
        (&Method::DELETE, None) => {
            let body = body(req)?;
            let keys = match &body {
                Value::Array(_) => keys_of(c, &body)?,
                _ if body.get("keys").is_some() => keys_of(c, &body["keys"])?,
                _ if body.get("query").is_some() => keys_by_query(c, &body["query"], ctx)?,
                _ => {
                    return Err(ApiError::invalid_payload(
                        "Either \"keys\" or \"query\" is required",
                    ))
                }
            };
            let coll = store.collection_mut(name).expect("checked");
            for k in &keys {
                coll.delete(k);
            }
            log(store, name, Action::Delete, &keys, ctx, agent);
            Ok(Answer::NoContent)
        }
        _ => Err(ApiError::route_not_found(req.path)),
    }
}
