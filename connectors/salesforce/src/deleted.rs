//! The deletions of an incremental read, from `getDeleted`: the window
//! Salesforce accepts, its answer as tombstones, and how a window that holds
//! too many deletions is halved and its tombstones spread over pages. Pure
//! functions; the requests are made in `fetch.rs`.
//!
//! References: "sObject Get Deleted" (REST API Developer Guide: "Results are
//! returned for no more than 15 days previous to the day the call is
//! executed"; "There is a limit of 600,000 IDs returned from this resource.
//! If more than 600,000 IDs are found, EXCEEDED_ID_LIMIT is returned. You can
//! correct the error by choosing start and end dates that are closer
//! together"); "getDeleted()" (SOAP API Developer Guide: the seconds of
//! `start` and `end` are ignored, `start` must precede `end` by more than one
//! minute, a start more than 30 days ago is refused with
//! INVALID_REPLICATION_DATE).

use serde_json::Value;
use synchost_sdk::{ConnectorError, Record};

use crate::api::encode_query;
use crate::read::CursorState;
use crate::time::{self, Millis, DAY, MINUTE};

/// getDeleted refuses a `start` more than this many days ago.
pub const REPLICATION_DAYS: i64 = 30;

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

/// The whole minute that halves a window into two that Salesforce accepts
/// (each longer than a minute once the seconds are dropped); `None` for a
/// window too short to halve.
pub fn split(start: Millis, end: Millis) -> Option<Millis> {
    let (start, end) = (time::floor_minute(start), time::floor_minute(end));
    (end - start >= 4 * MINUTE).then(|| time::floor_minute(start + (end - start) / 2))
}

/// What a getDeleted response reported.
#[derive(Debug)]
pub struct Deleted {
    /// one tombstone per deleted record, oldest deletion first (ties by
    /// id), so that the same answer is cut into pages the same way twice
    pub tombstones: Vec<Record>,
    /// `latestDateCovered`, RFC 3339
    pub covered: Option<String>,
    /// `earliestDateAvailable`: deletions before it were purged
    pub earliest: Option<Millis>,
}

pub fn parse_deleted(body: &Value) -> Result<Deleted, ConnectorError> {
    let list = body["deletedRecords"].as_array().ok_or_else(|| {
        ConnectorError::Fatal("the getDeleted response has no `deletedRecords` array".into())
    })?;
    let mut rows: Vec<(Option<Millis>, &str, Option<String>)> = list
        .iter()
        .filter_map(|d| {
            let id = d["id"].as_str()?;
            let at = d["deletedDate"].as_str();
            Some((at.and_then(time::parse), id, at.map(time::normalize)))
        })
        .collect();
    rows.sort();
    let tombstones = rows
        .into_iter()
        .map(|(_, id, at)| {
            Record::new(id)
                .deleted(true)
                .version(at.clone())
                .updated_at(at)
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

/// Salesforce's answer for one window.
#[derive(Debug)]
pub enum Answer {
    /// EXCEEDED_ID_LIMIT, or an answer larger than the host hands over
    TooMany,
    Found(Deleted),
}

/// What one answer adds to the page being filled.
#[derive(Debug, Default)]
pub struct Taken {
    pub tombstones: Vec<Record>,
    /// the page is full: the rest of the windows wait for the next one
    pub page_full: bool,
    /// a window of two minutes that still holds too many deletions: they
    /// cannot be read, and only the host's next full read finds them
    pub dropped: Option<(Millis, Millis)>,
    /// Salesforce purged deletions before this time, inside the window
    pub purged: Option<Millis>,
}

/// Applies the answer for the window on top of `state.windows` to the
/// read's state, with `room` tombstones left on this page of at most `cap`.
///
/// A window with too many deletions for Salesforce, or more than a page
/// holds, is replaced by its two halves, the older on top. One that cannot
/// be halved is handed over `cap` at a time (`state.offset` counts what was
/// handed over; the next page asks for the window again). A window that
/// fits on a page but not in what is left of this one waits for the next.
pub fn take(state: &mut CursorState, answer: Answer, room: usize, cap: usize) -> Taken {
    let Some(&(start, end)) = state.windows.last() else {
        return Taken::default();
    };
    let halve = |state: &mut CursorState| match split(start, end) {
        Some(mid) => {
            state.windows.pop();
            state.windows.push((mid, end));
            state.windows.push((start, mid));
            state.offset = 0;
            true
        }
        None => false,
    };
    let found = match answer {
        Answer::TooMany => {
            if halve(state) {
                return Taken::default();
            }
            state.windows.pop();
            state.offset = 0;
            return Taken {
                dropped: Some((start, end)),
                ..Taken::default()
            };
        }
        Answer::Found(found) => found,
    };
    note_covered(state, end, found.covered.as_deref());
    let purged = found.earliest.filter(|e| *e > start);
    let n = found.tombstones.len();
    if n > cap && state.offset == 0 && halve(state) {
        return Taken {
            purged,
            ..Taken::default()
        };
    }
    let rest: Vec<Record> = found.tombstones.into_iter().skip(state.offset).collect();
    if rest.len() <= room {
        state.windows.pop();
        state.offset = 0;
        return Taken {
            tombstones: rest,
            purged,
            ..Taken::default()
        };
    }
    if state.offset == 0 && room < cap && n <= cap {
        return Taken {
            page_full: true,
            purged,
            ..Taken::default()
        };
    }
    state.offset += room;
    Taken {
        tombstones: rest.into_iter().take(room).collect(),
        page_full: true,
        purged,
        ..Taken::default()
    }
}

/// `latestDateCovered` is "the last date covered" by a call: deletions
/// after it are reported by a later one. The read's checkpoint must not go
/// past the earliest such shortfall, nor past what the last window covered.
fn note_covered(state: &mut CursorState, end: Millis, covered: Option<&str>) {
    if state.covered.is_some() {
        return;
    }
    let Some(covered) = covered else {
        return;
    };
    let short = time::parse(covered).is_some_and(|c| c < time::floor_minute(end));
    let last_window = state.windows.len() == 1;
    if short || last_window {
        state.covered = Some(covered.to_string());
    }
}

#[cfg(test)]
#[path = "deleted_tests.rs"]
mod tests;
