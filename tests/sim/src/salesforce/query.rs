//! Reading: the Query resource and its query locators, Query More Results,
//! and sObject Get Deleted; and evaluating a parsed SOQL query (its
//! conditions and its ORDER BY) against the records.
//!
//! References (REST API Developer Guide): "Query" ("up to 2,000 records can
//! be returned at a time"; `totalSize`, `done`, `nextRecordsUrl`, `records`),
//! "Query More Results", "Query Options Header" ("The default is 2,000; the
//! minimum is 200, and the maximum is 2,000"), "sObject Get Deleted"; "API
//! Query Cursor Limits" (Salesforce App Limits Cheatsheet: "Cursors and their
//! related query results are available for 2 days"); "getDeleted()" and
//! "GetDeletedResult" (SOAP API Developer Guide).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

use super::model::{minute, parse_datetime, sf_datetime, ApiError, FieldDef, Kind, ObjectDef};
use super::soql::{self, Literal, Query};
use super::store::{field_value, Record, Store, DELETE_LOG_DAYS};

pub(crate) const DEFAULT_BATCH: usize = 2000;
pub(crate) const MIN_BATCH: usize = 200;

/// "Cursors and their related query results are available for 2 days".
const LOCATOR_DAYS: i64 = 2;

/// "startDate cannot be more than 30 days ago" (INVALID_REPLICATION_DATE;
/// Data Replication, SOAP API Developer Guide: the replication calls accept
/// windows within the last 30 days).
pub(crate) const REPLICATION_DAYS: i64 = 30;

/// "There is a limit of 600,000 IDs returned from this resource. If more
/// than 600,000 IDs are found, EXCEEDED_ID_LIMIT is returned. You can correct
/// the error by choosing start and end dates that are closer together."
/// (sObject Get Deleted, https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getdeleted.htm)
/// Tests lower it with `SalesforceSim::set_deleted_id_limit`.
pub(crate) const MAX_DELETED_IDS: usize = 600_000;

/// A server-side cursor: the rows of one query, fixed when it ran.
pub(crate) struct Locator {
    rows: Vec<Value>,
    created: DateTime<Utc>,
    batch: usize,
}

#[derive(Default)]
pub(crate) struct Locators {
    by_id: HashMap<String, Locator>,
}

/// The batch size a `Sforce-Query-Options: batchSize=N` header asks for,
/// brought into 200..=2000 ("There is no guarantee that the requested batch
/// size is the actual batch size").
pub(crate) fn batch_size(header: Option<&str>) -> Option<usize> {
    let value = header?
        .split([',', ';'])
        .filter_map(|part| part.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("batchSize"))?
        .1;
    let n: usize = value.trim().parse().ok()?;
    Some(n.clamp(MIN_BATCH, DEFAULT_BATCH))
}

fn locator_id() -> String {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let b: [u8; 15] = rand::random();
    let tail: String = b.iter().map(|x| A[*x as usize % A.len()] as char).collect();
    format!("01g{tail}")
}

/// `GET /services/data/vXX.X/query?q=...` (`queryAll` when `all`: deleted
/// records too, with `IsDeleted` true).
pub(crate) fn run(
    store: &Store,
    locators: &mut Locators,
    version: &str,
    q: &str,
    batch: Option<usize>,
    all: bool,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    // "If the SOQL query string is invalid, a MALFORMED_QUERY response is returned."
    let query = soql::parse(q, &store.objects)?;
    let obj = store.object(query.object).expect("resolved by the parser");
    let mut matching: Vec<_> = store
        .order
        .iter()
        .map(|id| &store.records[id])
        .filter(|r| r.object == obj.name && (all || r.deleted.is_none()))
        .filter(|r| query.matches(obj, r))
        .collect();
    query.sort(obj, &mut matching);
    let rows: Vec<Value> = matching
        .into_iter()
        .skip(query.offset)
        .take(query.limit.unwrap_or(usize::MAX))
        .map(|r| store.render(r, version, Some(&query.fields)))
        .collect();
    let batch = batch.unwrap_or(DEFAULT_BATCH);
    let locator = Locator {
        rows,
        created: now,
        batch,
    };
    if locator.rows.len() <= batch {
        return Ok(page(&locator, version, "", 0, batch));
    }
    let id = locator_id();
    let out = page(&locator, version, &id, 0, batch);
    locators.by_id.insert(id, locator);
    Ok(out)
}

/// `GET /services/data/vXX.X/query/{queryLocator}`: the locator is the
/// cursor id and the offset of the first row, as in `01gRO0000016PIAYA2-2000`.
pub(crate) fn more(
    locators: &mut Locators,
    version: &str,
    locator: &str,
    batch: Option<usize>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    locators
        .by_id
        .retain(|_, l| now - l.created < Duration::days(LOCATOR_DAYS));
    // "Using an invalid or expired query locator in a call throws an
    // INVALID_QUERY_LOCATOR error."
    let invalid = || ApiError::bad("INVALID_QUERY_LOCATOR", "invalid query locator");
    let (id, offset) = locator.rsplit_once('-').ok_or_else(invalid)?;
    let offset: usize = offset.parse().map_err(|_| invalid())?;
    let found = locators.by_id.get(id).ok_or_else(invalid)?;
    if offset >= found.rows.len() {
        return Err(invalid());
    }
    let batch = batch.unwrap_or(found.batch);
    Ok(page(found, version, id, offset, batch))
}

fn page(l: &Locator, version: &str, id: &str, offset: usize, batch: usize) -> Value {
    let end = (offset + batch).min(l.rows.len());
    let mut body = json!({
        "totalSize": l.rows.len(),
        "done": end == l.rows.len(),
        "records": l.rows[offset..end],
    });
    if end < l.rows.len() {
        body["nextRecordsUrl"] = json!(format!("/services/data/{version}/query/{id}-{end}"));
    }
    body
}

/// `GET /services/data/vXX.X/sobjects/{sObject}/deleted/?start=..&end=..`.
///
/// Rules (getDeleted(), Rules and Guidelines): "The API ignores the seconds
/// portion of the specified dateTime value"; "The specified startDate must
/// chronologically precede the specified endDate value by more than one
/// minute … Otherwise, the API returns an INVALID_REPLICATION_DATE error";
/// the delete log keeps 15 days. In the result, `latestDateCovered` is "the
/// last date covered" (at most `end`: "use this value for the startDate of
/// your next call"), and `earliestDateAvailable` "the timestamp … of the last
/// physically deleted object" (GetDeletedResult).
pub(crate) fn deleted(
    store: &mut Store,
    object: &str,
    start: Option<&str>,
    end: Option<&str>,
    max_ids: usize,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let name = store.object(object).ok_or_else(ApiError::not_found)?.name;
    let param = |label: &str, raw: Option<&str>| -> Result<DateTime<Utc>, ApiError> {
        let raw = raw.ok_or_else(|| {
            ApiError::bad("MISSING_ARGUMENT", format!("{label} must be specified"))
        })?;
        parse_datetime(raw).map(minute).ok_or_else(|| {
            ApiError::bad(
                "INVALID_PARAMETER_VALUE",
                format!("{label}: '{raw}' is not a valid value for the type xsd:dateTime"),
            )
        })
    };
    let (start, end) = (param("start", start)?, param("end", end)?);
    let replication = |why: &str| ApiError::bad("INVALID_REPLICATION_DATE", why.to_string());
    if end - start <= Duration::minutes(1) {
        return Err(replication(
            "startDate must chronologically precede endDate by more than one minute",
        ));
    }
    if start < now - Duration::days(REPLICATION_DAYS) {
        return Err(replication("startDate cannot be more than 30 days ago"));
    }
    store.purge(now);
    let latest = end.min(minute(now));
    let mut rows: Vec<(DateTime<Utc>, &str)> = store
        .records
        .values()
        .filter(|r| r.object == name)
        .filter_map(|r| r.deleted.map(|d| (d, r.id.as_str())))
        .filter(|(d, _)| *d >= start && *d < latest)
        .collect();
    if rows.len() > max_ids {
        return Err(ApiError::bad(
            "EXCEEDED_ID_LIMIT",
            format!("More than {max_ids} IDs were found. Choose start and end dates that are closer together."),
        ));
    }
    rows.sort();
    let earliest = store
        .purged_until
        .max(minute(now) - Duration::days(DELETE_LOG_DAYS));
    Ok(json!({
        "deletedRecords": rows
            .iter()
            .map(|(d, id)| json!({ "id": id, "deletedDate": sf_datetime(*d) }))
            .collect::<Vec<_>>(),
        "earliestDateAvailable": sf_datetime(earliest),
        "latestDateCovered": sf_datetime(latest),
    }))
}

// Evaluating a parsed query against records: conditions and order.

/// A record's value of `field` as a literal, for comparing and sorting.
fn literal_of(r: &Record, f: &FieldDef) -> Literal {
    let v = field_value(r, f.name);
    match (f.kind, &v) {
        (_, serde_json::Value::Null) => Literal::Null,
        (Kind::Datetime, serde_json::Value::String(s)) => {
            parse_datetime(s).map_or(Literal::Null, Literal::DateTime)
        }
        (Kind::Date, serde_json::Value::String(s)) => {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_or(Literal::Null, Literal::Date)
        }
        (_, serde_json::Value::Bool(b)) => Literal::Bool(*b),
        (_, serde_json::Value::Number(n)) => Literal::Number(n.as_f64().unwrap_or(0.0)),
        (_, serde_json::Value::String(s)) => Literal::Text(s.clone()),
        _ => Literal::Null,
    }
}

/// Orders two non-null literals of the same field. Text compares
/// case-insensitively, as SOQL does.
fn compare(a: &Literal, b: &Literal) -> Ordering {
    match (a, b) {
        (Literal::Number(x), Literal::Number(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Literal::Text(x), Literal::Text(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Literal::Date(x), Literal::Date(y)) => x.cmp(y),
        (Literal::DateTime(x), Literal::DateTime(y)) => x.cmp(y),
        (Literal::Bool(x), Literal::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

impl Query {
    /// Whether a record meets every condition. A null only equals null.
    pub fn matches(&self, obj: &ObjectDef, r: &Record) -> bool {
        self.conds.iter().all(|c| {
            let f = obj.field(c.field).expect("resolved at parse time");
            let have = literal_of(r, f);
            match (&have, &c.value) {
                (Literal::Null, Literal::Null) => c.op == "=",
                (Literal::Null, _) | (_, Literal::Null) => c.op == "!=",
                _ => {
                    let ord = compare(&have, &c.value);
                    match c.op {
                        "=" => ord == Ordering::Equal,
                        "!=" => ord != Ordering::Equal,
                        "<" => ord == Ordering::Less,
                        "<=" => ord != Ordering::Greater,
                        ">" => ord == Ordering::Greater,
                        _ => ord != Ordering::Less,
                    }
                }
            }
        })
    }

    /// Sorts matching records by ORDER BY, then by Id so that every order is total.
    pub fn sort(&self, obj: &ObjectDef, records: &mut [&Record]) {
        records.sort_by(|a, b| {
            for o in &self.order {
                let f = obj.field(o.field).expect("resolved at parse time");
                let (x, y) = (literal_of(a, f), literal_of(b, f));
                let ord = match (&x, &y) {
                    (Literal::Null, Literal::Null) => Ordering::Equal,
                    (Literal::Null, _) => {
                        if o.nulls_last {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (_, Literal::Null) => {
                        if o.nulls_last {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    _ if o.desc => compare(&y, &x),
                    _ => compare(&x, &y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            a.id.cmp(&b.id)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_are_brought_into_range() {
        assert_eq!(batch_size(None), None);
        assert_eq!(batch_size(Some("batchSize=1000")), Some(1000));
        assert_eq!(batch_size(Some("batchSize=10")), Some(200));
        assert_eq!(batch_size(Some("batchsize = 5000")), Some(2000));
        assert_eq!(batch_size(Some("batchSize=many")), None);
    }
}
