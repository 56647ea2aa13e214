//! Reading items and activity by query: which rows, in what order, which
//! page, which fields (https://docs.directus.io/reference/query.html).
//!
//! The cost of a page is kept to the page where the query allows it: the
//! primary key bounds of the filter (`{"id":{"_gt":500}}`, keyset
//! pagination) are a range of the ordered items, walked in key order and
//! stopped once the page is full; a lower bound on `date_created` or
//! `date_updated` (an incremental read) is a range of their time index;
//! `_eq`/`_in` on the key are lookups. Only a sort on another field, or
//! `meta=filter_count`, reads every candidate.

use super::activity::ActivityLog;
use super::error::ApiError;
use super::filter::{compare_rows, compile, compile_sort, search, Filter};
use super::model::{Field, Key, Kind};
use super::query::Params;
use super::store::Collection;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::borrow::Borrow;
use std::ops::Bound;

/// A read, compiled against a collection's fields.
pub(crate) struct Plan {
    pub filter: Option<Filter>,
    /// (field, descending), ending with the key
    pub order: Vec<(usize, bool)>,
    /// Some(descending) when the order is the key's alone
    pub by_key: Option<bool>,
    pub offset: usize,
    pub limit: Option<usize>,
    pub count: bool,
    pub projection: Vec<usize>,
}

/// Resolves `fields` (`*` for every field with a column).
fn projection(q: &Params, fields: &[Field], collection: &str) -> Result<Vec<usize>, ApiError> {
    let names = q.fields.clone().unwrap_or_else(|| vec!["*".into()]);
    let mut out: Vec<usize> = Vec::new();
    for name in &names {
        if name == "*" {
            out.extend((0..fields.len()).filter(|i| fields[*i].kind != Kind::Alias));
            continue;
        }
        let i = fields
            .iter()
            .position(|f| &f.name == name && f.kind != Kind::Alias)
            .ok_or_else(|| ApiError::no_such_field(collection, name))?;
        out.push(i);
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|i| seen.insert(*i));
    Ok(out)
}

impl Plan {
    /// `default_sort`: the collection's sort field, else its key.
    pub fn new(
        q: &Params,
        fields: &[Field],
        pk: usize,
        default_sort: usize,
        collection: &str,
        now: DateTime<Utc>,
    ) -> Result<Plan, ApiError> {
        let mut filter = q
            .filter
            .as_ref()
            .map(|f| compile(f, fields, collection, now))
            .transpose()?;
        if let Some(term) = &q.search {
            let s = search(fields, term);
            filter = Some(match filter {
                Some(f) => Filter::All(vec![f, s]),
                None => s,
            });
        }
        let mut order = match &q.sort {
            Some(s) if !s.is_empty() => compile_sort(s, fields, collection)?,
            _ => vec![(default_sort, false)],
        };
        let by_key = match order.as_slice() {
            [(f, desc)] if *f == pk => Some(*desc),
            _ => None,
        };
        if !order.iter().any(|(f, _)| *f == pk) {
            order.push((pk, false));
        }
        let (offset, limit) = q.window();
        Ok(Plan {
            filter,
            order,
            by_key,
            offset,
            limit,
            count: q.filter_count,
            projection: projection(q, fields, collection)?,
        })
    }

    /// The page of `rows` (which come in key order, reversed when `rev`):
    /// walked and stopped when the order is the key's, else sorted whole.
    /// Also the number of matches, when `meta=filter_count` asks for it.
    pub fn run<R: Borrow<[Value]>>(
        &self,
        rows: impl Iterator<Item = R>,
        rev: bool,
    ) -> (Vec<R>, Option<usize>) {
        let pass = |r: &R| self.filter.as_ref().is_none_or(|f| f.matches(r.borrow()));
        let end = self.limit.map(|l| self.offset.saturating_add(l));
        if self.by_key == Some(rev) {
            let (mut page, mut matched) = (Vec::new(), 0usize);
            for r in rows {
                if !pass(&r) {
                    continue;
                }
                if matched >= self.offset && end.is_none_or(|e| matched < e) {
                    page.push(r);
                }
                matched += 1;
                if !self.count && end.is_some_and(|e| matched >= e) {
                    break;
                }
            }
            return (page, self.count.then_some(matched));
        }
        let mut all: Vec<R> = rows.filter(|r| pass(r)).collect();
        let total = all.len();
        all.sort_by(|a, b| compare_rows(&self.order, a.borrow(), b.borrow()));
        let page = all
            .into_iter()
            .skip(self.offset)
            .take(self.limit.unwrap_or(usize::MAX))
            .collect();
        (page, self.count.then_some(total))
    }
}

/// The most entries read from a time index before a walk in key order is
/// judged the cheaper way to the page.
fn index_cap(plan: &Plan) -> usize {
    plan.limit.map_or(usize::MAX, |l| {
        (plan.offset + l).saturating_mul(8).max(4096)
    })
}

/// The candidate rows of `plan` in `c`, in key order (reversed when `rev`).
fn candidates<'a>(
    c: &'a Collection,
    plan: &Plan,
    rev: bool,
) -> Box<dyn Iterator<Item = &'a [Value]> + 'a> {
    let Some(filter) = &plan.filter else {
        return walk(c, Bound::Unbounded, Bound::Unbounded, rev);
    };
    let scan = filter.key_scan(c.pk, c.pk_kind());
    if let Some(set) = scan.set {
        let rows: Vec<&[Value]> = set
            .iter()
            .filter_map(|k| c.items.get(k).map(|r| &r[..]))
            .collect();
        return if rev {
            Box::new(rows.into_iter().rev())
        } else {
            Box::new(rows.into_iter())
        };
    }
    if scan.is_empty_range() {
        return Box::new(std::iter::empty());
    }
    let indexed: Vec<usize> = c.time_index.iter().map(|(i, _)| *i).collect();
    if let Some(ranges) = filter.time_ranges(&indexed) {
        let cap = index_cap(plan);
        let (mut keys, mut examined): (Vec<&Key>, usize) = (Vec::new(), 0);
        let bounds = (scan.lo.as_ref(), scan.hi.as_ref());
        'ranges: for (field, ms, inclusive) in ranges {
            let Some((_, set)) = c.time_index.iter().find(|(i, _)| *i == field) else {
                continue;
            };
            let from = if inclusive { ms } else { ms.saturating_add(1) };
            for (_, k) in set.range((from, Key::Int(i64::MIN))..) {
                examined += 1;
                if examined > cap {
                    break 'ranges;
                }
                if std::ops::RangeBounds::contains(&bounds, k) {
                    keys.push(k);
                }
            }
        }
        if examined <= cap {
            keys.sort();
            keys.dedup();
            let rows: Vec<&[Value]> = keys
                .iter()
                .filter_map(|k| c.items.get(*k).map(|r| &r[..]))
                .collect();
            return if rev {
                Box::new(rows.into_iter().rev())
            } else {
                Box::new(rows.into_iter())
            };
        }
    }
    walk(c, scan.lo, scan.hi, rev)
}

fn walk<'a>(
    c: &'a Collection,
    lo: Bound<Key>,
    hi: Bound<Key>,
    rev: bool,
) -> Box<dyn Iterator<Item = &'a [Value]> + 'a> {
    let range = c.items.range((lo, hi)).map(|(_, r)| &r[..]);
    if rev {
        Box::new(range.rev())
    } else {
        Box::new(range)
    }
}

/// `GET /items/{collection}` (https://docs.directus.io/reference/items.html#get-items):
/// `{"data": [...]}`, with `meta` when asked for.
pub(crate) fn read_items(
    c: &Collection,
    q: &Params,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let default_sort = c.sort_field().unwrap_or(c.pk);
    let plan = Plan::new(q, &c.fields, c.pk, default_sort, &c.name, now)?;
    let rev = plan.by_key.unwrap_or(false);
    let (page, count) = plan.run(candidates(c, &plan, rev), rev);
    let data: Vec<Value> = page.iter().map(|r| c.render(r, &plan.projection)).collect();
    let mut out = json!({ "data": data });
    if let Some(meta) = q.meta(c.items.len(), count) {
        out["meta"] = meta;
    }
    Ok(out)
}

/// `readMany(keys, query)`: the items with `keys` that pass the query's
/// filter, in the default order (the sort field, else the key: not the
/// order of `keys`), as the answer to a create or update of several items.
pub(crate) fn read_keys(
    c: &Collection,
    keys: &[Key],
    q: &Params,
    now: DateTime<Utc>,
) -> Result<Vec<Value>, ApiError> {
    let mut q = q.clone();
    let key_filter = json!({ c.fields[c.pk].name.as_str(): { "_in": keys.iter().map(Key::json).collect::<Vec<_>>() } });
    q.filter = Some(match q.filter.take() {
        Some(f) => json!({ "_and": [key_filter, f] }),
        None => key_filter,
    });
    if q.limit.is_none() {
        q.limit = Some(Some(keys.len()));
    }
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(read_items(c, &q, now)?["data"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// `GET /activity` (https://docs.directus.io/reference/system/activity.html#list-activity-actions).
pub(crate) fn read_activity(
    log: &ActivityLog,
    q: &Params,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let fields = log.fields();
    let plan = Plan::new(q, fields, 0, 0, "directus_activity", now)?;
    let rev = plan.by_key.unwrap_or(false);
    let rows = log.scan(plan.filter.as_ref(), rev).map(|i| log.row(i));
    let (page, count) = plan.run(rows, rev);
    let data: Vec<Value> = page
        .iter()
        .map(|row| {
            let m = plan
                .projection
                .iter()
                .map(|i| (fields[*i].name.clone(), row[*i].clone()))
                .collect();
            Value::Object(m)
        })
        .collect();
    let mut out = json!({ "data": data });
    if let Some(meta) = q.meta(log.len(), count) {
        out["meta"] = meta;
    }
    Ok(out)
}
