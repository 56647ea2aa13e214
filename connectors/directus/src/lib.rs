//! # synchost-connector-directus
//!
//! The Directus connector: each entity of a job is one collection of a
//! self-hosted (or Directus Cloud) instance, read and written through its
//! REST API (https://docs.directus.io/reference/introduction.html).
//!
//! - **Settings**: `url`, the instance's URL, which is also the origin the
//!   connector declares (`{{setting:url}}`: the host allows exactly the
//!   origin of the job's `url`); `collection.<entity>` per entity, else the
//!   collection called like the entity.
//! - **Auth**: a static token in the secret `directus_token`, sent by the
//!   host as `Authorization: Bearer`.
//! - **Reads** page by primary key; incremental reads filter on the
//!   `date-created`/`date-updated` fields and report deletions, which are hard
//!   deletes, from the activity log.
//! - **Writes**: batched creates, updates and deletes, with the version check
//!   Directus does not do itself.
//!
//! Modules: `config`, `schema` (fields and types), `convert` (values),
//! `query` (URLs), `api` (requests, errors), `read` (pages, cursor), `write`.
//! All but `api` and this file are pure and unit tested natively.

mod api;
pub mod config;
mod convert;
mod query;
mod read;
mod schema;
mod write;

#[cfg(test)]
mod write_tests;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use synchost_sdk::prelude::*;

use crate::config::Config;
use crate::read::{CursorState, Phase};
use crate::schema::Collection;

/// The connector's state for one run.
pub struct Directus {
    config: Config,
    /// collection -> its fields, fetched once per run
    collections: RefCell<HashMap<String, Rc<Collection>>>,
}

impl Directus {
    /// The fields of `entity`'s collection, from the cache or `/fields`.
    fn collection(&self, entity: &str) -> Result<Rc<Collection>, ConnectorError> {
        let name = self.config.collection(entity);
        if let Some(c) = self.collections.borrow().get(name) {
            return Ok(c.clone());
        }
        let req = http::get(&query::fields_url(&self.config.base, name));
        let body = match api::send_json(req, &format!("GET /fields/{name}")) {
            Ok((body, _)) => body,
            Err(e) if api::is_forbidden(&e) => return Err(self.explain_forbidden(entity, name, e)),
            Err(e) => return Err(e),
        };
        // An unknown collection is usually a 403, but some versions answer
        // an empty list.
        if body["data"].as_array().is_some_and(|d| d.is_empty()) {
            return Err(self.explain_forbidden(
                entity,
                name,
                ConnectorError::NotFound(format!("collection `{name}` has no fields")),
            ));
        }
        let c = schema::parse_fields(name, &body)
            .map_err(|e| errors::bad_body(&format!("GET /fields/{name}"), e))?;
        let c = Rc::new(c);
        self.collections
            .borrow_mut()
            .insert(name.to_string(), c.clone());
        Ok(c)
    }

    /// A 403 on a collection means it does not exist, or the token's role
    /// may not read it (Directus does not say which, to admins either): the
    /// list of collections the token can see tells them apart.
    fn explain_forbidden(&self, entity: &str, name: &str, err: ConnectorError) -> ConnectorError {
        let req = http::get(&query::collections_url(&self.config.base));
        let Ok((body, _)) = api::send_json(req, "GET /collections") else {
            return err;
        };
        let visible: Vec<&str> = body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["collection"].as_str())
            .filter(|c| !c.starts_with("directus_"))
            .collect();
        if visible.contains(&name) {
            return err;
        }
        ConnectorError::NotFound(format!(
            "collection `{name}` (entity `{entity}`) does not exist on {} or this token \
             cannot see it; collections it can see: {}",
            self.config.base,
            if visible.is_empty() {
                "none".to_string()
            } else {
                visible.join(", ")
            }
        ))
    }
}

impl Connector for Directus {
    fn describe() -> Descriptor {
        Descriptor::new("directus", env!("CARGO_PKG_VERSION"))
            // One `POST /items/{collection}` takes a batch of creates.
            .max_batch(write::CREATE_BATCH as u32)
            .entities(Vec::<String>::new())
            .hosts(["{{setting:url}}"])
            .auth(AuthScheme::Bearer("directus_token".into()))
            .capabilities(
                Capabilities::READ
                    | Capabilities::WRITE
                    | Capabilities::INCREMENTAL
                    | Capabilities::DELETES,
            )
            // Directus' default limiter allows 50 points per second per IP
            // (RATE_LIMITER_POINTS/DURATION,
            // https://docs.directus.io/self-hosted/config-options.html#rate-limiting),
            // and an instance is often configured lower: stay well under.
            .rate(10.0, 5, None)
            .setting(
                "url",
                "The Directus instance's URL, e.g. `https://cms.example.com`; the connector \
                 may reach this origin only.",
                true,
            )
            .setting(
                "collection.<entity>",
                "The collection that backs entity `<entity>`, e.g. `collection.tasks = \
                 project_tasks`. Default: the collection called like the entity.",
                false,
            )
    }

    fn configure(settings: Settings) -> Result<Self, ConnectorError> {
        Ok(Directus {
            config: Config::from_settings(&settings)?,
            collections: RefCell::new(HashMap::new()),
        })
    }

    /// Every collection the token can see (`GET /collections`, Directus'
    /// "List Collections"), as entities: a collection a `collection.<entity>`
    /// setting maps is listed under that entity's name. Folders (collections
    /// without a table, `schema: null`) and Directus' own `directus_*` are not.
    fn entities(&self) -> Result<Vec<EntityInfo>, ConnectorError> {
        // Unfiltered: `schema` (null for a folder) and `meta.note` are needed.
        let req = http::get(&format!("{}/collections", self.config.base));
        let (body, _) = api::send_json(req, "GET /collections")?;
        let mut out: Vec<EntityInfo> = Vec::new();
        for c in body["data"].as_array().into_iter().flatten() {
            let Some(name) = c["collection"].as_str() else {
                continue;
            };
            if name.starts_with("directus_") || c["schema"].is_null() {
                continue;
            }
            let mapped = self
                .config
                .collections
                .iter()
                .filter(|(_, col)| col == name);
            let mut entities: Vec<String> = mapped.map(|(e, _)| e.clone()).collect();
            if entities.is_empty() {
                entities.push(name.to_string());
            }
            for entity in entities {
                out.push(EntityInfo {
                    name: entity,
                    description: c["meta"]["note"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
        Ok(out)
    }

    fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError> {
        Ok(self.collection(entity)?.to_entity_schema(entity))
    }

    fn read(&self, req: ReadRequest) -> Result<Page, ConnectorError> {
        let c = self.collection(&req.entity)?;
        let mut state = CursorState::resume(req.cursor.as_deref(), req.since.as_deref())?;
        let limit = query::page_size(req.page_size);
        let base = &self.config.base;
        match state.phase {
            Phase::Items => {
                let url = query::items_url(
                    base,
                    &c,
                    limit,
                    state.after.as_ref(),
                    state.since.as_deref(),
                );
                let (body, resp) =
                    api::send_json(http::get(&url), &format!("GET /items/{}", c.name))?;
                if req.cursor.is_none() {
                    state.started = resp.date();
                }
                read::items_page(&c, &body, limit, state, true)
            }
            Phase::Deletions => {
                let since = state.since.clone().unwrap_or_default();
                let url = query::deletions_url(base, &c.name, &since, state.activity_after, limit);
                match api::send_json(http::get(&url), "GET /activity") {
                    Ok((body, _)) => read::deletions_page(&body, limit, state),
                    // A role without read access to the activity log still
                    // reads changes; its deletions are found by the host's
                    // full scans instead.
                    Err(ConnectorError::Unauthorized(why)) if why.contains("HTTP 403") => {
                        synchost_sdk::log::warn(&format!(
                            "this token may not read the activity log ({why}), so deletions \
                             in `{}` are not reported until a full scan; give its role read \
                             access to directus_activity",
                            c.name
                        ));
                        read::deletions_page(&serde_json::json!({"data": []}), limit, state)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    fn write(&self, entity: &str, ops: Vec<WriteOp>) -> Result<Vec<OpResult>, ConnectorError> {
        let c = self.collection(entity)?;
        let target = write::Target {
            base: &self.config.base,
            collection: &c,
        };
        write::execute(&target, ops, &mut |call: write::Call| {
            let mut req = http::Request::new(call.method, &call.url);
            if let Some(body) = &call.body {
                req = req.json(body);
            }
            let path = call.url.split('?').next().unwrap_or(&call.url).to_string();
            Ok(api::send_json(req, &format!("{} {path}", call.method))?.0)
        })
    }
}

// Only for the component: natively, the export names are not valid in a
// linker version script; the native build is for unit tests.
#[cfg(target_arch = "wasm32")]
synchost_sdk::export_connector!(Directus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_declares_the_instance_origin_auth_rate_and_settings() {
        let d = Directus::describe();
        assert_eq!(d.name, "directus");
        assert_eq!(d.hosts, vec!["{{setting:url}}"]);
        assert!(matches!(&d.auth, AuthScheme::Bearer(s) if s == "directus_token"));
        assert_eq!(
            d.capabilities,
            Capabilities::READ
                | Capabilities::WRITE
                | Capabilities::INCREMENTAL
                | Capabilities::DELETES
        );
        let rate = d.rate.unwrap();
        assert!(rate.per_second <= 50.0 && rate.per_second > 0.0);
        let names: Vec<&str> = d.settings.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["url", "collection.<entity>"]);
    }

    #[test]
    fn configure_needs_a_url() {
        assert!(matches!(
            Directus::configure(Settings::new(vec![])),
            Err(ConnectorError::InvalidInput(m)) if m.contains("url")
        ));
    }
}
