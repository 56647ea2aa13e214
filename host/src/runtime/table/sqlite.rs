//! A table in a SQLite file. SQLite keeps a value's own type whatever the
//! column says, so values are read by the column's declared type (its
//! affinity: `BOOLEAN` as 0/1, `DATE` and `DATETIME` as text, `JSON` as
//! text). Calls run on the blocking pool; each batch is one transaction,
//! each write in it a savepoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rusqlite::types::{Value as Sql, ValueRef};
use rusqlite::{params_from_iter, Connection, OptionalExtension};
use serde_json::{json, Value as Json};

use super::{invalid, quoted, rfc3339, Change, Column, ColumnKind, Row, Shape};
use crate::runtime::bindings::v0_2_0::synchost::connector::types::{
    ConflictInfo, ConnectorError, WriteOutcome, Written,
};

/// What the host writes in `updated_at`: RFC 3339, UTC, milliseconds.
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

pub struct Lite {
    conn: Arc<Mutex<Connection>>,
}

fn classify(e: rusqlite::Error) -> ConnectorError {
    use rusqlite::ErrorCode::*;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, DatabaseBusy | DatabaseLocked) => {
            ConnectorError::Transient(format!("SQLite: {e}"))
        }
        _ => ConnectorError::InvalidInput(format!("SQLite: {e}")),
    }
}

fn kind_of(declared: &str) -> ColumnKind {
    let t = declared.to_ascii_uppercase();
    if t.contains("BOOL") {
        ColumnKind::Boolean
    } else if t.contains("DATETIME") || t.contains("TIMESTAMP") {
        ColumnKind::Timestamp
    } else if t.contains("DATE") {
        ColumnKind::Date
    } else if t.contains("JSON") {
        ColumnKind::Json
    } else if ["INT", "REAL", "FLOA", "DOUB", "NUM", "DEC"]
        .iter()
        .any(|n| t.contains(n))
    {
        ColumnKind::Number
    } else {
        ColumnKind::Text
    }
}

/// A value read, as JSON by its column's kind.
fn json_of(kind: ColumnKind, v: ValueRef<'_>) -> Json {
    match v {
        ValueRef::Null => Json::Null,
        ValueRef::Integer(i) if kind == ColumnKind::Boolean => Json::Bool(i != 0),
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) | ValueRef::Blob(t) => Json::String(String::from_utf8_lossy(t).into()),
    }
}

/// A value to write.
fn sql_of(v: &Json) -> Sql {
    match v {
        Json::Null => Sql::Null,
        Json::Bool(b) => Sql::Integer(i64::from(*b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Sql::Integer(i),
            None => Sql::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Sql::Text(s.clone()),
        other => Sql::Text(other.to_string()),
    }
}

/// A key given as text, bound as the key column holds it.
fn key_of(shape: &Shape, id: &str) -> Sql {
    match (shape.key.kind, id.parse::<i64>()) {
        (ColumnKind::Number, Ok(i)) => Sql::Integer(i),
        _ => Sql::Text(id.to_string()),
    }
}

impl Lite {
    pub async fn open(path: &str) -> Result<Lite, ConnectorError> {
        let path = path.to_string();
        let conn = tokio::task::spawn_blocking(move || {
            let conn = Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| invalid(format!("opening SQLite file {path}: {e}")))?;
            // The application writes the same file: wait for its locks.
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(classify)?;
            Ok::<_, ConnectorError>(conn)
        })
        .await
        .map_err(|e| ConnectorError::Fatal(e.to_string()))??;
        Ok(Lite {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ConnectorError> + Send + 'static,
    ) -> Result<T, ConnectorError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut conn.lock().expect("not poisoned")))
            .await
            .map_err(|e| ConnectorError::Fatal(e.to_string()))?
    }

    /// Runs a script of statements (no parameters).
    pub async fn batch(&self, script: String) -> Result<(), ConnectorError> {
        self.blocking(move |conn| conn.execute_batch(&script).map_err(classify))
            .await
    }

    pub async fn shape(
        &self,
        entity: &str,
        key: &str,
        updated_at: Option<&str>,
    ) -> Result<Shape, ConnectorError> {
        let (entity, key, updated_at) = (
            entity.to_string(),
            key.to_string(),
            updated_at.map(str::to_string),
        );
        self.blocking(move |conn| {
            let (schema, table) = match entity.split_once('.') {
                Some((s, t)) => (quoted(s) + ".", t.to_string()),
                None => (String::new(), entity.clone()),
            };
            let mut stmt = conn
                .prepare(&format!("PRAGMA {schema}table_info({})", quoted(&table)))
                .map_err(classify)?;
            let columns: Vec<Column> = stmt
                .query_map([], |r| {
                    let declared: String = r.get(2)?;
                    let default: Option<String> = r.get(4)?;
                    let pk: i64 = r.get(5)?;
                    // INTEGER PRIMARY KEY is the rowid: SQLite numbers it.
                    let rowid = pk == 1 && declared.eq_ignore_ascii_case("INTEGER");
                    Ok(Column {
                        name: r.get(1)?,
                        kind: kind_of(&declared),
                        sql_type: declared,
                        has_default: default.is_some() || rowid,
                    })
                })
                .map_err(classify)?
                .collect::<Result<_, _>>()
                .map_err(classify)?;
            if columns.is_empty() {
                return Err(ConnectorError::NotFound(format!(
                    "no table `{entity}` in the SQLite file"
                )));
            }
            Shape::of(
                &entity,
                entity.clone(),
                columns,
                &key,
                updated_at.as_deref(),
            )
        })
        .await
    }

    pub async fn read(
        &self,
        shape: &Shape,
        since: Option<&str>,
        after: Option<Vec<Json>>,
        n: usize,
    ) -> Result<Vec<Row>, ConnectorError> {
        let (shape, since) = (shape.clone(), since.map(str::to_string));
        self.blocking(move |conn| {
            let k = quoted(&shape.key.name);
            let cols: Vec<&Column> = shape
                .writable()
                .filter(|c| c.name != shape.key.name)
                .collect();
            let mut select = vec![k.clone()];
            select.extend(cols.iter().map(|c| quoted(&c.name)));
            let u = shape.updated_at.as_ref().map(|c| quoted(&c.name));
            select.push(u.clone().unwrap_or("NULL".into()));
            let after = after.unwrap_or_default();
            let mut params: Vec<Sql> = Vec::new();
            let sql = match (&u, &since) {
                (Some(u), Some(since)) => {
                    params.push(Sql::Text(since.clone()));
                    let from = if after.len() == 2 {
                        params.push(sql_of(&after[0]));
                        params.push(sql_of(&after[1]));
                        format!(
                            "AND (julianday({u}) > julianday(?2) \
                             OR (julianday({u}) = julianday(?2) AND {k} > ?3))"
                        )
                    } else {
                        String::new()
                    };
                    format!(
                        "SELECT {} FROM {} WHERE julianday({u}) > julianday(?1) {from} \
                         ORDER BY julianday({u}), {k} LIMIT {n}",
                        select.join(", "),
                        shape.table
                    )
                }
                _ => {
                    let from = match after.first() {
                        Some(v) => {
                            params.push(sql_of(v));
                            format!("WHERE {k} > ?1")
                        }
                        None => String::new(),
                    };
                    format!(
                        "SELECT {} FROM {} {from} ORDER BY {k} LIMIT {n}",
                        select.join(", "),
                        shape.table
                    )
                }
            };
            let incremental = u.is_some() && since.is_some();
            let mut stmt = conn.prepare(&sql).map_err(classify)?;
            let rows = stmt
                .query_map(params_from_iter(params.iter()), |r| {
                    let key = json_of(shape.key.kind, r.get_ref(0)?);
                    let id = key.as_str().map_or_else(|| key.to_string(), str::to_string);
                    let mut values = BTreeMap::new();
                    if !shape.key.has_default {
                        values.insert(shape.key.name.clone(), key.clone());
                    }
                    for (i, c) in cols.iter().enumerate() {
                        values.insert(c.name.clone(), json_of(c.kind, r.get_ref(i + 1)?));
                    }
                    let raw: Option<String> = match r.get_ref(cols.len() + 1)? {
                        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into()),
                        ValueRef::Integer(i) => Some(i.to_string()),
                        ValueRef::Real(f) => Some(f.to_string()),
                        _ => None,
                    };
                    let cursor = match (&raw, incremental) {
                        (Some(at), true) => json!([at, key]),
                        _ => json!([key]),
                    };
                    Ok(Row {
                        id,
                        updated_at: raw.as_deref().map(rfc3339),
                        version: raw,
                        values,
                        cursor,
                    })
                })
                .map_err(classify)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(classify)?;
            Ok(rows)
        })
        .await
    }

    /// Keys deleted since `since` (after `after`: `[at, key]`), with when.
    pub async fn deleted(
        &self,
        shape: &Shape,
        since: &str,
        after: &[Json],
        n: usize,
    ) -> Result<Vec<(String, String)>, ConnectorError> {
        let Some(tomb) = shape.tombstones.clone() else {
            return Ok(Vec::new());
        };
        let mut params = vec![
            Sql::Text(shape.qualified.clone()),
            Sql::Text(since.to_string()),
        ];
        params.extend(after.iter().take(2).map(sql_of));
        params.resize(4, Sql::Null);
        self.blocking(move |conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT key, deleted_at FROM {tomb} \
                     WHERE table_name = ?1 AND julianday(deleted_at) > julianday(?2) \
                       AND (?3 IS NULL OR julianday(deleted_at) > julianday(?3) \
                            OR (julianday(deleted_at) = julianday(?3) AND key > ?4)) \
                     ORDER BY julianday(deleted_at), key LIMIT {n}"
                ))
                .map_err(classify)?;
            let rows = stmt
                .query_map(params_from_iter(params.iter()), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(classify)?
                .collect::<Result<Vec<(String, String)>, _>>()
                .map_err(classify)?;
            Ok(rows)
        })
        .await
    }

    pub async fn write(
        &mut self,
        shape: &Shape,
        changes: Vec<Change>,
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let shape = shape.clone();
        self.blocking(move |conn| {
            let mut tx = conn.transaction().map_err(classify)?;
            let mut out = Vec::with_capacity(changes.len());
            for change in &changes {
                let sp = tx.savepoint().map_err(classify)?;
                match one(&sp, &shape, change) {
                    Ok(outcome) => {
                        sp.commit().map_err(classify)?;
                        out.push(outcome);
                    }
                    Err(e) => {
                        drop(sp); // rolls back
                        out.push(WriteOutcome::Failed(e));
                    }
                }
            }
            tx.commit().map_err(classify)?;
            Ok(out)
        })
        .await
    }
}

fn one(conn: &Connection, shape: &Shape, change: &Change) -> Result<WriteOutcome, ConnectorError> {
    let (t, k) = (&shape.table, quoted(&shape.key.name));
    let u = shape.updated_at.as_ref().map(|c| quoted(&c.name));
    let returning = format!("RETURNING {k}, {}", u.as_deref().unwrap_or("NULL"));
    let written = |r: &rusqlite::Row<'_>| -> rusqlite::Result<WriteOutcome> {
        let key = json_of(shape.key.kind, r.get_ref(0)?);
        let at: Option<String> = r.get(1)?;
        Ok(WriteOutcome::Written(Written {
            id: key.as_str().map_or_else(|| key.to_string(), str::to_string),
            updated_at: at.as_deref().map(rfc3339),
            version: at,
        }))
    };
    let assignments = |values: &BTreeMap<String, Json>| {
        let mut cols: Vec<String> = values.keys().map(|c| quoted(c)).collect();
        let mut exprs: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
        if let Some(u) = &u {
            if !cols.contains(u) {
                cols.push(u.clone());
                exprs.push(NOW.into());
            }
        }
        (cols, exprs, values.values().map(sql_of).collect::<Vec<_>>())
    };
    match change {
        Change::Create(values) => {
            let (cols, exprs, mut params) = assignments(values);
            let sql = if cols.is_empty() {
                format!("INSERT INTO {t} DEFAULT VALUES {returning}")
            } else {
                format!(
                    "INSERT INTO {t} ({}) VALUES ({}) {returning}",
                    cols.join(", "),
                    exprs.join(", ")
                )
            };
            params.truncate(values.len());
            conn.query_row(&sql, params_from_iter(params.iter()), written)
                .map_err(classify)
        }
        Change::Update {
            id,
            expected,
            values,
        } => {
            let (cols, exprs, mut params) = assignments(values);
            let set: Vec<String> = cols
                .iter()
                .zip(&exprs)
                .map(|(c, e)| format!("{c} = {e}"))
                .collect();
            let n = params.len();
            params.push(key_of(shape, id));
            let check = match (&u, expected) {
                (Some(u), Some(v)) => {
                    params.push(Sql::Text(v.clone()));
                    format!("AND {u} IS ?{}", n + 2)
                }
                _ => String::new(),
            };
            if set.is_empty() {
                return refused(conn, shape, id, true);
            }
            let sql = format!(
                "UPDATE {t} SET {} WHERE {k} = ?{} {check} {returning}",
                set.join(", "),
                n + 1
            );
            match conn
                .query_row(&sql, params_from_iter(params.iter()), written)
                .optional()
                .map_err(classify)?
            {
                Some(outcome) => Ok(outcome),
                None => refused(conn, shape, id, false),
            }
        }
        Change::Delete { id, expected } => {
            let mut params = vec![key_of(shape, id)];
            let check = match (&u, expected) {
                (Some(u), Some(v)) => {
                    params.push(Sql::Text(v.clone()));
                    format!("AND {u} IS ?2")
                }
                _ => String::new(),
            };
            let gone = conn
                .execute(
                    &format!("DELETE FROM {t} WHERE {k} = ?1 {check}"),
                    params_from_iter(params.iter()),
                )
                .map_err(classify)?;
            let exists = gone == 0
                && conn
                    .query_row(
                        &format!("SELECT 1 FROM {t} WHERE {k} = ?1"),
                        [key_of(shape, id)],
                        |_| Ok(()),
                    )
                    .optional()
                    .map_err(classify)?
                    .is_some();
            if exists {
                return refused(conn, shape, id, false);
            }
            // Deleted, or already gone: what a delete wants.
            Ok(WriteOutcome::Written(Written {
                id: id.clone(),
                version: None,
                updated_at: None,
            }))
        }
    }
}

/// A write keyed `id` that touched no row: gone, or changed since it was
/// read (`unchanged`: nothing to write, the row as it is).
fn refused(
    conn: &Connection,
    shape: &Shape,
    id: &str,
    unchanged: bool,
) -> Result<WriteOutcome, ConnectorError> {
    let (t, k) = (&shape.table, quoted(&shape.key.name));
    let u = shape
        .updated_at
        .as_ref()
        .map_or("NULL".to_string(), |c| quoted(&c.name));
    let row: Option<Option<String>> = conn
        .query_row(
            &format!("SELECT {u} FROM {t} WHERE {k} = ?1"),
            [key_of(shape, id)],
            |r| r.get(0),
        )
        .optional()
        .map_err(classify)?;
    Ok(match row {
        None => WriteOutcome::Failed(ConnectorError::NotFound(format!(
            "no row with {} = {id}",
            shape.key.name
        ))),
        Some(at) if unchanged => WriteOutcome::Written(Written {
            id: id.to_string(),
            updated_at: at.as_deref().map(rfc3339),
            version: at,
        }),
        Some(at) => WriteOutcome::Failed(ConnectorError::Conflict(ConflictInfo {
            id: id.to_string(),
            current_version: at,
            message: "the row changed since it was read".into(),
        })),
    })
}
