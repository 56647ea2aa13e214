//! A loaded connector and the sessions that run it.
//!
//! A [`LoadedConnector`] is compiled and linked once (`InstancePre`); every
//! run gets a [`Session`]: a fresh `Store` and instance, configured with the
//! job's connection, with its own memory limit and a wall-time deadline per
//! call. An instance that traps or runs out of time is never called again.

use std::sync::Arc;

use parking_lot::Mutex;

use wasmtime::component::Component;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::adapt::{self, Adapt};
use super::bindings::v0_1_0 as v1;
use super::bindings::v0_2_0::{self as v2, synchost::connector::types};
use super::engine::Source;
use super::error::{Limit, RuntimeError};
use super::imports::{CallRecord, HostState};
use super::policy::clip;

pub use types::{
    AuthScheme, BasicAuth, Capabilities, ChangeEvent, ChangeKind, CheckpointKind,
    ClientCredentials, DeleteOp, Descriptor, EntityInfo, EntitySchema, Field, FieldSchema,
    FieldType, FieldValue, Page, ReadRequest, Record, UpdateOp, WebhookRequest, WriteOp,
    WriteOutcome, Written,
};

/// A component linked once, by the contract it was built against.
#[derive(Clone)]
pub(super) enum Pre {
    V1(v1::ConnectorPre<HostState>),
    V2(v2::ConnectorPre<HostState>),
    /// a built-in side, run by the host itself ([`super::table`])
    Table(super::table::Kind),
}

/// One instance, by contract.
enum Instance {
    V1(v1::Connector),
    V2(v2::Connector),
    Table(Box<super::table::Table>),
}

impl WriteOutcome {
    /// Confirmed, or the error a person reads; an unknown outcome is a
    /// transient error here (it may have landed, and is worth reading again).
    pub fn into_result(self) -> Result<Written, types::ConnectorError> {
        match self {
            WriteOutcome::Written(w) => Ok(w),
            WriteOutcome::Failed(e) => Err(e),
            WriteOutcome::Unknown(why) => Err(types::ConnectorError::Transient(format!(
                "the outcome is unknown: {why}"
            ))),
        }
    }
}

/// One compiled, linked connector, ready to instantiate.
pub struct LoadedConnector {
    pub name: String,
    /// where it was loaded from, for messages
    pub origin: String,
    /// SHA-256 of the wasm
    pub hash: String,
    /// the contract version read from the component's exports
    pub contract: String,
    pub descriptor: Descriptor,
    pub source: Source,
    pub loaded_at: chrono::DateTime<chrono::Utc>,
    pub(super) pre: Pre,
}

/// Reads the contract version from the name of the component's exported API
/// (`synchost:connector/api@0.1.0`), not from what the guest claims.
pub fn contract_version(
    component: &Component,
    engine: &wasmtime::Engine,
    origin: &str,
) -> Result<String, RuntimeError> {
    let prefix = format!("{}/api@", super::bindings::PACKAGE);
    let ty = component.component_type();
    let found = ty
        .exports(engine)
        .find_map(|(name, _)| name.strip_prefix(&prefix).map(String::from));
    let version = found.ok_or_else(|| RuntimeError::Load {
        path: origin.into(),
        reason: format!("it does not export `{prefix}X.Y.Z`: is it a synchost connector?"),
    })?;
    if !super::bindings::SUPPORTED_CONTRACTS.contains(&version.as_str()) {
        return Err(RuntimeError::UnsupportedContract {
            path: origin.into(),
            found: version,
            supported: super::bindings::SUPPORTED_CONTRACTS.join(", "),
        });
    }
    Ok(version)
}

/// One instance of a connector, for one run.
pub struct Session {
    pub connector: Arc<LoadedConnector>,
    store: Store<HostState>,
    instance: Instance,
    poisoned: bool,
    calls: Arc<Mutex<Vec<CallRecord>>>,
    /// when the call in progress began, for the latency counters
    call_started: std::time::Instant,
}

impl Session {
    pub(super) async fn start(
        connector: Arc<LoadedConnector>,
        state: HostState,
        engine: &wasmtime::Engine,
    ) -> Result<Session, RuntimeError> {
        let calls = state.net.calls.clone();
        let timeout = state.net.limits.call_timeout;
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        // Every epoch tick the guest yields to the executor, so a connector
        // that loops never holds a thread from other tasks; past the call's
        // deadline the tick interrupts it instead (the wall-time limit).
        store.epoch_deadline_callback(|ctx| {
            Ok(if std::time::Instant::now() >= ctx.data().call_deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store.data_mut().call_deadline = deadline_after(timeout);
        store.set_epoch_deadline(1);
        let instantiated = tokio::time::timeout(timeout, async {
            match &connector.pre {
                Pre::V1(pre) => pre.instantiate_async(&mut store).await.map(Instance::V1),
                Pre::V2(pre) => pre.instantiate_async(&mut store).await.map(Instance::V2),
                Pre::Table(kind) => Ok(Instance::Table(Box::new(super::table::Table::new(*kind)))),
            }
        })
        .await;
        let instance = match instantiated {
            Ok(Ok(instance)) => instance,
            Ok(Err(e)) => return Err(classify_trap(&connector.name, "instantiate", &store, e)),
            Err(_) => {
                return Err(RuntimeError::LimitExceeded {
                    connector: connector.name.clone(),
                    limit: Limit::WallTime,
                    detail: format!("instantiation took longer than {timeout:?}"),
                })
            }
        };
        Ok(Session {
            connector,
            store,
            instance,
            poisoned: false,
            calls,
            call_started: std::time::Instant::now(),
        })
    }

    /// Every outbound HTTP call this session made, as logged.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.calls.lock().clone()
    }

    pub async fn describe(&mut self) -> Result<Descriptor, RuntimeError> {
        let timeout = self.begin()?;
        let store = &mut self.store;
        let out = match &self.instance {
            Instance::V2(i) => {
                let fut = i.synchost_connector_api().call_describe(store);
                tokio::time::timeout(timeout, fut).await.map(|r| r.map(Ok))
            }
            Instance::V1(i) => {
                let fut = i.synchost_connector_api().call_describe(store);
                tokio::time::timeout(timeout, fut)
                    .await
                    .map(|r| r.map(|d| Ok(d.adapt())))
            }
            Instance::Table(t) => Ok(Ok(Ok(t.describe()))),
        };
        self.finish("describe", out)
    }

    pub async fn configure(&mut self, settings: &[(String, String)]) -> Result<(), RuntimeError> {
        let timeout = self.begin()?;
        let store = &mut self.store;
        let out = match &mut self.instance {
            Instance::V2(i) => {
                let fut = i.synchost_connector_api().call_configure(store, settings);
                tokio::time::timeout(timeout, fut).await
            }
            Instance::V1(i) => {
                let fut = i.synchost_connector_api().call_configure(store, settings);
                tokio::time::timeout(timeout, fut).await.map(lift)
            }
            Instance::Table(t) => {
                t.configure(settings, &store.data().net.secrets);
                Ok(Ok(Ok(())))
            }
        };
        self.finish("configure", out)
    }

    /// The entities this connection reaches, after `configure`. A 0.1.0
    /// connector cannot be asked: its descriptor's list is the answer.
    pub async fn entities(&mut self) -> Result<Vec<EntityInfo>, RuntimeError> {
        if let Instance::V1(_) = &self.instance {
            // Not a call into the guest: no deadline, no latency counted.
            let listed = &self.connector.descriptor.entities;
            return Ok(listed
                .iter()
                .map(|name| EntityInfo {
                    name: name.clone(),
                    description: String::new(),
                })
                .collect());
        }
        let timeout = self.begin()?;
        if let Instance::Table(t) = &self.instance {
            let out = tokio::time::timeout(timeout, async { Ok(t.entities().await) }).await;
            return self.finish("entities", out);
        }
        let Instance::V2(instance) = &self.instance else {
            unreachable!("answered above")
        };
        let fut = instance
            .synchost_connector_api()
            .call_entities(&mut self.store);
        let out = tokio::time::timeout(timeout, fut).await;
        let entities: Vec<EntityInfo> = self.finish("entities", out)?;
        if entities.len() > MAX_RECORDS_PER_PAGE
            || entities
                .iter()
                .any(|e| e.name.len() + e.description.len() > MAX_VALUE)
        {
            self.poisoned = true;
            return Err(RuntimeError::LimitExceeded {
                connector: self.connector.name.clone(),
                limit: Limit::RecordSize,
                detail: format!(
                    "entities returned {} entries, or one over {MAX_VALUE} bytes",
                    entities.len()
                ),
            });
        }
        Ok(entities)
    }

    /// Whether `entity` is one the connection reaches ([`Session::entities`]);
    /// an empty list says the connector cannot tell, and lets it through.
    pub async fn check_entity(&mut self, entity: &str) -> Result<(), RuntimeError> {
        let entities = self.entities().await?;
        if entities.is_empty() || entities.iter().any(|e| e.name == entity) {
            return Ok(());
        }
        let names: Vec<&str> = entities.iter().map(|e| e.name.as_str()).collect();
        Err(RuntimeError::Config {
            connector: self.connector.name.clone(),
            reason: format!(
                "it has no entity `{}`; this connection reaches: {}",
                clip(entity, 200),
                clip(&names.join(", "), 2000)
            ),
        })
    }

    pub async fn schema(&mut self, entity: &str) -> Result<EntitySchema, RuntimeError> {
        let timeout = self.begin()?;
        let store = &mut self.store;
        let out = match &self.instance {
            Instance::V2(i) => {
                let fut = i.synchost_connector_api().call_schema(store, entity);
                tokio::time::timeout(timeout, fut).await
            }
            Instance::V1(i) => {
                let fut = i.synchost_connector_api().call_schema(store, entity);
                tokio::time::timeout(timeout, fut).await.map(lift)
            }
            Instance::Table(t) => {
                tokio::time::timeout(timeout, async { Ok(t.schema(entity).await) }).await
            }
        };
        self.finish("schema", out)
    }

    /// One page. Each record is checked against the record-size limit.
    pub async fn read(&mut self, req: &ReadRequest) -> Result<Page, RuntimeError> {
        let timeout = self.begin()?;
        let store = &mut self.store;
        let out = match &self.instance {
            Instance::V2(i) => {
                let fut = i.synchost_connector_api().call_read(store, req);
                tokio::time::timeout(timeout, fut).await
            }
            Instance::V1(i) => {
                let req = req.clone().adapt();
                let fut = i.synchost_connector_api().call_read(store, &req);
                tokio::time::timeout(timeout, fut).await.map(lift)
            }
            Instance::Table(t) => {
                tokio::time::timeout(timeout, async { Ok(t.read(req).await) }).await
            }
        };
        let page = self.finish("read", out)?;
        let max = self.store.data().net.limits.max_record_bytes;
        let too_big = if page.records.len() > MAX_RECORDS_PER_PAGE {
            Some(format!(
                "a page of {} records; the limit is {MAX_RECORDS_PER_PAGE}",
                page.records.len()
            ))
        } else if let Some(record) = page.records.iter().find(|r| r.id.len() > MAX_ID) {
            Some(format!(
                "a record has an id of {} bytes (it starts {}); the limit is {MAX_ID}",
                record.id.len(),
                clip(&record.id, 40)
            ))
        } else if let Some(record) = page.records.iter().find(|r| record_size(r) > max) {
            Some(format!(
                "record {} is {} bytes; the limit is {max}",
                clip(&record.id, 100),
                record_size(record)
            ))
        } else {
            [&page.next_cursor, &page.checkpoint]
                .into_iter()
                .flatten()
                .find(|text| text.len() > MAX_VALUE)
                .map(|text| {
                    format!(
                        "a cursor or checkpoint of {} bytes; the limit is {MAX_VALUE}",
                        text.len()
                    )
                })
        };
        if let Some(detail) = too_big {
            self.poisoned = true;
            return Err(RuntimeError::LimitExceeded {
                connector: self.connector.name.clone(),
                limit: Limit::RecordSize,
                detail,
            });
        }
        Ok(page)
    }

    /// Each op's outcome as a result: an unknown outcome is a transient
    /// error (see [`WriteOutcome::into_result`]).
    pub async fn write_results(
        &mut self,
        entity: &str,
        ops: &[WriteOp],
    ) -> Result<Vec<Result<Written, types::ConnectorError>>, RuntimeError> {
        let outcomes = self.write(entity, ops).await?;
        Ok(outcomes
            .into_iter()
            .map(WriteOutcome::into_result)
            .collect())
    }

    /// Each op's outcome, in order.
    pub async fn write(
        &mut self,
        entity: &str,
        ops: &[WriteOp],
    ) -> Result<Vec<WriteOutcome>, RuntimeError> {
        let timeout = self.begin()?;
        let store = &mut self.store;
        let out = match &self.instance {
            Instance::V2(i) => {
                let fut = i.synchost_connector_api().call_write(store, entity, ops);
                tokio::time::timeout(timeout, fut).await
            }
            Instance::V1(i) => {
                let ops: Vec<v1::synchost::connector::types::WriteOp> = ops.to_vec().adapt();
                let fut = i.synchost_connector_api().call_write(store, entity, &ops);
                tokio::time::timeout(timeout, fut)
                    .await
                    .map(|r| {
                        r.map(|r| r.map(|v| v.into_iter().map(adapt::outcome).collect::<Vec<_>>()))
                    })
                    .map(lift)
            }
            Instance::Table(t) => {
                tokio::time::timeout(timeout, async { Ok(t.write(entity, ops).await) }).await
            }
        };
        let results = self.finish("write", out)?;
        let oversized = results.iter().find(|o| match o {
            WriteOutcome::Written(w) => {
                w.id.len() > MAX_ID
                    || [&w.version, &w.updated_at]
                        .into_iter()
                        .flatten()
                        .any(|v| v.len() > MAX_VALUE)
            }
            WriteOutcome::Failed(_) => false,
            WriteOutcome::Unknown(why) => why.len() > MAX_VALUE,
        });
        if oversized.is_some() {
            self.poisoned = true;
            return Err(RuntimeError::LimitExceeded {
                connector: self.connector.name.clone(),
                limit: Limit::RecordSize,
                detail: format!(
                    "write returned an id over {MAX_ID} bytes, or a version over {MAX_VALUE}"
                ),
            });
        }
        let results = results
            .into_iter()
            .map(|r| match r {
                WriteOutcome::Failed(e) => WriteOutcome::Failed(bounded_error(e)),
                other => other,
            })
            .collect::<Vec<_>>();
        if results.len() != ops.len() {
            return Err(RuntimeError::Trap {
                connector: self.connector.name.clone(),
                call: "write".into(),
                detail: format!("returned {} outcomes for {} ops", results.len(), ops.len()),
            });
        }
        Ok(results)
    }

    pub async fn webhook(
        &mut self,
        req: &WebhookRequest,
    ) -> Result<Vec<ChangeEvent>, RuntimeError> {
        let timeout = self.begin()?;
        let store = &mut self.store;
        let out = match &self.instance {
            Instance::V2(i) => {
                let fut = i.synchost_connector_api().call_webhook(store, req);
                tokio::time::timeout(timeout, fut).await
            }
            Instance::V1(i) => {
                let req = req.clone().adapt();
                let fut = i.synchost_connector_api().call_webhook(store, &req);
                tokio::time::timeout(timeout, fut).await.map(lift)
            }
            Instance::Table(_) => Ok(Ok(Err(types::ConnectorError::InvalidInput(
                "a table side takes no webhooks".into(),
            )))),
        };
        let events = self.finish("webhook", out)?;
        let oversized = events.len() > MAX_RECORDS_PER_PAGE
            || events.iter().any(|e| {
                e.id.len() > MAX_ID
                    || e.entity.len() + e.id.len() + e.at.as_ref().map_or(0, String::len)
                        > MAX_VALUE
            });
        if oversized {
            self.poisoned = true;
            return Err(RuntimeError::LimitExceeded {
                connector: self.connector.name.clone(),
                limit: Limit::RecordSize,
                detail: format!(
                    "webhook returned {} events, or one with an id over {MAX_ID} bytes or over {MAX_VALUE} in all",
                    events.len()
                ),
            });
        }
        Ok(events)
    }

    fn timeout(&self) -> std::time::Duration {
        self.store.data().net.limits.call_timeout
    }

    /// Arms the wall-time deadline of one call and returns it.
    fn begin(&mut self) -> Result<std::time::Duration, RuntimeError> {
        if self.poisoned {
            return Err(RuntimeError::Poisoned {
                connector: self.connector.name.clone(),
            });
        }
        let timeout = self.timeout();
        self.store.data().net.counters.new_call();
        self.store.data_mut().call_deadline = deadline_after(timeout);
        self.store.set_epoch_deadline(1);
        self.call_started = std::time::Instant::now();
        Ok(timeout)
    }

    fn finish<T>(
        &mut self,
        call: &str,
        out: Result<
            wasmtime::Result<Result<T, types::ConnectorError>>,
            tokio::time::error::Elapsed,
        >,
    ) -> Result<T, RuntimeError> {
        let took = self.call_started.elapsed();
        self.store
            .data()
            .net
            .stats
            .call(&self.connector.name, call, took);
        self.flush_stderr();
        let name = self.connector.name.clone();
        match out {
            Err(_) => {
                self.poisoned = true;
                Err(RuntimeError::LimitExceeded {
                    connector: name,
                    limit: Limit::WallTime,
                    detail: format!("{call} took longer than {:?}", self.timeout()),
                })
            }
            Ok(Err(trap)) => {
                self.poisoned = true;
                Err(classify_trap(&name, call, &self.store, trap))
            }
            Ok(Ok(Err(error))) => Err(RuntimeError::Connector {
                connector: name,
                error: bounded_error(error),
            }),
            Ok(Ok(Ok(value))) => Ok(value),
        }
    }

    /// Logs what the guest wrote to stdout or stderr (a panic message, say).
    fn flush_stderr(&mut self) {
        let bytes = self.store.data().stderr.contents();
        if bytes.is_empty() {
            return;
        }
        let seen = self.store.data().stderr_seen;
        if bytes.len() > seen {
            let text = String::from_utf8_lossy(&bytes[seen..]);
            let text = self.store.data().net.secrets.scrub_str(&text);
            tracing::warn!(target: "synchost::connector", connector = %self.connector.name, "guest output: {}", text.trim_end());
            self.store.data_mut().stderr_seen = bytes.len();
        }
    }
}

/// A 0.1.0 call's answer in 0.2.0's types.
fn lift<T, U>(
    r: wasmtime::Result<Result<T, v1::synchost::connector::types::ConnectorError>>,
) -> wasmtime::Result<Result<U, types::ConnectorError>>
where
    T: Adapt<U>,
{
    r.map(|r| r.map(Adapt::adapt).map_err(Adapt::adapt))
}

/// `timeout` from now; a job may set an absurd timeout, which means "a year".
fn deadline_after(timeout: std::time::Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(365 * 86_400))
}

/// Most records in one page (and events in one webhook delivery).
const MAX_RECORDS_PER_PAGE: usize = 10_000;
/// Largest version, cursor or checkpoint a connector may return, bytes.
const MAX_VALUE: usize = 64 << 10;
/// Longest record id a connector may return, bytes. Ids are state keys (the
/// pairs' store takes keys under 64 KiB), and no platform's id comes near it.
pub const MAX_ID: usize = 4096;
/// Longest message of a connector's error or trap the host keeps, bytes.
const MAX_MESSAGE: usize = 4096;

/// The connector's error with its message cut to [`MAX_MESSAGE`]: it is
/// logged, stored in run reports and shown to people.
fn bounded_error(error: types::ConnectorError) -> types::ConnectorError {
    use types::ConnectorError as E;
    let cut = |m: String| clip(&m, MAX_MESSAGE);
    match error {
        E::Unauthorized(m) => E::Unauthorized(cut(m)),
        E::RateLimited(mut info) => {
            info.message = cut(info.message);
            E::RateLimited(info)
        }
        E::NotFound(m) => E::NotFound(cut(m)),
        E::Conflict(mut info) => {
            info.message = cut(info.message);
            info.id = clip(&info.id, MAX_MESSAGE);
            info.current_version = info.current_version.map(|v| clip(&v, MAX_MESSAGE));
            E::Conflict(info)
        }
        E::InvalidInput(m) => E::InvalidInput(cut(m)),
        E::Transient(m) => E::Transient(cut(m)),
        E::Fatal(m) => E::Fatal(cut(m)),
    }
}

fn classify_trap(
    connector: &str,
    call: &str,
    store: &Store<HostState>,
    error: wasmtime::Error,
) -> RuntimeError {
    let connector = connector.to_string();
    if store.data().limiter.hit == Some(Limit::Memory) {
        return RuntimeError::LimitExceeded {
            connector,
            limit: Limit::Memory,
            detail: format!(
                "{call} tried to grow memory past {} bytes",
                store.data().net.limits.memory_bytes
            ),
        };
    }
    if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
        return RuntimeError::LimitExceeded {
            connector,
            limit: Limit::WallTime,
            detail: format!(
                "{call} ran longer than {:?}",
                store.data().net.limits.call_timeout
            ),
        };
    }
    let output = String::from_utf8_lossy(&store.data().stderr.contents())
        .trim()
        .to_string();
    let output = store.data().net.secrets.scrub_str(&output);
    let output = clip(&output, MAX_MESSAGE);
    let detail = if output.is_empty() {
        format!("{error:#}")
    } else {
        format!("{error:#}; guest output: {output}")
    };
    RuntimeError::Trap {
        connector,
        call: call.into(),
        detail,
    }
}

/// Bytes of a record's field values, roughly as they crossed the boundary.
pub fn record_size(record: &Record) -> usize {
    record.id.len()
        + record
            .fields
            .iter()
            .map(|f| {
                f.name.len()
                    + match &f.value {
                        FieldValue::Null | FieldValue::Boolean(_) | FieldValue::Number(_) => 8,
                        FieldValue::Text(s)
                        | FieldValue::Date(s)
                        | FieldValue::Datetime(s)
                        | FieldValue::Select(s)
                        | FieldValue::Json(s) => s.len(),
                        FieldValue::MultiSelect(v) | FieldValue::Reference(v) => {
                            v.iter().map(String::len).sum()
                        }
                    }
            })
            .sum::<usize>()
}

impl Record {
    /// The value of field `name`, if the record has it.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    /// The text of field `name` when it is text-like (text, select, date, datetime).
    pub fn get_text(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            FieldValue::Text(s)
            | FieldValue::Select(s)
            | FieldValue::Date(s)
            | FieldValue::Datetime(s) => Some(s),
            _ => None,
        }
    }
}
