//! Reading an sObject: the SOQL query, its batches (`nextRecordsUrl`), the
//! deleted records of an incremental read (`getDeleted`), and the cursor
//! that carries the read's state from one page to the next. Pure functions.
//!
//! References (REST API Developer Guide): "Query" (`totalSize`, `done`,
//! `nextRecordsUrl`, `records`; "replace spaces in the query string with a
//! plus sign + or with %20"), "Query More Results", "Query Options Header"
//! (`Sforce-Query-Options: batchSize=N`, 200 to 2,000, default 2,000),
//! "sObject Get Deleted"; "getDeleted()" (SOAP API Developer Guide: the
//! seconds of `start` and `end` are ignored, `start` must precede `end` by
//! more than one minute, the delete log holds about 15 days, a start more
//! than 30 days ago is refused with INVALID_REPLICATION_DATE).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use synchost_sdk::{cursor, ConnectorError, Page, Record};

use crate::api::encode_query;
use crate::schema::ObjectSchema;
use crate::time::{self, Millis, DAY, MINUTE};

pub const MIN_BATCH: u32 = 200;
pub const MAX_BATCH: u32 = 2000;
/// getDeleted refuses a `start` more than this many days ago.
pub const REPLICATION_DAYS: i64 = 30;

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

/// The window of the getDeleted call of an incremental read that began at
/// `started` (Salesforce's time) from `since`.
///
/// Salesforce ignores the seconds of both ends, wants more than a minute
/// between them, and refuses a start more than 30 days back. So the start
/// is `since` rounded down to the minute, moved back to two minutes before
/// the end if the window is shorter (reporting a deletion twice is harmless),
/// and brought forward to within 30 days (the returned flag says so: older
/// deletions cannot be reported; the host's periodic full scan finds them).
pub fn deleted_window(since: Millis, started: Millis) -> (Millis, Millis, bool) {
    let end = time::floor_minute(started);
    let earliest = end - REPLICATION_DAYS * DAY + MINUTE;
    let start = time::floor_minute(since).min(end - 2 * MINUTE);
    if start < earliest {
        (earliest, started, true)
    } else {
        (start, started, false)
    }
}

/// `{data_url}/sobjects/{sObject}/deleted/?start=..&end=..`.
pub fn deleted_url(data_url: &str, object: &str, start: Millis, end: Millis) -> String {
    format!(
        "{data_url}/sobjects/{object}/deleted/?start={}&end={}",
        encode_query(&time::soql(start)),
        encode_query(&time::soql(end))
    )
}

/// What a getDeleted response reported.
#[derive(Debug)]
pub struct Deleted {
    /// one tombstone per deleted record
    pub tombstones: Vec<Record>,
    /// `latestDateCovered`, RFC 3339
    pub covered: Option<String>,
    /// `earliestDateAvailable`, RFC 3339: deletions before it were purged
    pub earliest: Option<Millis>,
}

pub fn parse_deleted(body: &Value) -> Result<Deleted, ConnectorError> {
    let list = body["deletedRecords"].as_array().ok_or_else(|| {
        ConnectorError::Fatal("the getDeleted response has no `deletedRecords` array".into())
    })?;
    let tombstones = list
        .iter()
        .filter_map(|d| {
            let id = d["id"].as_str()?;
            let at = d["deletedDate"].as_str().map(time::normalize);
            Some(
                Record::new(id)
                    .deleted(true)
                    .version(at.clone())
                    .updated_at(at),
            )
        })
        .collect();
    let covered = body["latestDateCovered"].as_str().map(time::normalize);
    let earliest = body["earliestDateAvailable"].as_str().and_then(time::parse);
    Ok(Deleted {
        tombstones,
        covered,
        earliest,
    })
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
