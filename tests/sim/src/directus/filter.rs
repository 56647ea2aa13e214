//! Filter rules (https://docs.directus.io/reference/filter-rules.html) and
//! sorting (https://docs.directus.io/reference/query.html#sort): compiled
//! against a collection's fields, evaluated on stored rows, and read by the
//! planner for the bounds that turn a page into a range query.
//!
//! A filter is `{field: {operator: value}}`; `_and`/`_or` take arrays of
//! filters, several keys of one object all apply. Operators: `_eq`, `_neq`,
//! `_lt`, `_lte`, `_gt`, `_gte`, `_in`, `_nin`, `_null`, `_nnull`,
//! `_contains`, `_ncontains`, `_icontains`, `_nicontains`, `_starts_with`,
//! `_nstarts_with`, `_istarts_with`, `_nistarts_with`, `_ends_with`,
//! `_nends_with`, `_iends_with`, `_niends_with`, `_between`, `_nbetween`,
//! `_empty`, `_nempty`. Values are compared as the database compares the
//! column's type (numbers as numbers, times as times) and, as in SQL, a
//! comparison with a null value is false. String values `"true"`, `"false"`,
//! `"null"` and the dynamic variable `$NOW` (with an adjustment, `$NOW(-1
//! day)`) are read as `parseFilter` reads them, and a list operator takes a
//! comma-separated string as well as an array.

use super::error::ApiError;
use super::model::{cast, fmt_ts, ts_millis, Field, Key, Kind};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::ops::Bound;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
    Nin,
    /// `_null` (true) / `_nnull` (false), after their boolean is applied
    Null(bool),
    /// `_empty` (true) / `_nempty` (false)
    Empty(bool),
    /// text match: (where, negated, case-insensitive)
    Text(Place, bool, bool),
    Between(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    Anywhere,
    Start,
    End,
}

#[derive(Clone, Debug)]
pub(crate) enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Leaf {
        field: usize,
        op: Op,
        arg: Vec<Value>,
    },
}

fn op_of(name: &str) -> Option<Op> {
    use Place::*;
    Some(match name {
        "_eq" => Op::Eq,
        "_neq" => Op::Neq,
        "_lt" => Op::Lt,
        "_lte" => Op::Lte,
        "_gt" => Op::Gt,
        "_gte" => Op::Gte,
        "_in" => Op::In,
        "_nin" => Op::Nin,
        "_null" => Op::Null(true),
        "_nnull" => Op::Null(false),
        "_empty" => Op::Empty(true),
        "_nempty" => Op::Empty(false),
        "_contains" => Op::Text(Anywhere, false, false),
        "_ncontains" => Op::Text(Anywhere, true, false),
        "_icontains" => Op::Text(Anywhere, false, true),
        "_nicontains" => Op::Text(Anywhere, true, true),
        "_starts_with" => Op::Text(Start, false, false),
        "_nstarts_with" => Op::Text(Start, true, false),
        "_istarts_with" => Op::Text(Start, false, true),
        "_nistarts_with" => Op::Text(Start, true, true),
        "_ends_with" => Op::Text(End, false, false),
        "_nends_with" => Op::Text(End, true, false),
        "_iends_with" => Op::Text(End, false, true),
        "_niends_with" => Op::Text(End, true, true),
        "_between" => Op::Between(false),
        "_nbetween" => Op::Between(true),
        _ => return None,
    })
}

/// `$NOW`, `$NOW(-1 day)`, `$NOW(+2 hours)`.
fn now_variable(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let rest = s.strip_prefix("$NOW")?;
    if rest.is_empty() {
        return Some(now);
    }
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?.trim();
    let (n, unit) = inner.split_once(' ')?;
    let n: i64 = n.trim_start_matches('+').parse().ok()?;
    let unit = unit.trim().trim_end_matches('s');
    let d = match unit {
        "second" => Duration::seconds(n),
        "minute" => Duration::minutes(n),
        "hour" => Duration::hours(n),
        "day" => Duration::days(n),
        "week" => Duration::weeks(n),
        "month" => Duration::days(30 * n),
        "year" => Duration::days(365 * n),
        _ => return None,
    };
    Some(now + d)
}

/// A filter value as `parseFilter` reads it.
fn parse_value(v: &Value, now: DateTime<Utc>) -> Value {
    match v.as_str() {
        Some("true") => json!(true),
        Some("false") => json!(false),
        Some("null" | "NULL") => Value::Null,
        Some(s) if s.starts_with("$NOW") => {
            now_variable(s, now).map_or(v.clone(), |t| json!(fmt_ts(t)))
        }
        _ => v.clone(),
    }
}

/// A comparison operand in the canonical form of the field's stored values;
/// what the column cannot hold stays as it is (and so compares unequal).
fn coerce(kind: Kind, v: &Value) -> Value {
    match (kind, v) {
        (
            Kind::String | Kind::Text | Kind::Hash | Kind::Uuid | Kind::Csv,
            Value::Number(_) | Value::Bool(_),
        ) => {
            json!(v.to_string())
        }
        (Kind::Json | Kind::Other | Kind::Alias, _) => v.clone(),
        _ => cast(kind, v).unwrap_or_else(|_| v.clone()),
    }
}

fn primitive(v: &Value, op: &str) -> Result<(), ApiError> {
    match v {
        Value::String(s) if s.is_empty() => Err(ApiError::invalid_query(format!(
            "You can't filter for an empty string in \"{op}\". Use \"_empty\" or \"_nempty\" instead"
        ))),
        Value::Null | Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
        _ => Err(ApiError::invalid_query(format!(
            "The filter value for \"{op}\" has to be a string, number, or boolean"
        ))),
    }
}

/// Compiles filter `raw` against `fields` of `collection`.
pub(crate) fn compile(
    raw: &Value,
    fields: &[Field],
    collection: &str,
    now: DateTime<Utc>,
) -> Result<Filter, ApiError> {
    let Value::Object(map) = raw else {
        return Err(ApiError::invalid_query("Invalid filter object"));
    };
    let mut all = Vec::new();
    for (key, value) in map {
        match key.as_str() {
            "_and" | "_or" => {
                let Value::Array(parts) = value else {
                    return Err(ApiError::invalid_query(format!(
                        "\"{key}\" has to be an array"
                    )));
                };
                let parts = parts
                    .iter()
                    .map(|p| compile(p, fields, collection, now))
                    .collect::<Result<Vec<_>, _>>()?;
                all.push(if key == "_and" {
                    Filter::All(parts)
                } else {
                    Filter::Any(parts)
                });
            }
            k if k.starts_with('_') => {
                return Err(ApiError::invalid_query(format!(
                    "Invalid filter key \"{k}\""
                )))
            }
            name => {
                let Some(idx) = fields
                    .iter()
                    .position(|f| f.name == name && f.kind != Kind::Alias)
                else {
                    return Err(ApiError::no_such_field(collection, name));
                };
                let kind = fields[idx].kind;
                let ops = match value {
                    Value::Object(ops) => ops.iter().map(|(k, v)| (k.as_str(), v)).collect(),
                    other => vec![("_eq", other)],
                };
                for (name, v) in ops {
                    let op = op_of(name).ok_or_else(|| {
                        ApiError::invalid_query(format!(
                            "\"{name}\" is not a supported filter operator"
                        ))
                    })?;
                    all.push(Filter::Leaf {
                        field: idx,
                        op,
                        arg: operand(kind, op, name, v, now)?,
                    });
                }
            }
        }
    }
    Ok(if all.len() == 1 {
        all.pop().unwrap()
    } else {
        Filter::All(all)
    })
}

fn operand(
    kind: Kind,
    op: Op,
    name: &str,
    v: &Value,
    now: DateTime<Utc>,
) -> Result<Vec<Value>, ApiError> {
    match op {
        Op::In | Op::Nin | Op::Between(_) => {
            let list: Vec<Value> = match v {
                Value::String(s) => s.split(',').map(|p| json!(p)).collect(),
                Value::Array(a) => a.clone(),
                _ => vec![],
            };
            let wanted = if matches!(op, Op::Between(_)) {
                list.len() == 2
            } else {
                !list.is_empty()
            };
            if !wanted {
                return Err(ApiError::invalid_query(format!(
                    "\"{name}\" has to be an array of values"
                )));
            }
            Ok(list
                .iter()
                .map(|x| coerce(kind, &parse_value(x, now)))
                .collect())
        }
        Op::Null(_) | Op::Empty(_) => match parse_value(v, now) {
            Value::Bool(b) => Ok(vec![json!(b)]),
            Value::Null => Ok(vec![json!(true)]),
            Value::String(s) if s.is_empty() => Ok(vec![json!(true)]),
            _ => Err(ApiError::invalid_query(format!(
                "\"{name}\" has to be a boolean"
            ))),
        },
        Op::Text(..) => {
            primitive(v, name)?;
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Ok(vec![json!(s)])
        }
        _ => {
            primitive(v, name)?;
            Ok(vec![coerce(kind, &parse_value(v, now))])
        }
    }
}

/// Directus' search (https://docs.directus.io/reference/query.html#search):
/// text fields contain the term (any case), number fields equal it when it
/// is a number, uuid fields equal it when it is a UUID.
pub(crate) fn search(fields: &[Field], term: &str) -> Filter {
    let mut any = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let arg = match f.kind {
            Kind::String | Kind::Text | Kind::Csv => {
                any.push(Filter::Leaf {
                    field: i,
                    op: Op::Text(Place::Anywhere, false, true),
                    arg: vec![json!(term)],
                });
                continue;
            }
            k if k.numeric() => cast(k, &json!(term)).ok(),
            Kind::Uuid => cast(Kind::Uuid, &json!(term)).ok(),
            _ => None,
        };
        if let Some(arg) = arg {
            any.push(Filter::Leaf {
                field: i,
                op: Op::Eq,
                arg: vec![arg],
            });
        }
    }
    Filter::Any(any)
}

/// A total order over stored values: null, booleans, numbers, strings, the rest.
pub(crate) fn cmp_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal),
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ if rank(a) != rank(b) => rank(a).cmp(&rank(b)),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Filter {
    /// Whether `row` (values by field index) passes.
    pub fn matches(&self, row: &[Value]) -> bool {
        match self {
            Filter::All(parts) => parts.iter().all(|p| p.matches(row)),
            Filter::Any(parts) => parts.iter().any(|p| p.matches(row)),
            Filter::Leaf { field, op, arg } => {
                leaf(row.get(*field).unwrap_or(&Value::Null), *op, arg)
            }
        }
    }

    /// The filters every match passes (the top-level `_and`).
    fn conjuncts(&self) -> Vec<&Filter> {
        match self {
            Filter::All(parts) => parts.iter().flat_map(Filter::conjuncts).collect(),
            other => vec![other],
        }
    }

    /// The primary key range (and key set, for `_eq`/`_in`) that holds every
    /// match: what turns keyset pagination into a range query.
    pub fn key_scan(&self, pk: usize, kind: Kind) -> KeyScan {
        let mut scan = KeyScan::default();
        for c in self.conjuncts() {
            let Filter::Leaf { field, op, arg } = c else {
                continue;
            };
            if *field != pk {
                continue;
            }
            let keys: Vec<Key> = arg.iter().filter_map(|v| Key::from_json(kind, v)).collect();
            if keys.len() != arg.len() {
                continue;
            }
            match (op, keys.as_slice()) {
                (Op::Eq | Op::In, _) => {
                    let mut keys = keys;
                    if let Some(old) = &scan.set {
                        keys.retain(|k| old.contains(k));
                    }
                    scan.set = Some(keys);
                }
                (Op::Gt, [k]) => scan.lower(Bound::Excluded(k.clone())),
                (Op::Gte, [k]) => scan.lower(Bound::Included(k.clone())),
                (Op::Lt, [k]) => scan.upper(Bound::Excluded(k.clone())),
                (Op::Lte, [k]) => scan.upper(Bound::Included(k.clone())),
                (Op::Between(false), [a, b]) => {
                    scan.lower(Bound::Included(a.clone()));
                    scan.upper(Bound::Included(b.clone()));
                }
                _ => {}
            }
        }
        if let Some(set) = &mut scan.set {
            set.sort();
            set.dedup();
            let (lo, hi) = (scan.lo.clone(), scan.hi.clone());
            set.retain(|k| (lo.as_ref(), hi.as_ref()).contains(k));
        }
        scan
    }

    /// The value a top-level `{field: {_eq: v}}` asks for.
    pub fn eq_hint(&self, field: usize) -> Option<&Value> {
        self.conjuncts().into_iter().find_map(|c| match c {
            Filter::Leaf {
                field: f,
                op: Op::Eq,
                arg,
            } if *f == field => arg.first(),
            _ => None,
        })
    }

    /// For a top-level conjunct that is a lower bound on indexed time
    /// fields (`{f: {_gte: t}}`, or an `_or` of such): (field, millis,
    /// inclusive) for each; every match is in one of those index ranges.
    pub fn time_ranges(&self, indexed: &[usize]) -> Option<Vec<(usize, i64, bool)>> {
        let bound = |f: &Filter| match f {
            Filter::Leaf {
                field,
                op: op @ (Op::Gt | Op::Gte),
                arg,
            } if indexed.contains(field) => {
                Some((*field, ts_millis(arg.first()?)?, *op == Op::Gte))
            }
            _ => None,
        };
        self.conjuncts().into_iter().find_map(|c| match c {
            Filter::Any(parts) if !parts.is_empty() => parts.iter().map(bound).collect(),
            other => bound(other).map(|b| vec![b]),
        })
    }
}

fn leaf(v: &Value, op: Op, arg: &[Value]) -> bool {
    let a = arg.first().unwrap_or(&Value::Null);
    let cmp = || cmp_values(v, a);
    match op {
        Op::Null(want) => v.is_null() == want,
        Op::Empty(want) => {
            let empty = match v {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(x) => x.is_empty(),
                _ => false,
            };
            empty == want
        }
        Op::Eq if a.is_null() => v.is_null(),
        Op::Neq if a.is_null() => !v.is_null(),
        _ if v.is_null() => false,
        Op::Eq => cmp() == Ordering::Equal,
        Op::Neq => cmp() != Ordering::Equal,
        _ if a.is_null() => false,
        Op::Lt => cmp() == Ordering::Less,
        Op::Lte => cmp() != Ordering::Greater,
        Op::Gt => cmp() == Ordering::Greater,
        Op::Gte => cmp() != Ordering::Less,
        Op::In => arg.iter().any(|x| cmp_values(v, x) == Ordering::Equal),
        Op::Nin => !arg.iter().any(|x| cmp_values(v, x) == Ordering::Equal),
        Op::Between(neg) => {
            let inside = cmp_values(v, &arg[0]) != Ordering::Less
                && cmp_values(v, &arg[1]) != Ordering::Greater;
            inside != neg
        }
        Op::Text(place, neg, ci) => {
            let (mut hay, mut needle) = (text(v), text(a));
            if ci {
                hay = hay.to_lowercase();
                needle = needle.to_lowercase();
            }
            let found = match place {
                Place::Anywhere => hay.contains(&needle),
                Place::Start => hay.starts_with(&needle),
                Place::End => hay.ends_with(&needle),
            };
            found != neg
        }
    }
}

/// Where the matches of a filter lie in primary key order.
#[derive(Clone, Debug)]
pub(crate) struct KeyScan {
    pub lo: Bound<Key>,
    pub hi: Bound<Key>,
    /// only these keys can match (`_eq`, `_in`), sorted
    pub set: Option<Vec<Key>>,
}

impl Default for KeyScan {
    fn default() -> Self {
        KeyScan {
            lo: Bound::Unbounded,
            hi: Bound::Unbounded,
            set: None,
        }
    }
}

impl KeyScan {
    fn lower(&mut self, b: Bound<Key>) {
        let tighter = match (&self.lo, &b) {
            (Bound::Unbounded, _) => true,
            (_, Bound::Unbounded) => false,
            (Bound::Included(o) | Bound::Excluded(o), Bound::Included(n)) => n > o,
            (Bound::Included(o) | Bound::Excluded(o), Bound::Excluded(n)) => n >= o,
        };
        if tighter {
            self.lo = b;
        }
    }

    fn upper(&mut self, b: Bound<Key>) {
        let tighter = match (&self.hi, &b) {
            (Bound::Unbounded, _) => true,
            (_, Bound::Unbounded) => false,
            (Bound::Included(o) | Bound::Excluded(o), Bound::Included(n)) => n < o,
            (Bound::Included(o) | Bound::Excluded(o), Bound::Excluded(n)) => n <= o,
        };
        if tighter {
            self.hi = b;
        }
    }

    /// Whether the range holds any key: `BTreeMap::range` panics on one
    /// that is inverted or empty.
    pub fn is_empty_range(&self) -> bool {
        match (&self.lo, &self.hi) {
            (Bound::Included(a), Bound::Included(b)) => a > b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
            | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
            _ => false,
        }
    }
}

use std::ops::RangeBounds;

/// Compiles `sort` (`field` ascending, `-field` descending).
pub(crate) fn compile_sort(
    raw: &[String],
    fields: &[Field],
    collection: &str,
) -> Result<Vec<(usize, bool)>, ApiError> {
    raw.iter()
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (name, desc) = match s.strip_prefix('-') {
                Some(n) => (n, true),
                None => (s.as_str(), false),
            };
            fields
                .iter()
                .position(|f| f.name == name && f.kind != Kind::Alias)
                .map(|i| (i, desc))
                .ok_or_else(|| ApiError::no_such_field(collection, name))
        })
        .collect()
}

/// Rows in `order`; as in SQLite, nulls come first ascending, last descending.
pub(crate) fn compare_rows(order: &[(usize, bool)], a: &[Value], b: &[Value]) -> Ordering {
    for (i, desc) in order {
        let null = Value::Null;
        let o = cmp_values(a.get(*i).unwrap_or(&null), b.get(*i).unwrap_or(&null));
        let o = if *desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}
