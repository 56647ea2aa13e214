//! # synchost connector for Notion
//!
//! Each entity is one Notion data source, named in the job's settings as
//! `database.<entity> = <database id>` (a database of one data source) or
//! `data_source.<entity> = <data source id>` (see `targets`). Rows (pages) are
//! read with the data source query endpoint, incrementally by
//! `last_edited_time`, and written with the pages endpoints. See README.md for entities, settings, limits and
//! the property type mapping.
//!
//! All JSON <-> record translation lives in pure modules (`properties`,
//! `query`, `write`, and the error mapping in `api`) that are unit-tested
//! natively; this file only makes the requests.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use synchost_sdk::prelude::*;
use synchost_sdk::{log, UpdateOp};

pub mod api;
pub mod limits;
pub mod page_objects;
pub mod properties;
pub mod query;
pub mod schema;
pub mod targets;
pub mod webhook;
pub mod write;

use query::CursorState;
use schema::DbSchema;

pub use targets::{targets_from_settings, Target, DATABASE_PREFIX, DATA_SOURCE_PREFIX};

/// The secret the host puts in `Authorization: Bearer ...`.
pub const TOKEN_SECRET: &str = "notion_token";

pub struct Notion {
    /// entity name -> the database or data source the job names
    targets: BTreeMap<String, Target>,
    /// entity -> data source id, resolved once per run
    sources: RefCell<HashMap<String, String>>,
    /// data source schemas retrieved during this run, by entity
    schemas: RefCell<HashMap<String, Rc<DbSchema>>>,
    /// the secret holding the webhook subscription's `verification_token`
    webhook_secret: String,
}

impl Notion {
    fn target(&self, entity: &str) -> Result<&Target, ConnectorError> {
        self.targets.get(entity).ok_or_else(|| {
            ConnectorError::NotFound(format!(
                "unknown entity `{entity}`: no setting `{DATABASE_PREFIX}{entity}` or \
                 `{DATA_SOURCE_PREFIX}{entity}` (configured: {})",
                self.targets.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// The data source holding `entity`'s rows: as configured, or the one of
    /// the configured database (`GET /v1/databases/{id}`), once per run.
    fn data_source(&self, entity: &str) -> Result<String, ConnectorError> {
        if let Some(id) = self.sources.borrow().get(entity) {
            return Ok(id.clone());
        }
        let id = match self.target(entity)? {
            Target::DataSource(id) => id.clone(),
            Target::Database(db) => {
                let object = api::get(&format!("/v1/databases/{db}"))?;
                targets::data_source_of(entity, db, &object)?
            }
        };
        self.sources
            .borrow_mut()
            .insert(entity.to_string(), id.clone());
        Ok(id)
    }

    /// The data source's schema, retrieved once per run.
    fn db_schema(&self, entity: &str) -> Result<Rc<DbSchema>, ConnectorError> {
        if let Some(schema) = self.schemas.borrow().get(entity) {
            return Ok(schema.clone());
        }
        let id = self.data_source(entity)?;
        let object = api::get(&format!("/v1/data_sources/{id}"))?;
        let schema = Rc::new(DbSchema::from_database(entity, &object)?);
        self.schemas
            .borrow_mut()
            .insert(entity.to_string(), schema.clone());
        Ok(schema)
    }

    /// Fetches every reference of a relation or people property the page
    /// object may have cut short, from `GET /v1/pages/{id}/properties/{prop}`.
    fn all_references(
        &self,
        page_id: &str,
        property_id: &str,
        kind: query::RefKind,
    ) -> Result<Vec<serde_json::Value>, ConnectorError> {
        let mut items = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let body = api::get(&query::property_item_path(
                page_id,
                property_id,
                start.as_deref(),
            ))?;
            let (more, next) = query::parse_reference_items(&body, kind);
            items.extend(more);
            match next {
                Some(next) if Some(&next) != start.as_ref() => start = Some(next),
                _ => return Ok(items),
            }
        }
    }

    /// Checks `expected` against the page's current version, if one is expected.
    fn check_expected(&self, id: &str, expected: Option<&str>) -> Result<(), ConnectorError> {
        match expected {
            Some(expected) => {
                let current = api::get(&format!("/v1/pages/{id}"))?;
                write::check_version(id, expected, &current)
            }
            None => Ok(()),
        }
    }

    fn apply(&self, data_source_id: &str, schema: &DbSchema, op: WriteOp) -> OpResult {
        match op {
            WriteOp::Create(fields) => {
                let properties = schema.build_properties(&fields)?;
                let body = write::create_body(data_source_id, properties);
                let page = api::post("/v1/pages", &body)?;
                write::written(&page)
            }
            WriteOp::Update(UpdateOp {
                id,
                expected_version,
                fields,
            }) => {
                valid_page_id(&id)?;
                let properties = schema.build_properties(&fields)?;
                self.check_expected(&id, expected_version.as_deref())?;
                let page = api::patch(&format!("/v1/pages/{id}"), &write::update_body(properties))?;
                write::written(&page)
            }
            WriteOp::Delete(op) => {
                valid_page_id(&op.id)?;
                if let Some(expected) = op.expected_version.as_deref() {
                    let current = api::get(&format!("/v1/pages/{}", op.id))?;
                    // a delete retried after it went through is done, not stale
                    if write::in_trash(&current) {
                        return write::written(&current);
                    }
                    write::check_version(&op.id, expected, &current)?;
                }
                let page = api::patch(&format!("/v1/pages/{}", op.id), &write::trash_body())?;
                write::written(&page)
            }
        }
    }
}

fn valid_page_id(id: &str) -> Result<(), ConnectorError> {
    if api::valid_id(id) {
        Ok(())
    } else {
        Err(ConnectorError::InvalidInput(format!(
            "`{id}` is not a Notion page id"
        )))
    }
}

impl Connector for Notion {
    fn describe() -> Descriptor {
        Descriptor::new("notion", env!("CARGO_PKG_VERSION"))
            // Entities are the job's `database.<entity>` settings, unknown here.
            .entities(Vec::<String>::new())
            .hosts([api::ORIGIN])
            .auth(AuthScheme::Bearer(TOKEN_SECRET.into()))
            // Notion documents an average of 3 requests per second per integration.
            .rate(3.0, 10, None)
            // Not DELETES: the query endpoint does not return trashed pages,
            // so reads cannot report tombstones (see README.md).
            .capabilities(
                Capabilities::READ
                    | Capabilities::WRITE
                    | Capabilities::INCREMENTAL
                    | Capabilities::WEBHOOKS,
            )
            .setting(
                "database.<entity>",
                "the id of the Notion database holding entity <entity>, one setting per \
                 entity (e.g. `database.tasks`); at least one of this or \
                 `data_source.<entity>` is required. The database must be shared with the \
                 integration and hold one data source.",
                true,
            )
            .setting(
                "data_source.<entity>",
                "the id of the Notion data source holding entity <entity>, in place of \
                 `database.<entity>`: required for a database of several data sources \
                 (Notion: database settings, Manage data sources, Copy data source ID).",
                false,
            )
            .setting(
                webhook::SECRET_SETTING,
                "the name of the secret holding the webhook subscription's \
                 `verification_token`, the key of the `X-Notion-Signature` HMAC; \
                 default `notion_webhook_secret`.",
                false,
            )
    }

    fn configure(settings: Settings) -> Result<Self, ConnectorError> {
        Ok(Notion {
            targets: targets_from_settings(&settings)?,
            sources: RefCell::default(),
            schemas: RefCell::default(),
            webhook_secret: webhook_secret_from_settings(&settings)?,
        })
    }

    fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError> {
        Ok(self.db_schema(entity)?.entity_schema())
    }

    fn read(&self, req: ReadRequest) -> Result<Page, ConnectorError> {
        let source = self.data_source(&req.entity)?;
        let mut state = CursorState::resume(req.cursor.as_deref(), req.since.as_deref())?;
        let body = query::query_body(query::page_size(req.page_size), &state);
        let path = format!("/v1/data_sources/{source}/query");
        let (response, date) = api::post_dated(&path, &body)?;
        if req.cursor.is_none() {
            state.started = date;
        }
        let mut page = query::parse_query_bytes(&response, &format!("POST {path}"))?;
        for cut in std::mem::take(&mut page.truncated) {
            log::debug(&format!(
                "page {}: {} `{}` may hold more than the page object shows; fetching all",
                cut.page_id,
                cut.kind.notion_type(),
                cut.field
            ));
            let items = self.all_references(&cut.page_id, &cut.property_id, cut.kind)?;
            query::set_references(&mut page.records[cut.record], &cut.field, cut.kind, items);
        }
        Ok(query::finish(state, page))
    }

    fn write(&self, entity: &str, ops: Vec<WriteOp>) -> Result<Vec<OpResult>, ConnectorError> {
        let schema = self.db_schema(entity)?;
        let source = self.data_source(entity)?;
        write::run_ops(ops, |op| self.apply(&source, &schema, op))
    }

    fn webhook(&self, req: WebhookRequest) -> Result<Vec<ChangeEvent>, ConnectorError> {
        // Events name a page's database, and its data source from 2025-09-03.
        let ids: BTreeMap<String, String> = self
            .targets
            .iter()
            .map(|(entity, target)| (entity.clone(), target.id().to_string()))
            .collect();
        match webhook::handle(&req, &self.webhook_secret, &ids, host_hmac)? {
            webhook::Delivery::Verification => {
                // The token is a secret: say what arrived, never its value.
                log::info(&format!(
                    "received Notion's webhook subscription verification request (its \
                     `verification_token` is not logged); paste the token into the \
                     subscription's Verify dialog and bind it to the secret `{}`",
                    self.webhook_secret
                ));
                Ok(Vec::new())
            }
            webhook::Delivery::Events(events) => {
                if events.is_empty() {
                    log::debug("Notion webhook event is not about a page of a configured database: ignored");
                }
                Ok(events)
            }
        }
    }
}

/// The secret name in setting `webhook_secret`, or the default.
pub fn webhook_secret_from_settings(settings: &Settings) -> Result<String, ConnectorError> {
    match settings.get(webhook::SECRET_SETTING).map(str::trim) {
        None => Ok(webhook::DEFAULT_SECRET.to_string()),
        Some("") => Err(ConnectorError::InvalidInput(format!(
            "setting `{}` is empty: name the secret holding the webhook \
             verification token, or leave the setting out for `{}`",
            webhook::SECRET_SETTING,
            webhook::DEFAULT_SECRET
        ))),
        Some(name) => Ok(name.to_string()),
    }
}

/// HMAC-SHA256 of `message` keyed with secret `name`, computed by the host.
fn host_hmac(name: &str, message: &[u8]) -> Result<Vec<u8>, String> {
    synchost_sdk::signature::hmac_sha256(name, message)
}

// The component's exports have names (`synchost:connector/api@0.1.0#read`)
// that a native linker rejects, so they exist only in the wasm build; native
// builds are for the unit tests.
#[cfg(target_arch = "wasm32")]
synchost_sdk::export_connector!(Notion);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn describe_declares_host_auth_rate_and_capabilities() {
        let d = Notion::describe();
        assert_eq!(d.name, "notion");
        assert_eq!(d.contract, "0.2.0");
        assert!(d.entities.is_empty());
        assert_eq!(d.hosts, ["https://api.notion.com"]);
        assert!(matches!(&d.auth, AuthScheme::Bearer(s) if s == "notion_token"));
        let rate = d.rate.as_ref().unwrap();
        assert_eq!(
            (rate.per_second, rate.burst, rate.daily_budget),
            (3.0, 10, None)
        );
        assert_eq!(
            d.capabilities.bits(),
            (Capabilities::READ
                | Capabilities::WRITE
                | Capabilities::INCREMENTAL
                | Capabilities::WEBHOOKS)
                .bits()
        );
        assert_eq!((d.capabilities & Capabilities::DELETES).bits(), 0);
        let names: Vec<&str> = d.settings.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "database.<entity>",
                "data_source.<entity>",
                "webhook_secret"
            ]
        );
        assert!(d.settings[0].required && !d.settings[1].required && !d.settings[2].required);
    }

    #[test]
    fn webhook_secret_defaults_and_can_be_renamed() {
        let db = ("database.tasks", "1c2f0e2a7d3b4c5e9f000123456789ab");
        let notion = Notion::configure(settings(&[db])).unwrap();
        assert_eq!(notion.webhook_secret, "notion_webhook_secret");
        let notion = Notion::configure(settings(&[db, ("webhook_secret", " hooks ")])).unwrap();
        assert_eq!(notion.webhook_secret, "hooks");
        let empty = Notion::configure(settings(&[db, ("webhook_secret", "")]));
        assert!(
            matches!(&empty, Err(ConnectorError::InvalidInput(m)) if m.contains("`webhook_secret`"))
        );
    }

    #[test]
    fn unknown_entity_is_not_found() {
        let notion = Notion::configure(settings(&[("database.tasks", "abc")])).unwrap();
        assert!(
            matches!(notion.target("nope"), Err(ConnectorError::NotFound(m)) if m.contains("`database.nope`"))
        );
        assert_eq!(notion.target("tasks").unwrap().id(), "abc");
        let read = notion.read(ReadRequest {
            entity: "nope".into(),
            cursor: None,
            since: None,
            page_size: 0,
        });
        assert!(matches!(read, Err(ConnectorError::NotFound(_))));
        assert!(matches!(
            notion.write("nope", vec![]),
            Err(ConnectorError::NotFound(_))
        ));
    }
}
