//! # synchost-connector-airtable
//!
//! The Airtable connector: each entity of a job is one table of one base,
//! read and written through Airtable's Web API (`https://api.airtable.com/v0`).
//!
//! - **Settings**: `base_id`, one `table.<entity>` per entity (a table name or
//!   id), and optionally `modified_field`, the name of a "Last modified time"
//!   field (default `Last Modified`) that gives records their `updated-at` and
//!   `version`.
//! - **Auth**: a personal access token in the secret `airtable_token`, sent
//!   by the host as `Authorization: Bearer`; the connector never sees it.
//! - **Reads** list a table 100 records a page; an incremental read filters on
//!   `LAST_MODIFIED_TIME()` and checkpoints the latest modification time seen.
//! - **Writes** are batched ten records a request, with `typecast` on; a
//!   batch refused for what may be one op's doing is sent again op by op, so
//!   that each op gets its own outcome.
//! - **Deletes** are hard deletes in Airtable: reads never carry tombstones,
//!   and the host infers deletions from full scans.
//! - **Webhooks**: a notification signed with `X-Airtable-Content-MAC` (keyed
//!   with the secret named by `webhook_secret`, bound as `<source>#base64`)
//!   becomes one change event per entity with an empty id: "read it
//!   incrementally", since Airtable's notifications name no record. The
//!   webhook named by `webhook_id` is refreshed at the first read of a run,
//!   since Airtable disables a webhook 7 days after its last refresh.
//!
//! Modules: `config` (settings), `schema` (metadata and type mapping),
//! `convert` (cell values), `query` (URLs), `api` (requests and errors),
//! `read` (pages and cursors), `batch` and `write` (write ops), `time`
//! (timestamp comparison), `webhook` (MAC check, notifications), `refresh`
//! (keeping the webhook alive). All but `api` and this file are unit tested
//! natively (`write` and `refresh` through a scripted transport).

mod api;
mod batch;
pub mod config;
mod convert;
mod query;
mod read;
mod recent;
mod refresh;
mod schema;
mod time;
pub mod webhook;
mod write;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use synchost_sdk::prelude::*;

use crate::api::Call;
use crate::config::Config;
use crate::read::CursorState;
use crate::schema::TableMeta;

/// The connector's state for one run.
pub struct Airtable {
    config: Config,
    /// entity -> its table's metadata, filled for every configured entity by
    /// the first metadata request of the run
    tables: RefCell<HashMap<String, Rc<TableMeta>>>,
    /// the webhook of `webhook_id` was refreshed (or tried) in this run
    webhook_refreshed: Cell<bool>,
    /// the records this run wrote or was asked to change, the latest of
    /// them: a record created since a refused create batch that is not one
    /// of them may be its doing
    ours: RefCell<recent::Recent>,
}

impl Airtable {
    /// The metadata of `entity`'s table, from the cache or the metadata API.
    fn table(&self, entity: &str) -> Result<Rc<TableMeta>, ConnectorError> {
        let wanted = self.config.table(entity)?;
        if let Some(table) = self.tables.borrow().get(entity) {
            return Ok(table.clone());
        }
        let body = Call::get(query::meta_url(&self.config.base_id)).send()?;
        let tables = schema::parse_tables(&body)
            .map_err(|e| errors::bad_body("the Airtable metadata call", e))?;
        let mut cache = self.tables.borrow_mut();
        for (name, table) in &self.config.tables {
            if let Some(found) = schema::find_table(&tables, table) {
                cache.insert(name.clone(), Rc::new(found.clone()));
            }
        }
        cache.get(entity).cloned().ok_or_else(|| {
            let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
            ConnectorError::NotFound(format!(
                "table `{wanted}` (entity `{entity}`) is not in base `{}`; its tables are: {}",
                self.config.base_id,
                names.join(", ")
            ))
        })
    }

    /// Refreshes the `webhook_id` webhook once a run; a failure is logged,
    /// never returned: reading does not depend on the webhook.
    fn keep_webhook_alive(&self) {
        let Some(webhook) = &self.config.webhook_id else {
            return;
        };
        if self.webhook_refreshed.replace(true) {
            return;
        }
        match refresh::refresh(&self.config.base_id, webhook, &mut |call: Call| call.send()) {
            Ok(line) => synchost_sdk::log::info(&line),
            Err(line) => synchost_sdk::log::warn(&line),
        }
    }
}

impl Connector for Airtable {
    fn describe() -> Descriptor {
        Descriptor::new("airtable", env!("CARGO_PKG_VERSION"))
            // Airtable takes 10 records a request; a call of 50 is five
            // requests, one second of its 5 requests/s.
            .max_batch(5 * batch::MAX_BATCH as u32)
            .entities(Vec::<String>::new())
            .hosts([query::ORIGIN])
            .auth(AuthScheme::Bearer("airtable_token".into()))
            .capabilities(
                Capabilities::READ
                    | Capabilities::WRITE
                    | Capabilities::INCREMENTAL
                    | Capabilities::WEBHOOKS,
            )
            .rate(5.0, 1, None)
            .setting(
                "base_id",
                "The Airtable base id, `appXXXXXXXXXXXXXX` (in the base's URL).",
                true,
            )
            .setting(
                "table.<entity>",
                "One per entity: the name or id (`tblXXXXXXXXXXXXXX`) of the table that \
                 backs entity `<entity>`, e.g. `table.tasks = Tasks`. At least one.",
                true,
            )
            .setting(
                "modified_field",
                "The name of a \"Last modified time\" field; records' updated-at and version \
                 come from it when the table has it, else from their creation time. \
                 Default `Last Modified`.",
                false,
            )
            .setting(
                webhook::SECRET_SETTING,
                "The name of the secret holding the webhook's `macSecretBase64`, the key of \
                 the `X-Airtable-Content-MAC` HMAC; bind it with the suffix `#base64` (e.g. \
                 `env:AIRTABLE_MAC#base64`) so the host keys the HMAC with the decoded bytes. \
                 Default `airtable_webhook_mac`.",
                false,
            )
            .setting(
                refresh::WEBHOOK_SETTING,
                "The id (`achXXXXXXXXXXXXXX`) of the base's webhook that notifies this job: the \
                 first read of each run refreshes it, since Airtable disables a webhook 7 days \
                 after its creation or last refresh. Needs the token scope `webhook:manage`.",
                false,
            )
    }

    fn configure(settings: Settings) -> Result<Self, ConnectorError> {
        Ok(Airtable {
            config: Config::from_settings(&settings)?,
            tables: RefCell::new(HashMap::new()),
            webhook_refreshed: Cell::new(false),
            ours: RefCell::new(recent::Recent::default()),
        })
    }

    fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError> {
        Ok(self.table(entity)?.to_entity_schema(entity))
    }

    fn read(&self, req: ReadRequest) -> Result<Page, ConnectorError> {
        self.keep_webhook_alive();
        let table_ref = self.config.table(&req.entity)?;
        let table = self.table(&req.entity)?;
        let mut state = CursorState::resume(req.cursor.as_deref(), req.since.as_deref())?;
        let url = query::list_url(
            &self.config.base_id,
            table_ref,
            query::page_size(req.page_size),
            state.offset.as_deref(),
            state.since.as_deref(),
        );
        let (body, date) = Call::get(url).send_dated()?;
        if req.cursor.is_none() {
            state.started = date;
        }
        read::build_page(&body, &table, &self.config.modified_field, state)
    }

    fn write(&self, entity: &str, ops: Vec<WriteOp>) -> Result<Vec<OpResult>, ConnectorError> {
        let table_ref = self.config.table(entity)?;
        let table = self.table(entity)?;
        let target = write::Target {
            base: &self.config.base_id,
            table_ref,
            table: &table,
            modified_field: &self.config.modified_field,
        };
        let mut ours = self.ours.borrow_mut();
        write::execute(&target, &ops, &mut ours, &mut |call: Call| call.exchange())
    }

    fn webhook(&self, req: WebhookRequest) -> Result<Vec<ChangeEvent>, ConnectorError> {
        webhook::handle(&req, &self.config.webhook_secret, &self.config, host_hmac)
    }
}

/// HMAC-SHA256 of `message` keyed with secret `name`, computed by the host.
fn host_hmac(name: &str, message: &[u8]) -> Result<Vec<u8>, String> {
    synchost_sdk::signature::hmac_sha256(name, message)
}

// Only for the component: natively, the export names (`synchost:connector/
// api@0.1.0#read`) are not valid in a linker version script, so a native
// cdylib with them does not link; the native build is for unit tests.
#[cfg(target_arch = "wasm32")]
synchost_sdk::export_connector!(Airtable);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_declares_origin_auth_rate_and_settings() {
        let d = Airtable::describe();
        assert_eq!(d.name, "airtable");
        assert_eq!(d.contract, "0.2.0");
        assert_eq!(d.hosts, vec!["https://api.airtable.com"]);
        assert!(d.entities.is_empty());
        assert!(matches!(&d.auth, AuthScheme::Bearer(s) if s == "airtable_token"));
        let rate = d.rate.as_ref().unwrap();
        assert_eq!(
            (rate.per_second, rate.burst, rate.daily_budget),
            (5.0, 1, None)
        );
        assert_eq!(
            d.capabilities,
            Capabilities::READ
                | Capabilities::WRITE
                | Capabilities::INCREMENTAL
                | Capabilities::WEBHOOKS
        );
        let names: Vec<&str> = d.settings.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "base_id",
                "table.<entity>",
                "modified_field",
                "webhook_secret",
                "webhook_id"
            ]
        );
        assert!(!d.settings[3].required && !d.settings[4].required);
    }

    #[test]
    fn configure_rejects_a_job_without_tables() {
        let settings = Settings::new(vec![("base_id".into(), "appB".into())]);
        assert!(matches!(
            Airtable::configure(settings),
            Err(ConnectorError::InvalidInput(_))
        ));
    }
}
