//! Built-in sides: an application's own table, in PostgreSQL
//! (`"connector": "postgres"`) or in a SQLite file (`"connector": "sqlite"`).
//! A WASM connector reaches platforms over HTTP only; these run in the host
//! and speak the same contract (describe, schema, read, write), so the sync
//! core treats them as any other side.
//!
//! The job's entity is the table (`public.tasks`, or `tasks`). Its
//! connection names:
//! - `key` (setting, default `id`): the column that identifies a row; a key
//!   with a default (serial, identity, a generated UUID) is made by the
//!   database on a create, any other is a field the sync writes;
//! - `updated_at` (setting, optional): a timestamp column the application
//!   moves on every change. With it, reads are incremental and writes check
//!   it (a row changed since it was read is refused as a conflict, and read
//!   again); without it, every read is a full scan, compared with what was
//!   last synced, which also finds deletes;
//! - PostgreSQL: the secret `database_url` (`postgres://user@host/db`, from
//!   the environment or the secrets file: never in the job); SQLite: the
//!   setting `path` of the database file.
//!
//! Values are typed from the table's columns: text, numbers (integer,
//! numeric, real), boolean, date, timestamp (with or without time zone),
//! JSON, and text arrays (a multi-select).

mod postgres;
mod sqlite;

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::connector::{AuthScheme, Field, Record};
use super::connector::{
    Capabilities, CheckpointKind, Descriptor, EntityInfo, EntitySchema, FieldSchema, FieldType,
    FieldValue, Page, ReadRequest, WriteOp, WriteOutcome,
};
use super::secrets::Secrets;
use crate::runtime::bindings::v0_2_0::synchost::connector::types::{ConnectorError, SettingSpec};

/// Which database a built-in side speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Sqlite,
}

impl Kind {
    /// The built-in called `name` in a job, if there is one.
    pub fn named(name: &str) -> Option<Kind> {
        match name {
            "postgres" => Some(Kind::Postgres),
            "sqlite" => Some(Kind::Sqlite),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Sqlite => "sqlite",
        }
    }

    pub fn descriptor(self) -> Descriptor {
        let setting = |name: &str, description: &str, required| SettingSpec {
            name: name.into(),
            description: description.into(),
            required,
        };
        let mut settings = vec![
            setting("key", "the key column (default `id`)", false),
            setting(
                "updated_at",
                "a timestamp column moved on every change: incremental reads and checked writes",
                false,
            ),
        ];
        settings.push(setting(
            "tombstones",
            "the tombstone table `synchost table prepare` made: deletes found between full scans",
            false,
        ));
        if self == Kind::Sqlite {
            settings.push(setting("path", "the SQLite database file", true));
        }
        Descriptor {
            name: self.name().into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract: "0.2.0".into(),
            entities: Vec::new(),
            capabilities: Capabilities::READ
                | Capabilities::WRITE
                | Capabilities::INCREMENTAL
                | Capabilities::DELETES,
            hosts: Vec::new(),
            auth: AuthScheme::None,
            rate: None,
            settings,
            checkpoint: CheckpointKind::Timestamp,
            max_batch: Some(500),
        }
    }
}

/// How a column's values are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    Text,
    Number,
    Boolean,
    Date,
    Timestamp,
    Json,
    TextArray,
}

impl ColumnKind {
    fn field_type(self) -> FieldType {
        match self {
            ColumnKind::Text => FieldType::Text,
            ColumnKind::Number => FieldType::Number,
            ColumnKind::Boolean => FieldType::Boolean,
            ColumnKind::Date => FieldType::Date,
            ColumnKind::Timestamp => FieldType::Datetime,
            ColumnKind::Json => FieldType::Json,
            ColumnKind::TextArray => FieldType::MultiSelect,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    pub kind: ColumnKind,
    /// the database's own type name (for casts)
    pub sql_type: String,
    /// the database fills it when a row is inserted without it
    pub has_default: bool,
}

/// A table as the side sees it, once configured and looked up.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    /// the table, quoted for SQL (`"public"."tasks"`)
    pub table: String,
    /// the table as its tombstones name it (`public.tasks`; SQLite: `tasks`)
    pub qualified: String,
    /// the tombstone table `synchost table prepare` made, if the
    /// connection names one (setting `tombstones`)
    pub tombstones: Option<String>,
    pub key: Column,
    pub updated_at: Option<Column>,
    /// every other column: the fields
    pub fields: Vec<Column>,
}

impl Shape {
    /// `entity`'s columns as a side sees them: its key and `updated_at`
    /// columns taken out by name, every other one a field.
    fn of(
        entity: &str,
        qualified: String,
        mut columns: Vec<Column>,
        key: &str,
        updated_at: Option<&str>,
    ) -> Result<Shape, ConnectorError> {
        let mut take = |name: &str, what: &str| {
            let at = columns.iter().position(|c| c.name == name).ok_or_else(|| {
                invalid(format!(
                    "table `{entity}` has no column `{name}` (its {what})"
                ))
            })?;
            Ok::<_, ConnectorError>(columns.remove(at))
        };
        let key = take(key, "key")?;
        let updated_at = match updated_at {
            Some(name) => Some(take(name, "updated_at")?),
            None => None,
        };
        Ok(Shape {
            table: quoted(entity),
            qualified,
            tombstones: None,
            key,
            updated_at,
            fields: columns,
        })
    }

    /// Columns a create writes (the key too when the database does not make it).
    fn writable(&self) -> impl Iterator<Item = &Column> {
        let key = (!self.key.has_default).then_some(&self.key);
        key.into_iter().chain(&self.fields)
    }
}

/// Quotes an identifier: `a.b` is schema `a`, table `b`.
pub(crate) fn quoted(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

enum Backend {
    Postgres(postgres::Pg),
    Sqlite(sqlite::Lite),
}

/// One session of a built-in side.
pub struct Table {
    kind: Kind,
    settings: BTreeMap<String, String>,
    database_url: Option<String>,
    backend: tokio::sync::Mutex<Option<(Backend, Option<Shape>)>>,
    /// the newest `updated_at` seen by this session's read so far
    newest: parking_lot::Mutex<Option<String>>,
}

fn invalid(message: impl Into<String>) -> ConnectorError {
    ConnectorError::InvalidInput(message.into())
}

impl Table {
    pub fn new(kind: Kind) -> Table {
        Table {
            kind,
            settings: BTreeMap::new(),
            database_url: None,
            backend: tokio::sync::Mutex::new(None),
            newest: parking_lot::Mutex::new(None),
        }
    }

    pub fn describe(&self) -> Descriptor {
        self.kind.descriptor()
    }

    /// Takes the connection's settings and, for PostgreSQL, its
    /// `database_url` secret (the connection is made on first use).
    pub fn configure(&mut self, settings: &[(String, String)], secrets: &Secrets) {
        self.settings = settings.iter().cloned().collect();
        self.database_url = secrets.get("database_url").map(str::to_string);
    }

    fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The backend, connected, and the shape of `entity`'s table.
    async fn with<T>(
        &self,
        entity: &str,
        f: impl AsyncFnOnce(&mut Backend, &Shape) -> Result<T, ConnectorError>,
    ) -> Result<T, ConnectorError> {
        let mut guard = self.backend.lock().await;
        if guard.is_none() {
            let backend = match self.kind {
                Kind::Postgres => {
                    let url = self.database_url.as_deref().ok_or_else(|| {
                        invalid(
                            "the connection has no `database_url` secret: bind it, e.g. \
                             \"secrets\": {\"database_url\": \"env:APP_DATABASE_URL\"}",
                        )
                    })?;
                    Backend::Postgres(postgres::Pg::connect(url).await?)
                }
                Kind::Sqlite => {
                    let path = self.setting("path").ok_or_else(|| {
                        invalid("the connection has no `path` setting (the SQLite file)")
                    })?;
                    Backend::Sqlite(sqlite::Lite::open(path).await?)
                }
            };
            *guard = Some((backend, None));
        }
        let (backend, shape) = guard.as_mut().expect("connected above");
        if shape.as_ref().is_none_or(|s| s.table != quoted(entity)) {
            let key = self.setting("key").unwrap_or("id");
            let updated_at = self.setting("updated_at");
            let mut found = match backend {
                Backend::Postgres(pg) => pg.shape(entity, key, updated_at).await?,
                Backend::Sqlite(lite) => lite.shape(entity, key, updated_at).await?,
            };
            found.tombstones = self.setting("tombstones").map(quoted);
            *shape = Some(found);
        }
        let shape = shape.as_ref().expect("looked up above");
        f(backend, shape).await
    }

    pub async fn entities(&self) -> Result<Vec<EntityInfo>, ConnectorError> {
        // Any table the credential reaches: the schema call says if it is not one.
        Ok(Vec::new())
    }

    pub async fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError> {
        self.with(entity, async |_, shape| {
            let field = |c: &Column| FieldSchema {
                name: c.name.clone(),
                kind: c.kind.field_type(),
                read_only: false,
                options: Vec::new(),
            };
            Ok(EntitySchema {
                entity: entity.to_string(),
                fields: shape.writable().map(field).collect(),
            })
        })
        .await
    }

    pub async fn read(&self, req: &ReadRequest) -> Result<Page, ConnectorError> {
        // An incremental read ends with the rows deleted since, from the
        // tombstones (its cursor then is `{"deleted": [at, key]}`).
        if let Some(Ok(Json::Object(o))) = req.cursor.as_deref().map(serde_json::from_str::<Json>) {
            let after = o.get("deleted").and_then(Json::as_array).cloned();
            return self.deleted(req, after.unwrap_or_default()).await;
        }
        let page = self
            .with(&req.entity, async |backend, shape| {
                let since = if shape.updated_at.is_some() {
                    req.since.as_deref()
                } else {
                    None
                };
                let after = match &req.cursor {
                    Some(c) => Some(serde_json::from_str::<Vec<Json>>(c).map_err(|_| {
                        invalid("a read cursor this side did not give (restart the read)")
                    })?),
                    None => None,
                };
                let n = req.page_size.clamp(1, 1000) as usize;
                let rows = match backend {
                    Backend::Postgres(pg) => pg.read(shape, since, after, n).await?,
                    Backend::Sqlite(lite) => lite.read(shape, since, after, n).await?,
                };
                Ok((rows, n, shape.clone()))
            })
            .await?;
        let (rows, n, shape) = page;
        let tombstones =
            req.since.is_some() && shape.updated_at.is_some() && shape.tombstones.is_some();
        let next_cursor = match rows.last() {
            Some(last) if rows.len() == n => Some(last.cursor.to_string()),
            _ if tombstones => Some(serde_json::json!({"deleted": []}).to_string()),
            _ => None,
        };
        let mut newest = self.newest.lock();
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(at) = &row.updated_at {
                if newest.as_ref().is_none_or(|n| at > n) {
                    *newest = Some(at.clone());
                }
            }
            records.push(Record {
                id: row.id,
                version: row.version,
                updated_at: row.updated_at,
                deleted: false,
                fields: shape
                    .writable()
                    .map(|c| Field {
                        name: c.name.clone(),
                        value: to_field(c.kind, row.values.get(&c.name).unwrap_or(&Json::Null)),
                    })
                    .collect(),
            });
        }
        Ok(Page {
            records,
            next_cursor,
            checkpoint: newest.clone(),
        })
    }

    /// A page of the rows deleted since `req.since`, after `after` (`[at, key]`).
    async fn deleted(&self, req: &ReadRequest, after: Vec<Json>) -> Result<Page, ConnectorError> {
        let since = req.since.clone().unwrap_or_default();
        let n = req.page_size.clamp(1, 1000) as usize;
        let gone = self
            .with(&req.entity, async |backend, shape| match backend {
                Backend::Postgres(pg) => pg.deleted(shape, &since, &after, n).await,
                Backend::Sqlite(lite) => lite.deleted(shape, &since, &after, n).await,
            })
            .await?;
        let next_cursor = (gone.len() == n)
            .then(|| gone.last())
            .flatten()
            .map(|(key, at)| serde_json::json!({"deleted": [at, key]}).to_string());
        Ok(Page {
            records: gone
                .into_iter()
                .map(|(id, at)| Record {
                    id,
                    version: None,
                    updated_at: Some(rfc3339(&at)),
                    deleted: true,
                    fields: Vec::new(),
                })
                .collect(),
            next_cursor,
            checkpoint: self.newest.lock().clone(),
        })
    }

    pub async fn write(
        &self,
        entity: &str,
        ops: &[WriteOp],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.with(entity, async |backend, shape| {
            let mut rows = Vec::with_capacity(ops.len());
            for op in ops {
                rows.push(match op {
                    WriteOp::Create(fields) => Change::Create(values(shape, fields)?),
                    WriteOp::Update(u) => Change::Update {
                        id: u.id.clone(),
                        expected: u.expected_version.clone(),
                        values: values(shape, &u.fields)?,
                    },
                    WriteOp::Delete(d) => Change::Delete {
                        id: d.id.clone(),
                        expected: d.expected_version.clone(),
                    },
                });
            }
            match backend {
                Backend::Postgres(pg) => pg.write(shape, rows).await,
                Backend::Sqlite(lite) => lite.write(shape, rows).await,
            }
        })
        .await
    }
}

/// A row as read: its id, `updated_at` (RFC 3339, UTC, microseconds), the
/// version a write checks (`updated_at` as the database compares it), the
/// values of its columns as JSON, and where the next page starts.
pub(crate) struct Row {
    pub id: String,
    pub updated_at: Option<String>,
    pub version: Option<String>,
    pub values: BTreeMap<String, Json>,
    pub cursor: Json,
}

/// One write, with values in column names, as JSON.
pub(crate) enum Change {
    Create(BTreeMap<String, Json>),
    Update {
        id: String,
        expected: Option<String>,
        values: BTreeMap<String, Json>,
    },
    Delete {
        id: String,
        expected: Option<String>,
    },
}

/// A write's fields as column values; a field that is no column is refused.
fn values(shape: &Shape, fields: &[Field]) -> Result<BTreeMap<String, Json>, ConnectorError> {
    let mut out = BTreeMap::new();
    for f in fields {
        let column = shape
            .writable()
            .find(|c| c.name == f.name)
            .ok_or_else(|| invalid(format!("the table has no writable column `{}`", f.name)))?;
        out.insert(column.name.clone(), from_field(&f.value));
    }
    Ok(out)
}

fn from_field(v: &FieldValue) -> Json {
    match v {
        FieldValue::Null => Json::Null,
        FieldValue::Text(s)
        | FieldValue::Date(s)
        | FieldValue::Datetime(s)
        | FieldValue::Select(s) => Json::String(s.clone()),
        // A whole number as an integer: PostgreSQL reads `3.0` into an
        // integer column as an error.
        FieldValue::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Json::from(*n as i64),
        FieldValue::Number(n) => serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number),
        FieldValue::Boolean(b) => Json::Bool(*b),
        FieldValue::MultiSelect(v) | FieldValue::Reference(v) => {
            Json::Array(v.iter().cloned().map(Json::String).collect())
        }
        FieldValue::Json(s) => serde_json::from_str(s).unwrap_or(Json::String(s.clone())),
    }
}

/// A column's value (as JSON) as a field value of its kind.
fn to_field(kind: ColumnKind, v: &Json) -> FieldValue {
    if v.is_null() {
        return FieldValue::Null;
    }
    let text = || match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    match kind {
        ColumnKind::Text => FieldValue::Text(text()),
        ColumnKind::Number => match v {
            Json::Number(n) => FieldValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => s
                .trim()
                .parse()
                .map_or(FieldValue::Null, FieldValue::Number),
            Json::Bool(b) => FieldValue::Number(f64::from(u8::from(*b))),
            _ => FieldValue::Null,
        },
        ColumnKind::Boolean => match v {
            Json::Bool(b) => FieldValue::Boolean(*b),
            Json::Number(n) => FieldValue::Boolean(n.as_f64() != Some(0.0)),
            Json::String(s) => FieldValue::Boolean(matches!(s.as_str(), "1" | "t" | "true")),
            _ => FieldValue::Null,
        },
        ColumnKind::Date => FieldValue::Date(text().chars().take(10).collect()),
        ColumnKind::Timestamp => FieldValue::Datetime(rfc3339(&text())),
        ColumnKind::Json => FieldValue::Json(match v {
            Json::String(s) if serde_json::from_str::<Json>(s).is_ok() => s.clone(),
            other => other.to_string(),
        }),
        ColumnKind::TextArray => FieldValue::MultiSelect(match v {
            Json::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect(),
            other => vec![other.to_string()],
        }),
    }
}

/// A timestamp as RFC 3339 in UTC with microseconds (so that two compare as
/// text as they do as times) where it parses (PostgreSQL's JSON gives
/// `2026-12-07T05:18:58.123456+00:00`; SQLite holds what was written).
pub(crate) fn rfc3339(text: &str) -> String {
    let parsed = chrono::DateTime::parse_from_rfc3339(text).ok().or_else(|| {
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
            .map(|t| t.and_utc().fixed_offset())
    });
    match parsed {
        Some(t) => t
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        None => text.to_string(),
    }
}

/// What `synchost table prepare` installs so that a table side finds every
/// delete between full scans: a tombstone table, and a trigger that writes a
/// row's key there when the row is deleted.
pub fn prepare_sql(kind: Kind, entity: &str, key: &str, tombstones: &str) -> String {
    let (t, tomb) = (quoted(entity), quoted(tombstones));
    let trigger = quoted(&format!("synchost_tombstone_{}", entity.replace('.', "_")));
    let literal = |text: &str| format!("'{}'", text.replace('\'', "''"));
    match kind {
        Kind::Postgres => format!(
            "CREATE TABLE IF NOT EXISTS {tomb} (\n  table_name text NOT NULL,\n  key text NOT NULL,\n  \
             deleted_at timestamptz NOT NULL DEFAULT clock_timestamp()\n);\n\
             CREATE INDEX IF NOT EXISTS {idx} ON {tomb} (table_name, deleted_at, key);\n\
             CREATE OR REPLACE FUNCTION synchost_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$\n\
             BEGIN\n  EXECUTE format('INSERT INTO %s (table_name, key) VALUES ($1, $2)', TG_ARGV[1])\n    \
             USING TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, to_jsonb(OLD) ->> TG_ARGV[0];\n  \
             RETURN OLD;\nEND $$;\n\
             DROP TRIGGER IF EXISTS {trigger} ON {t};\n\
             CREATE TRIGGER {trigger} AFTER DELETE ON {t}\n  \
             FOR EACH ROW EXECUTE FUNCTION synchost_tombstone({k}, {tomb_arg});\n",
            idx = quoted(&format!("{}_by_time", tombstones.replace('.', "_"))),
            k = literal(key),
            tomb_arg = literal(&tomb),
        ),
        Kind::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS {tomb} (\n  table_name TEXT NOT NULL,\n  key TEXT NOT NULL,\n  \
             deleted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\n);\n\
             DROP TRIGGER IF EXISTS {trigger};\n\
             CREATE TRIGGER {trigger} AFTER DELETE ON {t} BEGIN\n  \
             INSERT INTO {tomb} (table_name, key) VALUES ({name}, OLD.{qk});\nEND;\n",
            name = literal(entity),
            qk = quoted(key),
        ),
    }
}

/// Runs `sql` (what [`prepare_sql`] wrote) in one transaction on the
/// database at `at`: a PostgreSQL URL, or a SQLite file.
pub async fn apply_sql(kind: Kind, at: &str, sql: &str) -> Result<(), ConnectorError> {
    let script = format!("BEGIN;\n{sql}COMMIT;\n");
    match kind {
        Kind::Postgres => postgres::Pg::connect(at).await?.batch(&script).await,
        Kind::Sqlite => sqlite::Lite::open(at).await?.batch(script).await,
    }
}
