//! List records: parameters, sorting, filtering and the offset iterators.
//!
//! List records (https://airtable.com/developers/web/api/list-records): "The
//! server returns one page of records at a time. Each page will contain pageSize
//! records, which is 100 by default. If there are more records, the response will
//! contain an offset." Offsets look like "itrSJ1l4jlPyxEG6c/recxxx" (support
//! article "API record limits", https://support.airtable.com/docs/api-record-limits)
//! and name a server-side iterator: "Iteration may timeout due to client
//! inactivity or server restarts. In that case, the client will receive a 422
//! response with error message LIST_RECORDS_ITERATOR_NOT_AVAILABLE. It may then
//! restart iteration from the beginning." (List records, offset). The docs give
//! no timeout; the simulator's is `AirtableOptions::offset_ttl`, counted from the
//! iterator's last use in simulated time.
//!
//! The iterator snapshots the ordered list of matching records when iteration
//! starts; later pages return those records' current values, skip records deleted
//! since, and never include records created since, so that no record is lost or
//! returned twice while others are edited.

use super::formula;
use super::store::{cmp_cells, new_id, ApiError, Table};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

pub(crate) struct Iter {
    pub table_id: String,
    pub seqs: Vec<u64>,
    /// Record id named in an offset -> position in `seqs`. Keeping every offset
    /// handed out lets a client retry a page with the same offset.
    pub cursors: HashMap<String, usize>,
    pub last_used: DateTime<Utc>,
}

#[derive(Default)]
pub(crate) struct ListParams {
    pub page_size: Option<usize>,
    pub max_records: Option<usize>,
    pub offset: Option<String>,
    pub formula: Option<String>,
    pub fields: Option<Vec<String>>,
    /// (field name or id, descending)
    pub sort: Vec<(String, bool)>,
    pub by_id: bool,
    pub view: Option<String>,
}

fn direction(d: Option<&str>) -> Result<bool, ApiError> {
    match d {
        None | Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(_) => Err(ApiError::invalid_request()),
    }
}

fn count(s: &str, max: usize) -> Result<usize, ApiError> {
    // pageSize: "Default is 100", at most 100 ("100 is the maximum", API record limits).
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 && n <= max => Ok(n),
        _ => Err(ApiError::invalid_request()),
    }
}

impl ListParams {
    /// Query parameters of `GET /v0/{baseId}/{tableIdOrName}`: `fields[]`,
    /// `sort[0][field]`, `sort[0][direction]` and so on, URL-encoded.
    pub fn from_query(q: &[(String, String)]) -> Result<Self, ApiError> {
        let mut p = ListParams::default();
        let mut sort: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
        for (k, v) in q {
            match k.as_str() {
                "pageSize" => p.page_size = Some(count(v, 100)?),
                "maxRecords" => p.max_records = Some(count(v, usize::MAX)?),
                "offset" => p.offset = Some(v.clone()),
                "filterByFormula" => p.formula = Some(v.clone()),
                "fields[]" | "fields" => p.fields.get_or_insert_with(Vec::new).push(v.clone()),
                "returnFieldsByFieldId" => p.by_id = v == "true" || v == "1",
                "view" => p.view = Some(v.clone()),
                "cellFormat" if v != "json" => return Err(ApiError::invalid_request()),
                k if k.starts_with("sort[") => {
                    let rest = &k[5..];
                    let (n, tail) = rest.split_once(']').ok_or_else(ApiError::invalid_request)?;
                    let n: usize = n.parse().map_err(|_| ApiError::invalid_request())?;
                    let e = sort.entry(n).or_default();
                    match tail {
                        "[field]" => e.0 = Some(v.clone()),
                        "[direction]" => e.1 = Some(v.clone()),
                        _ => return Err(ApiError::invalid_request()),
                    }
                }
                _ => {}
            }
        }
        for (_, (field, dir)) in sort {
            let field = field.ok_or_else(ApiError::invalid_request)?;
            p.sort.push((field, direction(dir.as_deref())?));
        }
        Ok(p)
    }

    /// The JSON body of `POST /v0/{baseId}/{tableIdOrName}/listRecords`: the
    /// same parameters, for formulas too long for a URL (List records, "Note").
    pub fn from_body(v: &Value) -> Result<Self, ApiError> {
        let bad = ApiError::invalid_request;
        let obj = v.as_object().ok_or_else(bad)?;
        let mut p = ListParams::default();
        let num = |v: &Value, max: usize| {
            v.as_u64()
                .map(|n| n.to_string())
                .ok_or_else(bad)
                .and_then(|s| count(&s, max))
        };
        let text = |v: &Value| v.as_str().map(str::to_string).ok_or_else(bad);
        for (k, v) in obj {
            match k.as_str() {
                "pageSize" => p.page_size = Some(num(v, 100)?),
                "maxRecords" => p.max_records = Some(num(v, usize::MAX)?),
                "offset" => p.offset = Some(text(v)?),
                "filterByFormula" => p.formula = Some(text(v)?),
                "view" => p.view = Some(text(v)?),
                "returnFieldsByFieldId" => p.by_id = v.as_bool().ok_or_else(bad)?,
                "fields" => {
                    p.fields = Some(
                        v.as_array()
                            .ok_or_else(bad)?
                            .iter()
                            .map(text)
                            .collect::<Result<_, _>>()?,
                    )
                }
                "sort" => {
                    for s in v.as_array().ok_or_else(bad)? {
                        let field = text(s.get("field").ok_or_else(bad)?)?;
                        p.sort.push((
                            field,
                            direction(s.get("direction").and_then(Value::as_str))?,
                        ));
                    }
                }
                "cellFormat" if v != "json" => return Err(bad()),
                _ => {}
            }
        }
        Ok(p)
    }
}

fn not_available() -> ApiError {
    ApiError::new(
        422,
        "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
        "The iterator for this offset is no longer available; restart iteration from the beginning.",
    )
}

/// The ordered ids of the records that match: filter, then sort, then maxRecords.
fn matching(table: &Table, p: &ListParams) -> Result<Vec<u64>, ApiError> {
    let filter = match p.formula.as_deref().map(str::trim) {
        Some(f) if !f.is_empty() => Some(formula::compile(f, table)?),
        _ => None,
    };
    let keys: Vec<(usize, bool)> = p
        .sort
        .iter()
        .map(|(f, desc)| {
            table
                .field_index(f)
                .map(|i| (i, *desc))
                .ok_or_else(|| ApiError::unknown_field(f))
        })
        .collect::<Result<_, _>>()?;
    let mut seqs: Vec<u64> = match &filter {
        None => table.records.keys().copied().collect(),
        Some(e) => table
            .records
            .iter()
            .filter(|(_, r)| formula::truthy(&formula::eval(e, table, r)))
            .map(|(s, _)| *s)
            .collect(),
    };
    if !keys.is_empty() {
        let mut keyed: Vec<(u64, Vec<Option<Value>>)> = seqs
            .iter()
            .map(|s| {
                let r = &table.records[s];
                (*s, keys.iter().map(|(i, _)| table.cell(r, *i)).collect())
            })
            .collect();
        // Stable: ties keep creation order.
        keyed.sort_by(|a, b| {
            for (k, (_, desc)) in keys.iter().enumerate() {
                let o = cmp_cells(&a.1[k], &b.1[k]);
                let o = if *desc { o.reverse() } else { o };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        seqs = keyed.into_iter().map(|(s, _)| s).collect();
    }
    if let Some(m) = p.max_records {
        seqs.truncate(m);
    }
    Ok(seqs)
}

/// One page of records, and the offset of the next if any remain.
pub(crate) fn list(
    table: &Table,
    iters: &mut HashMap<String, Iter>,
    p: &ListParams,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Value, ApiError> {
    let only: Option<Vec<usize>> = match &p.fields {
        Some(fs) => Some(
            fs.iter()
                .map(|f| {
                    table
                        .field_index(f)
                        .ok_or_else(|| ApiError::unknown_field(f))
                })
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    // Every table has one view, "Grid view", in creation order.
    if let Some(v) = &p.view {
        if v != "Grid view" && v != &table.view_id {
            return Err(ApiError::new(
                422,
                "VIEW_NAME_NOT_FOUND",
                format!("View {v} not found"),
            ));
        }
    }
    let page_size = p.page_size.unwrap_or(100);
    let (itr, pos, fresh) = match &p.offset {
        Some(off) => {
            // A value that is not an iterator offset at all (observed: INVALID_OFFSET_VALUE).
            let Some((itr, rec)) = off.split_once('/').filter(|(i, _)| i.starts_with("itr")) else {
                return Err(ApiError::new(
                    422,
                    "INVALID_OFFSET_VALUE",
                    format!("The value of offset {off} is invalid"),
                ));
            };
            let it = iters
                .get_mut(itr)
                .filter(|it| it.table_id == table.id && now - it.last_used <= ttl)
                .ok_or_else(not_available)?;
            let pos = *it.cursors.get(rec).ok_or_else(not_available)?;
            it.last_used = now;
            (itr.to_string(), pos, false)
        }
        None => {
            let seqs = matching(table, p)?;
            iters.retain(|_, it| now - it.last_used <= ttl);
            let id = new_id("itr");
            iters.insert(
                id.clone(),
                Iter {
                    table_id: table.id.clone(),
                    seqs,
                    cursors: HashMap::new(),
                    last_used: now,
                },
            );
            (id, 0, true)
        }
    };
    let it = iters.get_mut(&itr).expect("iterator just found or made");
    let mut out = Vec::with_capacity(page_size.min(it.seqs.len()));
    let mut i = pos;
    while i < it.seqs.len() && out.len() < page_size {
        if let Some(rec) = table.records.get(&it.seqs[i]) {
            out.push(table.render(rec, p.by_id, only.as_deref()));
        }
        i += 1;
    }
    while i < it.seqs.len() && !table.records.contains_key(&it.seqs[i]) {
        i += 1;
    }
    let mut body = json!({ "records": out });
    if i < it.seqs.len() {
        let rid = table.records[&it.seqs[i]].id.clone();
        body["offset"] = json!(format!("{itr}/{rid}"));
        it.cursors.insert(rid, i);
    } else if fresh {
        iters.remove(&itr);
    }
    Ok(body)
}
