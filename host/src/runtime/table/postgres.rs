//! A table in PostgreSQL. Rows are read as `to_jsonb(row)` (PostgreSQL types
//! each value) and written through `jsonb_populate_record` (PostgreSQL
//! converts each JSON value to its column's type), so one code path serves
//! every column type; each batch is one transaction, each write in it a
//! savepoint, so that one refused row does not undo the others.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};

use super::{invalid, quoted, rfc3339, Change, Column, ColumnKind, Row, Shape};
use crate::runtime::bindings::v0_2_0::synchost::connector::types::{
    ConflictInfo, ConnectorError, WriteOutcome, Written,
};

pub struct Pg {
    client: Client,
}

/// A database error as the contract names it: bad data is the row's fault
/// (invalid input), a lost connection or a serialization failure is worth
/// another try (transient).
fn classify(e: tokio_postgres::Error) -> ConnectorError {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            let message = format!("PostgreSQL: {} ({code})", db.message());
            if code.starts_with("22") || code.starts_with("23") || code.starts_with("42") {
                ConnectorError::InvalidInput(message)
            } else {
                ConnectorError::Transient(message)
            }
        }
        None => ConnectorError::Transient(format!("PostgreSQL: {e}")),
    }
}

fn kind_of(data_type: &str, udt: &str) -> ColumnKind {
    match data_type {
        "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => {
            ColumnKind::Number
        }
        "boolean" => ColumnKind::Boolean,
        "date" => ColumnKind::Date,
        "timestamp with time zone" | "timestamp without time zone" => ColumnKind::Timestamp,
        "json" | "jsonb" => ColumnKind::Json,
        "ARRAY" if matches!(udt, "_text" | "_varchar" | "_bpchar" | "_citext") => {
            ColumnKind::TextArray
        }
        _ => ColumnKind::Text,
    }
}

impl Pg {
    pub async fn connect(url: &str) -> Result<Pg, ConnectorError> {
        // A URL that does not parse will not parse on a retry either.
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            invalid(format!(
                "the `database_url` secret is not a PostgreSQL URL: {e}"
            ))
        })?;
        let (client, connection) = config.connect(NoTls).await.map_err(|e| {
            if e.as_db_error().is_some() {
                classify(e)
            } else {
                ConnectorError::Transient(format!("connecting to PostgreSQL: {e}"))
            }
        })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("PostgreSQL connection: {e}");
            }
        });
        Ok(Pg { client })
    }

    /// Runs a script of statements (no parameters).
    pub async fn batch(&self, script: &str) -> Result<(), ConnectorError> {
        self.client.batch_execute(script).await.map_err(classify)
    }

    pub async fn shape(
        &self,
        entity: &str,
        key: &str,
        updated_at: Option<&str>,
    ) -> Result<Shape, ConnectorError> {
        let (schema, table) = match entity.split_once('.') {
            Some((s, t)) => (Some(s), t),
            None => (None, entity),
        };
        let rows = self
            .client
            .query(
                "SELECT column_name::text, data_type::text, udt_name::text, \
                   (column_default IS NOT NULL OR is_identity = 'YES') AS has_default \
                 FROM information_schema.columns \
                 WHERE table_schema = coalesce($1::text, current_schema()) AND table_name = $2::text \
                   AND is_generated = 'NEVER' \
                 ORDER BY ordinal_position",
                &[&schema, &table],
            )
            .await
            .map_err(classify)?;
        if rows.is_empty() {
            return Err(ConnectorError::NotFound(format!(
                "no table `{entity}` this connection's user can see"
            )));
        }
        let columns: Vec<Column> = rows
            .iter()
            .map(|r| Column {
                name: r.get(0),
                kind: kind_of(r.get(1), r.get(2)),
                sql_type: r.get(2),
                has_default: r.get(3),
            })
            .collect();
        let schema: String = self
            .client
            .query_one("SELECT coalesce($1::text, current_schema())", &[&schema])
            .await
            .map_err(classify)?
            .get(0);
        let shape = Shape::of(
            entity,
            format!("{schema}.{table}"),
            columns,
            key,
            updated_at,
        )?;
        if let Some(column) = shape
            .updated_at
            .as_ref()
            .filter(|c| c.kind != ColumnKind::Timestamp)
        {
            return Err(invalid(format!(
                "`{}` is a {}, not a timestamp: it cannot tell what changed",
                column.name, column.sql_type
            )));
        }
        Ok(shape)
    }

    pub async fn read(
        &self,
        shape: &Shape,
        since: Option<&str>,
        after: Option<Vec<Json>>,
        n: usize,
    ) -> Result<Vec<Row>, ConnectorError> {
        let (t, k, kt) = (&shape.table, quoted(&shape.key.name), &shape.key.sql_type);
        let text = |v: &Json| v.as_str().map_or_else(|| v.to_string(), str::to_string);
        let after: Vec<String> = after.unwrap_or_default().iter().map(text).collect();
        let limit = n as i64;
        let since_text = since.map(str::to_string);
        let (sql, params): (String, Vec<&(dyn ToSql + Sync)>) =
            match (&shape.updated_at, &since_text) {
                (Some(u), Some(since)) => {
                    let u = quoted(&u.name);
                    let from = if after.len() == 2 {
                        format!("AND ({u}, {k}) > ($3::text::timestamptz, $4::text::{kt})")
                    } else {
                        "AND $3::text IS NULL AND $4::text IS NULL".into()
                    };
                    (
                        format!(
                            "SELECT {k}::text, to_jsonb(t), to_jsonb({u}) FROM {table} t \
                         WHERE {u} > $1::text::timestamptz {from} ORDER BY {u}, {k} LIMIT $2",
                            table = t
                        ),
                        vec![since, &limit, after_at(&after, 0), after_at(&after, 1)],
                    )
                }
                (u, _) => {
                    let u = u
                        .as_ref()
                        .map_or("NULL::timestamptz".to_string(), |u| quoted(&u.name));
                    let from = if after.len() == 1 {
                        format!("{k} > $2::text::{kt}")
                    } else {
                        "$2::text IS NULL".into()
                    };
                    (
                        format!(
                            "SELECT {k}::text, to_jsonb(t), to_jsonb({u}) FROM {t} t \
                         WHERE {from} ORDER BY {k} LIMIT $1"
                        ),
                        vec![&limit, after_at(&after, 0)],
                    )
                }
            };
        let rows = self.client.query(&sql, &params).await.map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let id: String = r.get(0);
                let values: BTreeMap<String, Json> =
                    serde_json::from_value(r.get::<_, Json>(1)).unwrap_or_default();
                let at: Json = r.get(2);
                let updated_at = at.as_str().map(rfc3339);
                let cursor = match (since, &updated_at) {
                    (Some(_), Some(_)) if shape.updated_at.is_some() => {
                        json!([at.as_str().unwrap_or_default(), id])
                    }
                    _ => json!([id]),
                };
                Row {
                    version: updated_at.clone(),
                    updated_at,
                    values,
                    cursor,
                    id,
                }
            })
            .collect())
    }

    /// Keys deleted since `since` (after `after`: `[at, key]`), with when.
    pub async fn deleted(
        &self,
        shape: &Shape,
        since: &str,
        after: &[Json],
        n: usize,
    ) -> Result<Vec<(String, String)>, ConnectorError> {
        let Some(tomb) = &shape.tombstones else {
            return Ok(Vec::new());
        };
        let text = |i: usize| {
            after
                .get(i)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        };
        let (at, key) = (text(0), text(1));
        let limit = n as i64;
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT key, to_jsonb(deleted_at) FROM {tomb} \
                     WHERE table_name = $1 AND deleted_at > $2::text::timestamptz \
                       AND ($3::text IS NULL OR (deleted_at, key) > ($3::text::timestamptz, $4::text)) \
                     ORDER BY deleted_at, key LIMIT $5"
                ),
                &[&shape.qualified, &since, &at, &key, &limit],
            )
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let at: Json = r.get(1);
                (r.get(0), at.as_str().unwrap_or_default().to_string())
            })
            .collect())
    }

    pub async fn write(
        &mut self,
        shape: &Shape,
        changes: Vec<Change>,
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let mut tx = self.client.transaction().await.map_err(classify)?;
        let mut out: Vec<Option<WriteOutcome>> = vec![None; changes.len()];
        // Creates of the same columns go in one statement; a row the
        // statement refuses sends its rows one at a time, below.
        let mut groups: BTreeMap<Vec<&String>, Vec<usize>> = BTreeMap::new();
        for (i, change) in changes.iter().enumerate() {
            if let Change::Create(values) = change {
                groups.entry(values.keys().collect()).or_default().push(i);
            }
        }
        for rows in groups.values().filter(|rows| rows.len() > 1) {
            let sp = tx.savepoint("creates").await.map_err(classify)?;
            let values: Vec<&BTreeMap<String, Json>> = rows
                .iter()
                .map(|&i| match &changes[i] {
                    Change::Create(values) => values,
                    _ => unreachable!("grouped creates"),
                })
                .collect();
            match creates(&sp, shape, &values).await {
                Ok(written) => {
                    sp.commit().await.map_err(classify)?;
                    for (&i, w) in rows.iter().zip(written) {
                        out[i] = Some(w);
                    }
                }
                Err(_) => sp.rollback().await.map_err(classify)?,
            }
        }
        for (i, change) in changes.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            let op = tx.savepoint("op").await.map_err(classify)?;
            match one(&op, shape, change).await {
                Ok(outcome) => {
                    op.commit().await.map_err(classify)?;
                    out[i] = Some(outcome);
                }
                Err(e) => {
                    op.rollback().await.map_err(classify)?;
                    out[i] = Some(WriteOutcome::Failed(e));
                }
            }
        }
        tx.commit().await.map_err(classify)?;
        Ok(out.into_iter().map(|o| o.expect("every change")).collect())
    }
}

/// Rows of the same columns created by one statement, their outcomes in
/// the order given (the rows are inserted in that order, and PostgreSQL
/// returns inserted rows in the order it inserts them).
async fn creates(
    tx: &tokio_postgres::Transaction<'_>,
    shape: &Shape,
    rows: &[&BTreeMap<String, Json>],
) -> Result<Vec<WriteOutcome>, ConnectorError> {
    let t = &shape.table;
    let (cols, picked) = assignments(shape, rows[0]);
    let body = Json::Array(
        rows.iter()
            .map(|v| Json::Object((*v).clone().into_iter().collect()))
            .collect(),
    )
    .to_string();
    let sql = format!(
        "INSERT INTO {t} ({cols}) SELECT {picked} \
         FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS e(doc, ord), \
           LATERAL jsonb_populate_record(NULL::{t}, e.doc) r \
         ORDER BY e.ord {}",
        returning(shape)
    );
    let answered = tx.query(&sql, &[&body]).await.map_err(classify)?;
    if answered.len() != rows.len() {
        return Err(ConnectorError::Transient(format!(
            "{} rows inserted for {} asked",
            answered.len(),
            rows.len()
        )));
    }
    Ok(answered.into_iter().map(written).collect())
}

/// The columns a write sets (`updated_at` too: to the database's clock, when
/// the write does not name it) and the values it takes from the record `r`.
fn assignments(shape: &Shape, values: &BTreeMap<String, Json>) -> (String, String) {
    let mut cols: Vec<String> = values.keys().map(|c| quoted(c)).collect();
    let mut picked: Vec<String> = values.keys().map(|c| format!("r.{}", quoted(c))).collect();
    if let Some(u) = shape.updated_at.as_ref().map(|c| quoted(&c.name)) {
        if !cols.contains(&u) {
            cols.push(u);
            picked.push("now()".into());
        }
    }
    (cols.join(", "), picked.join(", "))
}

/// What a write returns: the key and `updated_at` ([`written`] reads it).
fn returning(shape: &Shape) -> String {
    format!(
        "RETURNING {}::text, to_jsonb({})",
        quoted(&shape.key.name),
        shape
            .updated_at
            .as_ref()
            .map_or("NULL::timestamptz".into(), |c| quoted(&c.name))
    )
}

/// A row a write returned ([`returning`]) as its outcome.
fn written(row: tokio_postgres::Row) -> WriteOutcome {
    let at: Json = row.get(1);
    let at = at.as_str().map(rfc3339);
    WriteOutcome::Written(Written {
        id: row.get(0),
        version: at.clone(),
        updated_at: at,
    })
}

fn after_at(after: &[String], i: usize) -> &(dyn ToSql + Sync) {
    static NONE: Option<String> = None;
    match after.get(i) {
        Some(v) => v,
        None => &NONE,
    }
}

/// One write inside its savepoint.
async fn one(
    tx: &tokio_postgres::Transaction<'_>,
    shape: &Shape,
    change: &Change,
) -> Result<WriteOutcome, ConnectorError> {
    let (t, k, kt) = (&shape.table, quoted(&shape.key.name), &shape.key.sql_type);
    let u = shape.updated_at.as_ref().map(|c| quoted(&c.name));
    let returning = returning(shape);
    let set = |values| assignments(shape, values);
    match change {
        Change::Create(values) => {
            let (cols, picked) = set(values);
            let body = Json::Object(values.clone().into_iter().collect()).to_string();
            let sql = if cols.is_empty() {
                format!("INSERT INTO {t} DEFAULT VALUES {returning}")
            } else {
                format!(
                    "INSERT INTO {t} ({cols}) SELECT {picked} \
                     FROM jsonb_populate_record(NULL::{t}, $1::text::jsonb) r {returning}"
                )
            };
            let params: Vec<&(dyn ToSql + Sync)> =
                if cols.is_empty() { vec![] } else { vec![&body] };
            let row = tx.query_one(&sql, &params).await.map_err(classify)?;
            Ok(written(row))
        }
        Change::Update {
            id,
            expected,
            values,
        } => {
            let (cols, picked) = set(values);
            let body = Json::Object(values.clone().into_iter().collect()).to_string();
            let check = match (&u, expected) {
                (Some(u), Some(_)) => format!("AND {u} = $3::text::timestamptz"),
                _ => "AND $3::text IS NULL".into(),
            };
            let sql = format!(
                "UPDATE {t} SET ({cols}) = (SELECT {picked} \
                 FROM jsonb_populate_record(NULL::{t}, $1::text::jsonb) r) \
                 WHERE {k} = $2::text::{kt} {check} {returning}"
            );
            let expected = expected.clone().filter(|_| u.is_some());
            let row = tx
                .query_opt(&sql, &[&body, id, &expected])
                .await
                .map_err(classify)?;
            match row {
                Some(row) => Ok(written(row)),
                None => refused(tx, shape, id).await,
            }
        }
        Change::Delete { id, expected } => {
            let check = match (&u, expected) {
                (Some(u), Some(_)) => format!("AND {u} = $2::text::timestamptz"),
                _ => "AND $2::text IS NULL".into(),
            };
            let expected = expected.clone().filter(|_| u.is_some());
            let sql = format!("DELETE FROM {t} WHERE {k} = $1::text::{kt} {check}");
            let gone = tx.execute(&sql, &[id, &expected]).await.map_err(classify)?;
            match gone {
                1.. => Ok(WriteOutcome::Written(Written {
                    id: id.clone(),
                    version: None,
                    updated_at: None,
                })),
                // Already gone is what a delete wants.
                0 => match refused(tx, shape, id).await? {
                    WriteOutcome::Failed(ConnectorError::NotFound(_)) => {
                        Ok(WriteOutcome::Written(Written {
                            id: id.clone(),
                            version: None,
                            updated_at: None,
                        }))
                    }
                    other => Ok(other),
                },
            }
        }
    }
}

/// Why a write keyed `id` touched no row: gone, or changed since it was read.
async fn refused(
    tx: &tokio_postgres::Transaction<'_>,
    shape: &Shape,
    id: &str,
) -> Result<WriteOutcome, ConnectorError> {
    let (t, k, kt) = (&shape.table, quoted(&shape.key.name), &shape.key.sql_type);
    let u = shape
        .updated_at
        .as_ref()
        .map_or("NULL::timestamptz".to_string(), |c| quoted(&c.name));
    let row = tx
        .query_opt(
            &format!("SELECT to_jsonb({u}) FROM {t} WHERE {k} = $1::text::{kt}"),
            &[&id],
        )
        .await
        .map_err(classify)?;
    Ok(WriteOutcome::Failed(match row {
        None => ConnectorError::NotFound(format!("no row with {} = {id}", shape.key.name)),
        Some(row) => {
            let at: Json = row.get(0);
            ConnectorError::Conflict(ConflictInfo {
                id: id.to_string(),
                current_version: at.as_str().map(rfc3339),
                message: "the row changed since it was read".into(),
            })
        }
    }))
}
