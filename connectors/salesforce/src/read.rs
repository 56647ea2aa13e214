//! Reading an sObject: the SOQL query (a GET, or a Composite subrequest when
//! its URI would be too long), its batches (`nextRecordsUrl`), and the
//! cursor that carries the read's state from one page to the next, deletions
//! still to read included (see `deleted`). Pure functions.
//!
//! References (REST API Developer Guide): "Query" (`totalSize`, `done`,
//! `nextRecordsUrl`, `records`; "replace spaces in the query string with a
//! plus sign + or with %20"; HTTP method GET only), "Query More Results",
//! "Query Options Header" (`Sforce-Query-Options: batchSize=N`, 200 to
//! 2,000, default 2,000), "Send Multiple Requests Using Composite" and its
//! request and response bodies; Salesforce Help article 000386264 ("Maximum
//! number of rows returned by SOQL queries over the REST API") on the URI
//! limit and the Composite way around it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use synchost_sdk::{cursor, ConnectorError, Page, Record};

use crate::api::encode_query;
use crate::schema::ObjectSchema;
use crate::time::{self, Millis};

pub const MIN_BATCH: u32 = 200;
pub const MAX_BATCH: u32 = 2000;

/// The longest query URL sent as a GET; a longer query goes in the body of a
/// Composite request. Salesforce refuses a URI, or URI and headers, over
/// 16,384 bytes (414, 431), and a query is "likely to be smaller than allowed
/// URI limit because SOQL queries get translated and augmented … It's
/// recommended to limit URI length to 2000 characters" (Salesforce Help,
/// article 000386264).
pub const MAX_GET_URL: usize = 2_000;

/// What a read carries from one page to the next, inside the opaque cursor
/// handed to the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorState {
    /// Salesforce's `nextRecordsUrl`, a path under `/services/data`
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// the `since` this read started with
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Salesforce's time (its `Date` header) when the first batch was
    /// answered: every change before it is in this read
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// the greatest modification stamp seen so far in this read
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub max_seen: Option<String>,
    /// getDeleted's `latestDateCovered`: deletions up to it were reported
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub covered: Option<String>,
    /// getDeleted windows still to read, as a stack: the next on top, the
    /// latest at the bottom; the query runs (again) once they are read
    #[serde(rename = "w", default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<(Millis, Millis)>,
    /// tombstones of the top window already handed over
    #[serde(rename = "o", default, skip_serializing_if = "is_zero")]
    pub offset: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl CursorState {
    /// The state of a read: decoded from `cursor` when resuming, otherwise a
    /// fresh read from `since`.
    pub fn resume(cursor: Option<&str>, since: Option<&str>) -> Result<Self, ConnectorError> {
        match cursor {
            Some(c) => cursor::decode(c),
            None => Ok(CursorState {
                since: since.map(String::from),
                ..Default::default()
            }),
        }
    }

    /// `since` as an instant; a `since` that is not a time is `invalid-input`.
    pub fn since_millis(&self) -> Result<Option<Millis>, ConnectorError> {
        match &self.since {
            None => Ok(None),
            Some(s) => time::parse(s).map(Some).ok_or_else(|| {
                ConnectorError::InvalidInput(format!(
                    "`since` must be an RFC 3339 date-time (a checkpoint of this connector), got `{s}`"
                ))
            }),
        }
    }
}

/// The `Sforce-Query-Options` batch size for a requested page size: none
/// (Salesforce's default, 2,000) for 0, else within 200..=2000.
pub fn batch_size(page_size: u32) -> Option<u32> {
    (page_size > 0).then(|| page_size.clamp(MIN_BATCH, MAX_BATCH))
}

/// The SOQL of a read: the selected fields, changes at or after `since`
/// (rounded down to the second: SOQL dateTime literals have no fraction),
/// oldest first.
pub fn soql(schema: &ObjectSchema, selected: &[String], since: Option<Millis>) -> String {
    let mut q = format!("SELECT {} FROM {}", selected.join(", "), schema.object);
    match schema.modstamp() {
        Some(stamp) => {
            if let Some(since) = since {
                q.push_str(&format!(
                    " WHERE {stamp} >= {}",
                    time::soql(time::floor_second(since))
                ));
            }
            q.push_str(&format!(" ORDER BY {stamp}, Id"));
        }
        None => q.push_str(" ORDER BY Id"),
    }
    q
}

/// `{data_url}/query?q=...`, the query percent-encoded (so that a `+` is
/// never read as a space).
pub fn query_url(data_url: &str, soql: &str) -> String {
    format!("{data_url}/query?q={}", encode_query(soql))
}

/// The body of a Composite request whose one subrequest is the query:
/// "try to incorporate the SOQL statement into the body of a Composite API
/// request as one of the 25 allowed subrequests" (Salesforce Help, article
/// 000386264). `api_path` is `/services/data/vXX.X`; the batch size travels
/// in the subrequest's `httpHeaders`.
pub fn composite_query(api_path: &str, soql: &str, batch: Option<u32>) -> Value {
    let mut sub = serde_json::json!({
        "method": "GET",
        "url": query_url(api_path, soql),
        "referenceId": "query",
    });
    if let Some(n) = batch {
        sub["httpHeaders"] =
            serde_json::json!({ "Sforce-Query-Options": format!("batchSize={n}") });
    }
    serde_json::json!({ "allOrNone": false, "compositeRequest": [sub] })
}

/// The status and body of the query subrequest of a Composite response
/// (`{"compositeResponse": [{"body", "httpHeaders", "httpStatusCode",
/// "referenceId"}]}`).
pub fn composite_result(top: &Value) -> Result<(u16, Value), ConnectorError> {
    let sub = top["compositeResponse"]
        .as_array()
        .and_then(|subs| subs.iter().find(|s| s["referenceId"] == "query"))
        .ok_or_else(|| {
            ConnectorError::Fatal(
                "the Composite response has no result for the query subrequest".into(),
            )
        })?;
    let status = sub["httpStatusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| {
            ConnectorError::Fatal("a Composite subrequest result has no httpStatusCode".into())
        })?;
    Ok((status, sub["body"].clone()))
}

/// The absolute URL of a `nextRecordsUrl`, which must be a path of this
/// org's REST API.
pub fn next_url(instance_url: &str, next: &str) -> Result<String, ConnectorError> {
    let ok = next.starts_with("/services/data/")
        && !next.contains("..")
        && next
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._".contains(&b));
    if !ok {
        return Err(ConnectorError::Fatal(format!(
            "Salesforce returned a nextRecordsUrl that is not a query locator path: `{next}`"
        )));
    }
    Ok(format!("{instance_url}{next}"))
}

/// One batch of query results, translated.
#[derive(Debug)]
pub struct Batch {
    pub records: Vec<Record>,
    /// `nextRecordsUrl` while `done` is false
    pub next: Option<String>,
    /// the greatest modification stamp in the batch
    pub max_stamp: Option<String>,
}

pub fn parse_query(
    body: &Value,
    schema: &ObjectSchema,
    selected: &[String],
) -> Result<Batch, ConnectorError> {
    let rows = body["records"]
        .as_array()
        .ok_or_else(|| ConnectorError::Fatal("the query response has no `records` array".into()))?;
    let records = rows
        .iter()
        .map(|row| schema.record(row, selected))
        .collect::<Result<Vec<_>, _>>()?;
    let max_stamp = records
        .iter()
        .filter_map(|r| r.updated_at.clone())
        .fold(None, later);
    let next = match body["done"].as_bool() {
        Some(false) => body["nextRecordsUrl"].as_str().map(String::from),
        _ => None,
    };
    Ok(Batch {
        records,
        next,
        max_stamp,
    })
}

/// The later of two RFC 3339 instants (either may be absent).
pub fn later(a: Option<String>, b: String) -> Option<String> {
    match a {
        Some(a) if time::parse(&a) >= time::parse(&b) => Some(a),
        _ => Some(b),
    }
}

fn earlier(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if time::parse(&b) < time::parse(&a) {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// A page in the middle of the deletions: the tombstones so far and a cursor
/// to the rest (the query runs once they are read).
pub fn pending(state: CursorState, tombstones: Vec<Record>) -> Page {
    let cursor = CursorState {
        next: None,
        ..state
    };
    Page::new(tombstones).next(Some(cursor::encode(&cursor)))
}

/// The page handed to the host: a cursor while Salesforce has more, and on
/// the last page the checkpoint: Salesforce's time when the read began (no
/// later than what getDeleted covered), else the greatest stamp seen, else
/// the `since` the read started from.
pub fn finish(
    state: CursorState,
    records: Vec<Record>,
    batch_next: Option<String>,
    max_stamp: Option<String>,
) -> Page {
    let max_seen = match max_stamp {
        Some(m) => later(state.max_seen.clone(), m),
        None => state.max_seen.clone(),
    };
    match batch_next {
        Some(next) => {
            let cursor = CursorState {
                next: Some(next),
                max_seen,
                windows: Vec::new(),
                offset: 0,
                ..state
            };
            Page::new(records).next(Some(cursor::encode(&cursor)))
        }
        None => {
            let begun = match state.started {
                Some(started) => earlier(Some(started), state.covered),
                None => None,
            };
            Page::new(records).checkpoint(begun.or(max_seen).or(state.since))
        }
    }
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
