//! The requests of a read: the query (a GET, or a Composite request when
//! its URI would be too long), its next batches, and the getDeleted calls of
//! an incremental read, whose tombstones come before the query's records.
//! What each answer means is decided in the pure modules `read` and
//! `deleted`.

use serde_json::Value;
use synchost_sdk::http::{Request, Response};
use synchost_sdk::log;
use synchost_sdk::prelude::*;

use crate::deleted::{self, Answer};
use crate::read::{self, CursorState};
use crate::schema::ObjectSchema;
use crate::{api, time, Salesforce};

impl Salesforce {
    /// `/services/data/vXX.X`, the prefix of a Composite subrequest's URL.
    fn api_path(&self) -> String {
        format!("/services/data/v{}", self.config.api_version)
    }

    /// A GET with the query batch size, answered with its JSON and
    /// Salesforce's time (the `Date` header).
    fn get_dated(
        &self,
        url: &str,
        batch: Option<u32>,
    ) -> Result<(Value, Option<String>), ConnectorError> {
        let mut req = Request::new("GET", url);
        if let Some(n) = batch {
            req = req.header("Sforce-Query-Options", &format!("batchSize={n}"));
        }
        let resp: Response = api::send("GET", url, req)?;
        Ok((api::json("GET", url, &resp)?, resp.date()))
    }

    /// The first batch of `soql`, with Salesforce's time. A query whose URL
    /// would be longer than Salesforce accepts is sent as the one subrequest
    /// of a Composite request, which counts as one API call; its next batches
    /// are plain GETs of their short `nextRecordsUrl`.
    fn query(
        &self,
        soql: &str,
        batch: Option<u32>,
    ) -> Result<(Value, Option<String>), ConnectorError> {
        let data = self.config.data_url();
        let url = read::query_url(&data, soql);
        if url.len() <= read::MAX_GET_URL {
            return self.get_dated(&url, batch);
        }
        let composite = format!("{data}/composite");
        let body = read::composite_query(&self.api_path(), soql, batch);
        let resp = api::send(
            "POST",
            &composite,
            Request::new("POST", &composite).json(&body),
        )?;
        let (status, result) = read::composite_result(&api::json("POST", &composite, &resp)?)?;
        let context = format!("GET {}/query (in a Composite request)", self.api_path());
        let sub = Response::new(status, &[], result.to_string().as_bytes());
        if let Some(err) = api::salesforce_error(&context, &sub) {
            return Err(err);
        }
        Ok((result, resp.date()))
    }

    /// One getDeleted window.
    fn get_deleted(&self, object: &str, start: i64, end: i64) -> Result<Answer, ConnectorError> {
        let url = deleted::deleted_url(&self.config.data_url(), object, start, end);
        let resp = match api::send_raw(Request::new("GET", &url)) {
            Err(err) if api::too_large(&err) => return Ok(Answer::TooMany),
            other => other?,
        };
        if resp.status == 400 && api::has_code(&resp, "EXCEEDED_ID_LIMIT") {
            return Ok(Answer::TooMany);
        }
        let resp = api::check("GET", &url, resp)?;
        Ok(Answer::Found(deleted::parse_deleted(&api::json(
            "GET", &url, &resp,
        )?)?))
    }

    /// Reads the getDeleted windows of `state` into `page` until they are
    /// all read or `cap` tombstones fill it.
    fn deletions(
        &self,
        schema: &ObjectSchema,
        state: &mut CursorState,
        cap: usize,
        page: &mut Vec<Record>,
    ) -> Result<(), ConnectorError> {
        while let Some(&(start, end)) = state.windows.last() {
            let room = cap.saturating_sub(page.len());
            if room == 0 {
                break;
            }
            let answer = self.get_deleted(&schema.object, start, end)?;
            let taken = deleted::take(state, answer, room, cap);
            if let Some((from, to)) = taken.dropped {
                log::warn(&format!(
                    "Salesforce holds more deletions of {} between {} and {} than one getDeleted \
                     call reports, and the window cannot be narrowed further: they are not reported; \
                     the host's next full read finds them",
                    schema.object,
                    time::rfc3339(time::floor_minute(from)),
                    time::rfc3339(time::floor_minute(to)),
                ));
            }
            if let Some(earliest) = taken.purged {
                log::warn(&format!(
                    "Salesforce purged deletions of {} before {} from its delete log: any in that \
                     time are not reported; the host's next full read finds them",
                    schema.object,
                    time::rfc3339(earliest)
                ));
            }
            page.extend(taken.tombstones);
            if taken.page_full {
                break;
            }
        }
        Ok(())
    }

    /// Opens the deletions of an incremental read from `since` to when it
    /// began, and reads what fits on this page.
    fn open_deletions(
        &self,
        schema: &ObjectSchema,
        state: &mut CursorState,
        since: Option<i64>,
        cap: usize,
        page: &mut Vec<Record>,
    ) -> Result<(), ConnectorError> {
        let started = state.started.as_deref().and_then(time::parse);
        let (since, started) = match (since, started) {
            (Some(since), Some(started)) => (since, started),
            (Some(_), None) => {
                log::warn(
                    "Salesforce sent no Date header: deletions are not read this time; the \
                     host's next full read finds them",
                );
                return Ok(());
            }
            _ => return Ok(()),
        };
        let (start, end, clamped) = deleted::deleted_window(since, started);
        if clamped {
            log::warn(&format!(
                "the checkpoint {} is older than the {} days getDeleted reaches back: deletions \
                 of {} before {} are not reported; the host's next full read finds them",
                time::rfc3339(since),
                deleted::REPLICATION_DAYS,
                schema.object,
                time::rfc3339(start)
            ));
        }
        state.windows = vec![(start, end)];
        self.deletions(schema, state, cap, page)
    }

    /// One page of a read of `schema`'s `selected` fields.
    ///
    /// An incremental read begins with the query (whose `Date` says when the
    /// read began) and the deletions since `since`, tombstones first: a
    /// record deleted and restored since the checkpoint comes back in the
    /// query results, and the last word wins. When the tombstones need more
    /// than this page, the query's first batch is set aside and the query
    /// runs again once they are all handed over.
    pub(crate) fn read_page(
        &self,
        schema: &ObjectSchema,
        selected: &[String],
        cursor: Option<&str>,
        since: Option<&str>,
        page_size: u32,
    ) -> Result<Page, ConnectorError> {
        let mut state = CursorState::resume(cursor, since)?;
        let since = state.since_millis()?;
        let batch = read::batch_size(page_size);
        let cap = batch.unwrap_or(read::MAX_BATCH) as usize;
        let mut records = Vec::new();
        let body = if let Some(next) = &state.next {
            let url = read::next_url(&self.config.instance_url, next)?;
            self.get_dated(&url, batch)?.0
        } else {
            if cursor.is_some() {
                // The deletions of this read are still being handed over.
                self.deletions(schema, &mut state, cap, &mut records)?;
                if !state.windows.is_empty() {
                    return Ok(read::pending(state, records));
                }
            } else if since.is_some() && schema.modstamp().is_none() {
                log::warn(&format!(
                    "{} has neither SystemModstamp nor LastModifiedDate: reading all of it",
                    schema.object
                ));
            }
            let (body, date) = self.query(&read::soql(schema, selected, since), batch)?;
            if cursor.is_none() {
                state.started = date;
                self.open_deletions(schema, &mut state, since, cap, &mut records)?;
                if !state.windows.is_empty() {
                    return Ok(read::pending(state, records));
                }
            }
            body
        };
        let batch = read::parse_query(&body, schema, selected)?;
        records.extend(batch.records);
        Ok(read::finish(state, records, batch.next, batch.max_stamp))
    }
}
