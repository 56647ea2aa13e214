//! # synchost connector for HubSpot
//!
//! Each entity is one HubSpot CRM object type (contacts, companies, deals),
//! named in the job's settings as `object.<entity> = <object type>` (without
//! such settings the entities are the three object types themselves). Records
//! are listed with the objects endpoint, read incrementally through the
//! search endpoint by their last-modified date, reported deleted through the
//! archived list, and written with the batch endpoints. Webhook deliveries
//! are verified with HubSpot's v3 signature (`webhook`). See README.md for
//! entities, settings, limits and the property mapping.
//!
//! All JSON <-> record translation lives in pure modules (`schema`, `read`,
//! `write`, `time`, and the error mapping in `api`) that are unit-tested
//! natively; this file only makes the requests.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Instant;

use serde_json::{json, Value};
use synchost_sdk::http::Request;
use synchost_sdk::prelude::*;
use synchost_sdk::{log, DeleteOp, UpdateOp};

pub mod api;
pub mod matching;
pub mod pace;
pub mod read;
pub mod schema;
pub mod time;
pub mod webhook;
pub mod write;

use read::{CursorState, Phase};
use schema::ObjectSchema;
use write::{Kind, Prepared};

/// Settings naming an entity's object type start with this: `object.people = contacts`.
pub const OBJECT_PREFIX: &str = "object.";
/// Settings narrowing an entity's properties: `properties.people = email,firstname`.
pub const PROPERTIES_PREFIX: &str = "properties.";
/// The secret the host puts in `Authorization: Bearer ...`: a private app's
/// access token ("Private apps": "Authorization: Bearer YOUR_TOKEN").
pub const TOKEN_SECRET: &str = "hubspot_token";
/// The object types this connector reads and writes.
pub const OBJECT_TYPES: [&str; 3] = ["contacts", "companies", "deals"];
/// The longest `properties` query parameter of a list request before the
/// connector lists ids only and reads the properties with `batch/read`.
pub const MAX_LIST_PROPERTIES: usize = 2_000;

/// One entity of the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub object_type: String,
    /// the `properties.<entity>` setting, if any
    pub properties: Option<Vec<String>>,
}

/// The last-modified property of an object type: `lastmodifieddate` on
/// contacts, `hs_lastmodifieddate` on the others (Search: "Searchable CRM
/// objects", the properties returned by default).
pub fn modified_property(object_type: &str) -> &'static str {
    match object_type {
        "contacts" => "lastmodifieddate",
        _ => "hs_lastmodifieddate",
    }
}

fn valid_property_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The entities of the job's settings: `object.<entity>` names each one's
/// object type; with none, every object type is an entity of its own name.
/// `properties.<entity>` narrows an entity's properties.
pub fn entities_from_settings(
    settings: &Settings,
) -> Result<BTreeMap<String, Entity>, ConnectorError> {
    let mut entities = BTreeMap::new();
    for (entity, object_type) in settings.with_prefix(OBJECT_PREFIX) {
        let (entity, object_type) = (entity.trim(), object_type.trim());
        if entity.is_empty() {
            return Err(ConnectorError::InvalidInput(format!(
                "setting `{OBJECT_PREFIX}` needs an entity name: `{OBJECT_PREFIX}<entity>`"
            )));
        }
        if !OBJECT_TYPES.contains(&object_type) {
            return Err(ConnectorError::InvalidInput(format!(
                "setting `{OBJECT_PREFIX}{entity}` must be one of {}, got `{object_type}`",
                OBJECT_TYPES.join(", ")
            )));
        }
        entities.insert(
            entity.to_string(),
            Entity {
                object_type: object_type.to_string(),
                properties: None,
            },
        );
    }
    if entities.is_empty() {
        for ty in OBJECT_TYPES {
            let entity = Entity {
                object_type: ty.to_string(),
                properties: None,
            };
            entities.insert(ty.to_string(), entity);
        }
    }
    for (entity, list) in settings.with_prefix(PROPERTIES_PREFIX) {
        let setting = format!("{PROPERTIES_PREFIX}{}", entity.trim());
        let target = entities.get_mut(entity.trim()).ok_or_else(|| {
            ConnectorError::InvalidInput(format!(
                "setting `{setting}` names an entity that is not configured"
            ))
        })?;
        let names: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if names.is_empty() || !names.iter().all(|n| valid_property_name(n)) {
            return Err(ConnectorError::InvalidInput(format!(
                "setting `{setting}` must be a comma-separated list of property names, got `{list}`"
            )));
        }
        target.properties = Some(names);
    }
    Ok(entities)
}

pub struct HubSpot {
    entities: BTreeMap<String, Entity>,
    /// object schemas retrieved during this run, by entity
    schemas: RefCell<HashMap<String, Rc<ObjectSchema>>>,
    /// the target URL and client-secret name that verify webhook deliveries
    webhook: webhook::Config,
    /// when this session's recent searches went out
    pacer: RefCell<pace::Pacer>,
}

impl HubSpot {
    fn entity(&self, name: &str) -> Result<&Entity, ConnectorError> {
        self.entities.get(name).ok_or_else(|| {
            ConnectorError::NotFound(format!(
                "unknown entity `{name}`: no setting `{OBJECT_PREFIX}{name}` (configured: {})",
                self.entities.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// The entity's properties, retrieved once per run.
    fn object_schema(&self, entity: &str) -> Result<Rc<ObjectSchema>, ConnectorError> {
        if let Some(schema) = self.schemas.borrow().get(entity) {
            return Ok(schema.clone());
        }
        let ent = self.entity(entity)?;
        let (body, _) = api::get(&format!("/crm/v3/properties/{}", ent.object_type))?;
        let mut schema = ObjectSchema::parse(entity, &body, ent.properties.as_deref())?;
        if ent.object_type == "contacts" {
            // "HubSpot uses email addresses to deduplicate contacts" (Contacts:
            // "Create contacts"), though the property says no `hasUniqueValue`.
            schema.mark_unique("email");
        }
        let schema = Rc::new(schema);
        self.schemas
            .borrow_mut()
            .insert(entity.to_string(), schema.clone());
        Ok(schema)
    }

    /// The full records of `objects` (ids from a list or search that asked for
    /// few properties), read with `batch/read` in their order. Records archived
    /// in between are left out: the archived list reports them.
    fn fetch(
        &self,
        object_type: &str,
        objects: &[Value],
        schema: &ObjectSchema,
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut out = Vec::with_capacity(objects.len());
        for chunk in objects.chunks(write::MAX_BATCH) {
            let inputs: Vec<Value> = chunk.iter().map(|o| json!({"id": o["id"]})).collect();
            let body = json!({"properties": read::read_names(schema), "inputs": inputs});
            let (resp, _) = api::post(
                &format!("/crm/v3/objects/{object_type}/batch/read?archived=false"),
                &body,
            )?;
            let mut by_id: HashMap<String, Value> = resp["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| Some((o["id"].as_str()?.to_string(), o.clone())))
                .collect();
            out.extend(
                chunk
                    .iter()
                    .filter_map(|o| o["id"].as_str().and_then(|id| by_id.remove(id))),
            );
        }
        Ok(out)
    }

    fn read_list(
        &self,
        mut state: CursorState,
        first: bool,
        ent: &Entity,
        schema: &ObjectSchema,
        page_size: u32,
    ) -> Result<Page, ConnectorError> {
        let archived = state.phase == Phase::Archived;
        let limit = read::page_size(page_size, read::MAX_LIST_LIMIT);
        let mut properties = if archived {
            Vec::new()
        } else {
            read::read_names(schema)
        };
        let ids_only = properties.join(",").len() > MAX_LIST_PROPERTIES;
        if ids_only {
            properties = vec![modified_property(&ent.object_type).to_string()];
        }
        let path = read::list_path(
            &ent.object_type,
            limit,
            state.after.as_deref(),
            archived,
            &properties,
        );
        let (mut body, date) = api::get(&path)?;
        if first {
            state.started = date;
        }
        if ids_only {
            let objects = body["results"].as_array().cloned().unwrap_or_default();
            body["results"] = Value::Array(self.fetch(&ent.object_type, &objects, schema)?);
        }
        let step = read::after_list(state, &body, schema)?;
        Ok(read::finish(step.items, &step.state, step.done))
    }

    fn read_search(
        &self,
        mut state: CursorState,
        first: bool,
        ent: &Entity,
        schema: &ObjectSchema,
        page_size: u32,
    ) -> Result<Page, ConnectorError> {
        let modified = modified_property(&ent.object_type);
        let mut limit = read::page_size(page_size, read::MAX_SEARCH_LIMIT);
        let mut body = read::search_body(&state, modified, limit, &read::read_names(schema));
        let ids_only = !read::fits(&body);
        if ids_only {
            // Too many properties for a search body: search for ids, then read them.
            log::debug(&format!(
                "{}: the properties do not fit a search body; reading them with batch/read",
                schema.entity
            ));
            limit = limit.min(write::MAX_BATCH as u32);
            body = read::search_body(&state, modified, limit, &[modified.to_string()]);
        }
        let (resp, date) = self.search(&ent.object_type, &body)?;
        if first {
            state.started = date;
        }
        let step = read::after_search(state, &resp, modified, limit)?;
        let objects = if ids_only && !step.items.is_empty() {
            self.fetch(&ent.object_type, &step.items, schema)?
        } else {
            step.items
        };
        let records = objects
            .iter()
            .map(|o| read::to_record(o, schema))
            .collect::<Result<Vec<_>, _>>()?;
        let records = read::with_merged(&objects, records);
        Ok(read::finish(records, &step.state, step.done))
    }

    /// One search, spaced from this session's others (see `pace`); a
    /// `SECONDLY` refusal that outlasted the host's retries is tried again.
    fn search(
        &self,
        object_type: &str,
        body: &Value,
    ) -> Result<(Value, Option<String>), ConnectorError> {
        let path = format!("/crm/v3/objects/{object_type}/search");
        let context = format!("POST {path}");
        let mut attempt = 0;
        loop {
            let wait = self.pacer.borrow_mut().wait(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            self.pacer.borrow_mut().sent(Instant::now());
            let resp = api::send_raw(Request::new("POST", &api::url(&path)).json(body))?;
            let secondly = resp.status == 429
                && api::parse_error_body(&resp.body).is_some_and(|e| e.category == "SECONDLY");
            if secondly && attempt < pace::RETRIES {
                attempt += 1;
                log::debug(&format!(
                    "{context}: HubSpot's search limit (SECONDLY); trying again ({attempt})"
                ));
                std::thread::sleep(pace::WINDOW);
                continue;
            }
            if let Some(err) = api::hubspot_error(&context, &resp) {
                return Err(err);
            }
            return Ok((resp.json(&context)?, resp.date()));
        }
    }

    /// Checks the ops that carry an expected version against the records'
    /// current `updatedAt` (one `batch/read` per 100 ids). Ops settled by the
    /// check get their outcome in `results` and leave `prepared`.
    fn check_versions(
        &self,
        object_type: &str,
        prepared: &mut Vec<Prepared>,
        expected: &HashMap<usize, String>,
        results: &mut [Option<OpResult>],
    ) -> Result<(), ConnectorError> {
        let mut ids: Vec<String> = prepared
            .iter()
            .filter(|p| expected.contains_key(&p.index))
            .filter_map(|p| p.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let modified = modified_property(object_type);
        let mut current = HashMap::new();
        for chunk in ids.chunks(write::MAX_BATCH) {
            let path = format!("/crm/v3/objects/{object_type}/batch/read?archived=false");
            let (body, _) = api::post(&path, &write::versions_body(chunk, modified))?;
            current.extend(write::versions(&body));
        }
        prepared.retain(|op| {
            let Some(want) = expected.get(&op.index) else {
                return true;
            };
            let now = op.id.as_ref().and_then(|id| current.get(id));
            match write::check_version(op, want, now) {
                Ok(None) => true,
                Ok(Some(done)) => {
                    results[op.index] = Some(Ok(done));
                    false
                }
                Err(e) => {
                    results[op.index] = Some(Err(e));
                    false
                }
            }
        });
        Ok(())
    }
}

fn record_id(id: &str) -> Result<String, ConnectorError> {
    if write::valid_id(id) {
        Ok(id.to_string())
    } else {
        Err(ConnectorError::InvalidInput(format!(
            "`{id}` is not a HubSpot record id"
        )))
    }
}

impl Connector for HubSpot {
    fn describe() -> Descriptor {
        Descriptor::new("hubspot", env!("CARGO_PKG_VERSION"))
            // The batch endpoints take 100 inputs a request.
            .max_batch(write::MAX_BATCH as u32)
            // The defaults; a job may name its own with `object.<entity>`.
            .entities(OBJECT_TYPES)
            .hosts([api::ORIGIN])
            .auth(AuthScheme::Bearer(TOKEN_SECRET.into()))
            // HubSpot: 10 requests per second per account (HubSpot staff,
            // integrate.hubspot.com/t/hubspot-api-secondly-limit/313), i.e. the
            // burst limit of 100 per 10 s of Free and Starter accounts, and a
            // daily limit of 250,000 requests on those accounts ("API usage
            // guidelines and limits"). Search has a limit of its own, which
            // the connector keeps to itself (`pace`): one hint cannot say it.
            .rate(10.0, 10, Some(250_000))
            .capabilities(
                Capabilities::READ
                    | Capabilities::WRITE
                    | Capabilities::INCREMENTAL
                    | Capabilities::DELETES
                    | Capabilities::WEBHOOKS,
            )
            .setting(
                "object.<entity>",
                "the HubSpot object type of entity <entity>: contacts, companies or deals \
                 (e.g. `object.people = contacts`); without any such setting the entities are \
                 contacts, companies and deals",
                false,
            )
            .setting(
                "properties.<entity>",
                "a comma-separated list of the properties of <entity> to read and write \
                 (e.g. `properties.people = email,firstname,lastname`); default: all of them",
                false,
            )
            .setting(
                webhook::URL_SETTING,
                "the target URL of the HubSpot app's webhook subscriptions, exactly as \
                 configured in the app (e.g. `https://sync.example.com/hooks/<sync_id>`): \
                 HubSpot signs it, so webhook deliveries are refused without it",
                false,
            )
            .setting(
                webhook::SECRET_SETTING,
                "the name of the secret holding the HubSpot app's client secret, the key of \
                 the `X-HubSpot-Signature-v3` HMAC; default `hubspot_client_secret`",
                false,
            )
    }

    fn configure(settings: Settings) -> Result<Self, ConnectorError> {
        Ok(HubSpot {
            entities: entities_from_settings(&settings)?,
            schemas: RefCell::default(),
            webhook: webhook::config_from_settings(&settings)?,
            pacer: RefCell::default(),
        })
    }

    fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError> {
        Ok(self.object_schema(entity)?.entity_schema())
    }

    fn read(&self, req: ReadRequest) -> Result<Page, ConnectorError> {
        let ent = self.entity(&req.entity)?;
        let state = CursorState::resume(req.cursor.as_deref(), req.since.as_deref())?;
        let schema = self.object_schema(&req.entity)?;
        let first = req.cursor.is_none();
        match state.phase {
            Phase::Active | Phase::Archived => {
                self.read_list(state, first, ent, &schema, req.page_size)
            }
            Phase::Search | Phase::Ties => {
                self.read_search(state, first, ent, &schema, req.page_size)
            }
        }
    }

    fn write(&self, entity: &str, ops: Vec<WriteOp>) -> Result<Vec<OpResult>, ConnectorError> {
        let ent = self.entity(entity)?;
        let schema = self.object_schema(entity)?;
        let mut results: Vec<Option<OpResult>> = vec![None; ops.len()];
        let mut prepared = Vec::with_capacity(ops.len());
        let mut expected = HashMap::new();
        for (index, op) in ops.into_iter().enumerate() {
            let (kind, id, properties, want) = match op {
                WriteOp::Create(fields) => (Kind::Create, Ok(None), schema.build(&fields), None),
                WriteOp::Update(UpdateOp {
                    id,
                    expected_version,
                    fields,
                }) => (
                    Kind::Update,
                    record_id(&id).map(Some),
                    schema.build(&fields),
                    expected_version,
                ),
                WriteOp::Delete(DeleteOp {
                    id,
                    expected_version,
                }) => (
                    Kind::Delete,
                    record_id(&id).map(Some),
                    Ok(Default::default()),
                    expected_version,
                ),
            };
            match (id, properties) {
                (Ok(id), Ok(properties)) => {
                    if let Some(want) = want {
                        expected.insert(index, want);
                    }
                    prepared.push(Prepared {
                        index,
                        kind,
                        id,
                        properties,
                    });
                }
                (Err(e), _) | (_, Err(e)) => results[index] = Some(Err(e)),
            }
        }
        if !expected.is_empty() {
            self.check_versions(&ent.object_type, &mut prepared, &expected, &mut results)?;
        }
        let base = format!("/crm/v3/objects/{}", ent.object_type);
        let batches = write::plan(&prepared);
        let outcomes = write::run(
            &prepared,
            batches,
            |action, body| {
                api::send_raw(
                    Request::new("POST", &api::url(&format!("{base}/batch/{action}"))).json(body),
                )
            },
            &format!("POST {base}"),
            &matching::Matcher::new(&schema),
        )?;
        for (index, outcome) in outcomes {
            results[index] = Some(outcome);
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(ConnectorError::Fatal("no outcome for this op".into())))
            })
            .collect())
    }

    fn webhook(&self, req: WebhookRequest) -> Result<Vec<ChangeEvent>, ConnectorError> {
        let delivery = webhook::handle(
            &req,
            &self.webhook,
            &self.entities,
            now_millis()?,
            synchost_sdk::signature::hmac_sha256,
        )?;
        if !delivery.ignored.is_empty() {
            log::debug(&format!(
                "HubSpot webhook: ignored {} event(s) of no configured entity ({})",
                delivery.ignored.len(),
                delivery.ignored.join(", ")
            ));
        }
        Ok(delivery.events)
    }
}

/// The wall clock in ms since the epoch (WASI's clock, which the host grants),
/// for the v3 signature's five-minute window.
fn now_millis() -> Result<i64, ConnectorError> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .map_err(|e| ConnectorError::Fatal(format!("the clock is before 1970: {e}")))
}

// The component's exports have names (`synchost:connector/api@0.1.0#read`)
// that a native linker rejects, so they exist only in the wasm build; native
// builds are for the unit tests.
#[cfg(target_arch = "wasm32")]
synchost_sdk::export_connector!(HubSpot);

#[cfg(test)]
mod tests;
