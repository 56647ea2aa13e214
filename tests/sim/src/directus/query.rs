//! Global query parameters (https://docs.directus.io/reference/query.html):
//! `fields`, `filter`, `search`, `sort`, `limit`, `offset`, `page`, `meta`.
//!
//! The query string is read as Directus (Express with `qs`) reads it: a
//! parameter is a plain value (`filter={"id":{"_gt":3}}` as JSON,
//! `sort=-id,name`, `fields=id,name`) or bracketed (`filter[id][_gt]=3`,
//! `fields[]=id`, `sort[]=-id`). Values are then checked as
//! `validateQuery` checks them: `limit` an integer of at least -1 (-1: no
//! limit), `offset` and `page` integers of at least 0, `meta` among
//! `total_count`/`filter_count` (or `*`).

use super::error::ApiError;
use crate::parse::pct_decode;
use serde_json::{json, Map, Value};

/// Items per page when `limit` is not given (`QUERY_LIMIT_DEFAULT`).
pub(crate) const DEFAULT_LIMIT: usize = 100;

#[derive(Clone, Debug, Default)]
pub(crate) struct Params {
    pub fields: Option<Vec<String>>,
    pub filter: Option<Value>,
    pub search: Option<String>,
    pub sort: Option<Vec<String>>,
    /// None: the default (100); Some(None): no limit (`-1`)
    pub limit: Option<Option<usize>>,
    pub offset: Option<usize>,
    pub page: Option<usize>,
    pub total_count: bool,
    pub filter_count: bool,
}

/// The query string as `qs` parses it: bracketed keys nest, `[]` appends,
/// objects keyed 0, 1, 2... are arrays.
pub(crate) fn qs(query: &str) -> Map<String, Value> {
    let mut root = Value::Object(Map::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (pct_decode(k, true), pct_decode(v, true));
        let (head, rest) = match k.find('[') {
            Some(i) if k.ends_with(']') => (&k[..i], &k[i + 1..k.len() - 1]),
            _ => (k.as_str(), ""),
        };
        let mut path = vec![head.to_string()];
        if k.len() > head.len() {
            path.extend(rest.split("][").map(String::from));
        }
        insert(&mut root, &path, Value::String(v));
    }
    match arrays(root) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn insert(node: &mut Value, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *node = value;
        return;
    };
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    let map = node.as_object_mut().expect("an object");
    let key = if first.is_empty() {
        map.len().to_string()
    } else {
        first.clone()
    };
    let child = map.entry(key).or_insert(Value::Null);
    if rest.is_empty() {
        *child = value;
    } else {
        insert(child, rest, value);
    }
}

fn arrays(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let numeric = !m.is_empty() && m.keys().all(|k| k.parse::<usize>().is_ok());
            if numeric {
                let mut items: Vec<(usize, Value)> = m
                    .into_iter()
                    .map(|(k, v)| (k.parse().unwrap_or(0), arrays(v)))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(m.into_iter().map(|(k, v)| (k, arrays(v))).collect())
            }
        }
        other => other,
    }
}

/// `fields`/`sort` values: comma-separated, or an array of them.
fn list(v: &Value) -> Vec<String> {
    let parts: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    parts
        .iter()
        .flat_map(|p| p.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A number as JavaScript's `Number()` reads a query value, checked as Joi
/// checks an integer with a minimum.
fn integer(raw: &Value, name: &str, min: i64) -> Result<i64, ApiError> {
    let s = raw.as_str().unwrap_or_default().trim();
    let n: f64 = match raw {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        _ if s.is_empty() => 0.0,
        _ => s.parse().unwrap_or(f64::NAN),
    };
    if n.is_nan() {
        return Err(ApiError::invalid_query(format!(
            "\"{name}\" must be a number"
        )));
    }
    if n.fract() != 0.0 {
        return Err(ApiError::invalid_query(format!(
            "\"{name}\" must be an integer"
        )));
    }
    if n < min as f64 {
        return Err(ApiError::invalid_query(format!(
            "\"{name}\" must be greater than or equal to {min}"
        )));
    }
    Ok(n as i64)
}

impl Params {
    /// Reads the query string of a request.
    pub fn parse(query: &str) -> Result<Params, ApiError> {
        Self::from_map(&qs(query))
    }

    pub fn from_map(q: &Map<String, Value>) -> Result<Params, ApiError> {
        let mut p = Params::default();
        for unsupported in ["aggregate", "groupBy", "deep", "alias", "export", "version"] {
            if q.contains_key(unsupported) {
                return Err(ApiError::invalid_query(format!(
                    "\"{unsupported}\" is not supported by the simulator"
                )));
            }
        }
        if let Some(v) = q.get("fields") {
            p.fields = Some(list(v));
        }
        if let Some(v) = q.get("sort") {
            p.sort = Some(list(v));
        }
        match q.get("filter") {
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => {
                let v: Value = serde_json::from_str(s)
                    .map_err(|_| ApiError::invalid_query("Invalid JSON for filter object"))?;
                if !v.is_object() {
                    return Err(ApiError::invalid_query("Invalid filter object"));
                }
                p.filter = Some(v);
            }
            Some(v @ Value::Object(_)) => p.filter = Some(v.clone()),
            Some(_) => return Err(ApiError::invalid_query("Invalid filter object")),
            None => {}
        }
        if let Some(Value::String(s)) = q.get("search") {
            p.search = Some(s.clone()).filter(|s| !s.is_empty());
        }
        if let Some(v) = q.get("limit") {
            let n = integer(v, "limit", -1)?;
            p.limit = Some((n >= 0).then_some(n as usize));
        }
        if let Some(v) = q.get("offset") {
            p.offset = Some(integer(v, "offset", 0)? as usize);
        }
        if let Some(v) = q.get("page") {
            p.page = Some(integer(v, "page", 0)? as usize).filter(|n| *n > 0);
        }
        if let Some(v) = q.get("meta") {
            let names = match v.as_str() {
                Some("*") => vec!["total_count".to_string(), "filter_count".to_string()],
                _ => list(v),
            };
            for (i, name) in names.iter().enumerate() {
                match name.as_str() {
                    "total_count" => p.total_count = true,
                    "filter_count" => p.filter_count = true,
                    _ => {
                        return Err(ApiError::invalid_query(format!(
                            "\"meta[{i}]\" must be one of [total_count, filter_count]"
                        )))
                    }
                }
            }
        }
        Ok(p)
    }

    /// The page asked for: (offset, limit). `page` is `limit * (page - 1)`
    /// items in, as in `applyQuery`; without a limit it is ignored.
    pub fn window(&self) -> (usize, Option<usize>) {
        let limit = self.limit.unwrap_or(Some(DEFAULT_LIMIT));
        let offset = match (self.page, limit) {
            (Some(page), Some(l)) => l * (page - 1),
            _ => self.offset.unwrap_or(0),
        };
        (offset, limit)
    }

    /// The `meta` object asked for, if any.
    pub fn meta(&self, total: usize, filtered: Option<usize>) -> Option<Value> {
        if !self.total_count && !self.filter_count {
            return None;
        }
        let mut m = Map::new();
        if self.total_count {
            m.insert("total_count".into(), json!(total));
        }
        if self.filter_count {
            m.insert("filter_count".into(), json!(filtered.unwrap_or(total)));
        }
        Some(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_nest_and_json_filters_parse() {
        let q = qs(
            "filter[id][_gt]=5&filter[_or][0][a][_eq]=x&fields[]=id&fields[]=name&sort=-id,name",
        );
        assert_eq!(
            q["filter"],
            json!({"id": {"_gt": "5"}, "_or": [{"a": {"_eq": "x"}}]})
        );
        let p = Params::from_map(&q).unwrap();
        assert_eq!(p.fields.unwrap(), ["id", "name"]);
        assert_eq!(p.sort.unwrap(), ["-id", "name"]);
        let p = Params::parse("filter=%7B%22id%22%3A%7B%22_gt%22%3A3%7D%7D&limit=-1").unwrap();
        assert_eq!(p.filter.clone().unwrap(), json!({"id": {"_gt": 3}}));
        assert_eq!(p.window(), (0, None));
    }

    #[test]
    fn limits_offsets_pages_and_meta_are_checked() {
        assert_eq!(Params::parse("").unwrap().window(), (0, Some(100)));
        assert_eq!(
            Params::parse("limit=10&page=3").unwrap().window(),
            (20, Some(10))
        );
        assert_eq!(
            Params::parse("limit=10&offset=4").unwrap().window(),
            (4, Some(10))
        );
        for (q, why) in [
            ("limit=abc", "\"limit\" must be a number"),
            ("limit=-2", "\"limit\" must be greater than or equal to -1"),
            ("offset=1.5", "\"offset\" must be an integer"),
            (
                "meta=nope",
                "\"meta[0]\" must be one of [total_count, filter_count]",
            ),
            ("filter={bad", "Invalid JSON for filter object"),
        ] {
            let e = Params::parse(q).unwrap_err();
            assert_eq!(e.code(), "INVALID_QUERY");
            assert_eq!(e.message(), format!("Invalid query. {why}."));
        }
        let p = Params::parse("meta=*").unwrap();
        assert_eq!(
            p.meta(5, Some(2)),
            Some(json!({"total_count": 5, "filter_count": 2}))
        );
    }
}
