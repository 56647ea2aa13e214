//! # synchost connector for Notion
//!
//! Each entity is one Notion database, named in the job's settings as
//! `database.<entity> = <database id>`. Rows (pages) are read with the
//! database query endpoint, incrementally by `last_edited_time`, and written
//! with the pages endpoints. See README.md for entities, settings, limits and
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
pub mod properties;
pub mod query;
pub mod schema;
pub mod webhook;
pub mod write;

use query::CursorState;
use schema::DbSchema;

/// Settings naming a database start with this: `database.tasks = 1c2f...`.
pub const DATABASE_PREFIX: &str = "database.";

/// The secret the host puts in `Authorization: Bearer ...`.
pub const TOKEN_SECRET: &str = "notion_token";

pub struct Notion {
    /// entity name -> Notion database id
    databases: BTreeMap<String, String>,
    /// database schemas retrieved during this run, by entity
    schemas: RefCell<HashMap<String, Rc<DbSchema>>>,
    /// the secret holding the webhook subscription's `verification_token`
    webhook_secret: String,
}

/// The entity -> database map from the job's settings. At least one
/// `database.<entity>` is required; each needs an entity name and an id.
pub fn databases_from_settings(
    settings: &Settings,
) -> Result<BTreeMap<String, String>, ConnectorError> {
    let mut databases = BTreeMap::new();
    for (entity, id) in settings.with_prefix(DATABASE_PREFIX) {
        let entity = entity.trim();
        let id = id.trim();
        if entity.is_empty() {
            return Err(ConnectorError::InvalidInput(format!(
                "setting `{DATABASE_PREFIX}` needs an entity name: `{DATABASE_PREFIX}<entity>`"
            )));
        }
        if !api::valid_id(id) {
            return Err(ConnectorError::InvalidInput(format!(
                "setting `{DATABASE_PREFIX}{entity}` must be a Notion database id \
                 (32 hex digits, dashes allowed), got `{id}`"
            )));
        }
        databases.insert(entity.to_string(), id.to_string());
    }
    if databases.is_empty() {
        return Err(ConnectorError::InvalidInput(format!(
            "missing setting `{DATABASE_PREFIX}<entity>`: name at least one Notion database, \
             e.g. `{DATABASE_PREFIX}tasks = <database id>`"
        )));
    }
    Ok(databases)
}

impl Notion {
    fn database(&self, entity: &str) -> Result<&str, ConnectorError> {
        self.databases.get(entity).map(String::as_str).ok_or_else(|| {
            ConnectorError::NotFound(format!(
                "unknown entity `{entity}`: no setting `{DATABASE_PREFIX}{entity}` (configured: {})",
                self.databases.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// The database's schema, retrieved once per run.
    fn db_schema(&self, entity: &str) -> Result<Rc<DbSchema>, ConnectorError> {
        if let Some(schema) = self.schemas.borrow().get(entity) {
            return Ok(schema.clone());
        }
        let id = self.database(entity)?;
        let db = api::get(&format!("/v1/databases/{id}"))?;
        let schema = Rc::new(DbSchema::from_database(entity, &db)?);
        self.schemas
            .borrow_mut()
            .insert(entity.to_string(), schema.clone());
        Ok(schema)
    }

    /// Fetches every reference of a relation the page object cut short.
    fn all_references(
        &self,
        page_id: &str,
        property_id: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        let mut ids = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let body = api::get(&query::property_item_path(
                page_id,
                property_id,
                start.as_deref(),
            ))?;
            let (more, next) = query::parse_relation_items(&body);
            ids.extend(more);
            match next {
                Some(next) if Some(&next) != start.as_ref() => start = Some(next),
                _ => return Ok(ids),
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

    fn apply(&self, database_id: &str, schema: &DbSchema, op: WriteOp) -> OpResult {
        match op {
            WriteOp::Create(fields) => {
                let properties = schema.build_properties(&fields)?;
                let page = api::post("/v1/pages", &write::create_body(database_id, properties))?;
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
                 entity (e.g. `database.tasks`); at least one is required. The database \
                 must be shared with the integration.",
                true,
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
            databases: databases_from_settings(&settings)?,
            schemas: RefCell::default(),
            webhook_secret: webhook_secret_from_settings(&settings)?,
        })
    }

    fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError> {
        Ok(self.db_schema(entity)?.entity_schema())
    }

    fn read(&self, req: ReadRequest) -> Result<Page, ConnectorError> {
        let database_id = self.database(&req.entity)?;
        let mut state = CursorState::resume(req.cursor.as_deref(), req.since.as_deref())?;
        let body = query::query_body(query::page_size(req.page_size), &state);
        let (response, date) =
            api::post_dated(&format!("/v1/databases/{database_id}/query"), &body)?;
        if req.cursor.is_none() {
            state.started = date;
        }
        let mut page = query::parse_query_response(&response)?;
        for cut in std::mem::take(&mut page.truncated) {
            log::debug(&format!(
                "page {}: relation `{}` has more than the page object holds; fetching all",
                cut.page_id, cut.field
            ));
            let ids = self.all_references(&cut.page_id, &cut.property_id)?;
            query::set_references(&mut page.records[cut.record], &cut.field, ids);
        }
        Ok(query::finish(state, page))
    }

    fn write(&self, entity: &str, ops: Vec<WriteOp>) -> Result<Vec<OpResult>, ConnectorError> {
        let database_id = self.database(entity)?;
        let schema = self.db_schema(entity)?;
        write::run_ops(ops, |op| self.apply(database_id, &schema, op))
    }

    fn webhook(&self, req: WebhookRequest) -> Result<Vec<ChangeEvent>, ConnectorError> {
        match webhook::handle(&req, &self.webhook_secret, &self.databases, host_hmac)? {
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
        assert_eq!(d.contract, "0.1.0");
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
        assert_eq!(names, ["database.<entity>", "webhook_secret"]);
        assert!(d.settings[0].required && !d.settings[1].required);
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
    fn settings_map_entities_to_databases() {
        let map = databases_from_settings(&settings(&[
            ("database.tasks", "1c2f0e2a7d3b4c5e9f000123456789ab"),
            ("database.people", " 1c2f0e2a-7d3b-4c5e-9f00-0123456789ac "),
            ("other", "x"),
        ]))
        .unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map["tasks"], "1c2f0e2a7d3b4c5e9f000123456789ab");
        assert_eq!(map["people"], "1c2f0e2a-7d3b-4c5e-9f00-0123456789ac");
    }

    #[test]
    fn settings_errors_name_the_setting() {
        let missing = databases_from_settings(&settings(&[("other", "x")])).unwrap_err();
        assert!(
            matches!(&missing, ConnectorError::InvalidInput(m) if m.contains("`database.<entity>`"))
        );
        let bad = databases_from_settings(&settings(&[("database.tasks", "../../v1/users")]))
            .unwrap_err();
        assert!(matches!(&bad, ConnectorError::InvalidInput(m) if m.contains("`database.tasks`")));
        let nameless = databases_from_settings(&settings(&[("database.", "abc")])).unwrap_err();
        assert!(matches!(nameless, ConnectorError::InvalidInput(_)));
    }

    #[test]
    fn unknown_entity_is_not_found() {
        let notion = Notion::configure(settings(&[("database.tasks", "abc")])).unwrap();
        assert!(
            matches!(notion.database("nope"), Err(ConnectorError::NotFound(m)) if m.contains("`database.nope`"))
        );
        assert_eq!(notion.database("tasks").unwrap(), "abc");
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
