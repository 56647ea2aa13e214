//! # synchost connector for Salesforce
//!
//! Each entity is one sObject (`Contact`, `Account`, `Invoice__c`), named in
//! the job's settings as `object.<entity> = <sObject>`, in the org whose REST
//! API lives at the setting `instance_url`. Records are read with SOQL
//! (batches followed by `nextRecordsUrl`; a query too long for a URL goes
//! through a Composite request), incrementally by `SystemModstamp`, with
//! deletions from `getDeleted`; they are written with sObject Collections,
//! 200 a call. See README.md for settings, auth, limits and the type mapping.
//!
//! All JSON <-> record translation lives in pure modules (`schema`, `read`,
//! `deleted`, `write`, the error mapping in `api`, `time`) that are
//! unit-tested natively; this file and `fetch.rs` only make the requests.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;
use synchost_sdk::http::Request;
use synchost_sdk::prelude::*;

pub mod api;
pub mod config;
pub mod deleted;
mod fetch;
pub mod read;
pub mod schema;
pub mod time;
pub mod write;

use config::Config;
use schema::ObjectSchema;
use write::{Kind, Prepared};

/// The secret the host puts in `Authorization: Bearer ...`: an OAuth 2.0
/// access token, which the host refreshes.
pub const TOKEN_SECRET: &str = "salesforce_token";

/// Daily requests assumed when the job sets no rate of its own: a Developer
/// Edition org's allocation, the smallest of the editions with API access
/// ("API Request Limits and Allocations": Developer Edition 15,000;
/// Enterprise and Professional 100,000 plus 1,000 per license).
pub const DEFAULT_DAILY_BUDGET: u64 = 15_000;

pub struct Salesforce {
    config: Config,
    /// sObject describes retrieved during this run, by entity
    schemas: RefCell<HashMap<String, Rc<ObjectSchema>>>,
}

impl Salesforce {
    /// The sObject's describe, retrieved once per run.
    fn object_schema(&self, entity: &str) -> Result<Rc<ObjectSchema>, ConnectorError> {
        if let Some(schema) = self.schemas.borrow().get(entity) {
            return Ok(schema.clone());
        }
        let object = self.config.object(entity)?;
        let url = format!("{}/sobjects/{object}/describe", self.config.data_url());
        let describe = api::get(&url)?;
        let schema = Rc::new(ObjectSchema::from_describe(entity, &describe)?);
        self.schemas
            .borrow_mut()
            .insert(entity.to_string(), schema.clone());
        Ok(schema)
    }

    fn selected(&self, entity: &str, schema: &ObjectSchema) -> Result<Vec<String>, ConnectorError> {
        schema.selected(self.config.fields.get(entity).map(Vec::as_slice))
    }

    /// Checks the versions that update and delete ops expect, with one
    /// retrieve per 200 records; an op whose record moved on fails alone.
    fn check_versions(
        &self,
        schema: &ObjectSchema,
        ready: &mut Vec<(usize, Prepared)>,
        outcomes: &mut [Option<OpResult>],
    ) -> Result<(), ConnectorError> {
        let Some(stamp) = schema.modstamp() else {
            return Ok(());
        };
        let expecting: Vec<usize> = (0..ready.len())
            .filter(|&k| ready[k].1.expected.is_some())
            .collect();
        let mut failed = Vec::new();
        for chunk in expecting.chunks(write::MAX_BATCH) {
            let ids: Vec<&str> = chunk
                .iter()
                .map(|&k| ready[k].1.id.as_deref().unwrap_or_default())
                .collect();
            let url = write::retrieve_url(&self.config.data_url(), &schema.object, &ids, stamp);
            let rows = match api::get(&url) {
                Ok(Value::Array(rows)) if rows.len() == ids.len() => rows,
                Ok(other) => {
                    let err = ConnectorError::Fatal(format!(
                        "unexpected retrieve response: {}",
                        api::tidy(&other.to_string())
                    ));
                    failed.extend(chunk.iter().map(|&k| (k, err.clone())));
                    continue;
                }
                Err(err @ (ConnectorError::RateLimited(_) | ConnectorError::Unauthorized(_))) => {
                    return Err(err)
                }
                Err(err) => {
                    failed.extend(chunk.iter().map(|&k| (k, err.clone())));
                    continue;
                }
            };
            for (&k, row) in chunk.iter().zip(&rows) {
                let op = &ready[k].1;
                let id = op.id.as_deref().unwrap_or_default();
                let expected = op.expected.as_deref().unwrap_or_default();
                if let Err(err) = write::check_version(id, expected, row, stamp) {
                    failed.push((k, err));
                }
            }
        }
        failed.sort_by_key(|(k, _)| std::cmp::Reverse(*k));
        for (k, err) in failed {
            let (index, _) = ready.remove(k);
            outcomes[index] = Some(Err(err));
        }
        Ok(())
    }

    /// One sObject Collections call for the ops at `batch` (all of one kind).
    fn send_batch(
        &self,
        ready: &[(usize, Prepared)],
        batch: &[usize],
    ) -> Result<Vec<OpResult>, ConnectorError> {
        let ops: Vec<&Prepared> = batch.iter().map(|&k| &ready[k].1).collect();
        let ids: Vec<Option<&str>> = ops.iter().map(|p| p.id.as_deref()).collect();
        let data = self.config.data_url();
        let url = format!("{data}/composite/sobjects");
        let (method, url, req) = match ops[0].kind {
            Kind::Create | Kind::Update => {
                let method = if ops[0].kind == Kind::Create {
                    "POST"
                } else {
                    "PATCH"
                };
                let records = ops
                    .iter()
                    .map(|p| p.body.clone().unwrap_or_default())
                    .collect();
                let req = Request::new(method, &url).json(&write::collection_body(records));
                (method, url, req)
            }
            Kind::Delete => {
                let list: Vec<&str> = ids.iter().map(|i| i.unwrap_or_default()).collect();
                let url = write::delete_url(&data, &list);
                ("DELETE", url.clone(), Request::new("DELETE", &url))
            }
        };
        let resp = api::send(method, &url, req)?;
        let body = api::json(method, &url, &resp)?;
        let context = format!(
            "{method} /services/data/v{}/composite/sobjects",
            self.config.api_version
        );
        Ok(write::parse_results(&context, &body, &ids))
    }
}

impl Connector for Salesforce {
    fn describe() -> Descriptor {
        Descriptor::new("salesforce", env!("CARGO_PKG_VERSION"))
            // sObject Collections take 200 records a request.
            .max_batch(write::MAX_BATCH as u32)
            // Entities are the job's `object.<entity>` settings, unknown here.
            .entities(Vec::<String>::new())
            .hosts(config::HOSTS)
            .auth(AuthScheme::Bearer(TOKEN_SECRET.into()))
            // Salesforce meters a daily allocation, not a rate; 25 at once
            // matches the concurrent limit of production orgs (25 requests
            // of 20 s or more). The job's `rate_limit` sets the org's real
            // allocation.
            .rate(25.0, 25, Some(DEFAULT_DAILY_BUDGET))
            .capabilities(
                Capabilities::READ
                    | Capabilities::WRITE
                    | Capabilities::INCREMENTAL
                    | Capabilities::DELETES,
            )
            .setting(
                "instance_url",
                "the org's My Domain URL, `https://<MyDomainName>.my.salesforce.com` (the \
                 `instance_url` of its OAuth token response)",
                true,
            )
            .setting(
                "object.<entity>",
                "the API name of the sObject holding entity <entity>, one setting per entity \
                 (e.g. `object.contacts = Contact`, `object.invoices = Invoice__c`); at least one",
                true,
            )
            .setting(
                "fields.<entity>",
                "the fields of <entity> to read, comma-separated API names; default: every \
                 field of the sObject but base64 and compound (address, location) fields",
                false,
            )
            .setting(
                "api_version",
                "the REST API version, default `59.0` (at least 42.0)",
                false,
            )
    }

    fn configure(settings: Settings) -> Result<Self, ConnectorError> {
        Ok(Salesforce {
            config: Config::from_settings(&settings)?,
            schemas: RefCell::default(),
        })
    }

    fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError> {
        let schema = self.object_schema(entity)?;
        Ok(schema.entity_schema(&self.selected(entity, &schema)?))
    }

    fn read(&self, req: ReadRequest) -> Result<Page, ConnectorError> {
        let schema = self.object_schema(&req.entity)?;
        let selected = self.selected(&req.entity, &schema)?;
        self.read_page(
            &schema,
            &selected,
            req.cursor.as_deref(),
            req.since.as_deref(),
            req.page_size,
        )
    }

    fn write(&self, entity: &str, ops: Vec<WriteOp>) -> Result<Vec<OpResult>, ConnectorError> {
        let schema = self.object_schema(entity)?;
        let mut outcomes: Vec<Option<OpResult>> = (0..ops.len()).map(|_| None).collect();
        let mut ready = Vec::new();
        for (index, op) in ops.into_iter().enumerate() {
            match write::prepare(&schema, op) {
                Ok(prepared) => ready.push((index, prepared)),
                Err(err) => outcomes[index] = Some(Err(err)),
            }
        }
        self.check_versions(&schema, &mut ready, &mut outcomes)?;
        let kinds: Vec<Kind> = ready.iter().map(|(_, p)| p.kind).collect();
        let done = write::run_batches(write::batches(&kinds), |batch| {
            self.send_batch(&ready, batch)
        })?;
        for (k, outcome) in done {
            outcomes[ready[k].0] = Some(outcome);
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(ConnectorError::Fatal("op was not applied".into()))))
            .collect())
    }
}

// The component's exports have names (`synchost:connector/api@0.1.0#read`)
// that a native linker rejects, so they exist only in the wasm build; native
// builds are for the unit tests.
#[cfg(target_arch = "wasm32")]
synchost_sdk::export_connector!(Salesforce);

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
    fn describe_declares_hosts_auth_rate_and_capabilities() {
        let d = Salesforce::describe();
        assert_eq!(d.name, "salesforce");
        assert_eq!(d.contract, "0.2.0");
        assert!(d.entities.is_empty());
        assert_eq!(
            d.hosts,
            ["{{setting:instance_url}}", "https://login.salesforce.com"]
        );
        assert!(matches!(&d.auth, AuthScheme::Bearer(s) if s == "salesforce_token"));
        let rate = d.rate.as_ref().unwrap();
        assert_eq!(
            (rate.per_second, rate.burst, rate.daily_budget),
            (25.0, 25, Some(15_000))
        );
        assert_eq!(
            d.capabilities.bits(),
            (Capabilities::READ
                | Capabilities::WRITE
                | Capabilities::INCREMENTAL
                | Capabilities::DELETES)
                .bits()
        );
        assert_eq!((d.capabilities & Capabilities::WEBHOOKS).bits(), 0);
        let names: Vec<&str> = d.settings.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "instance_url",
                "object.<entity>",
                "fields.<entity>",
                "api_version"
            ]
        );
        assert!(d.settings[0].required && d.settings[1].required && !d.settings[2].required);
    }

    #[test]
    fn unknown_entities_are_not_found_before_any_request() {
        let sf = Salesforce::configure(settings(&[
            ("instance_url", "https://acme.my.salesforce.com"),
            ("object.contacts", "Contact"),
        ]))
        .unwrap();
        let read = sf.read(ReadRequest {
            entity: "nope".into(),
            cursor: None,
            since: None,
            page_size: 0,
        });
        assert!(matches!(read, Err(ConnectorError::NotFound(m)) if m.contains("`object.nope`")));
        assert!(matches!(
            sf.write("nope", vec![]),
            Err(ConnectorError::NotFound(_))
        ));
        assert!(matches!(
            sf.schema("nope"),
            Err(ConnectorError::NotFound(_))
        ));
    }

    #[test]
    fn configure_refuses_bad_settings() {
        assert!(matches!(
            Salesforce::configure(settings(&[("object.contacts", "Contact")])),
            Err(ConnectorError::InvalidInput(m)) if m.contains("`instance_url`")
        ));
    }
}
