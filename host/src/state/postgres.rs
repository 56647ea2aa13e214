//! The state in PostgreSQL (`--state postgres://…`): the same trees as the
//! embedded store, as rows of one table `synchost_kv (tree, key, value)`
//! with `bytea` keys, which PostgreSQL orders byte by byte as sled and fjall
//! do. A batch is one statement (its removals and upserts as data-modifying
//! parts of one `WITH`), so it is atomic as a batch is in the embedded
//! store; [`Store::update`] is a compare-and-swap on the old value, retried
//! as sled's is. Several daemons may share the database: each statement is
//! its own transaction, and nothing is cached between them.
//!
//! The state's callers are synchronous (as sled is): queries run on a
//! thread of their own with its own runtime, and a caller waits for the
//! answer, so the state may be used from inside or outside a runtime.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::ops::Bound;
use std::pin::Pin;
use std::sync::Arc;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use super::store::{Batch, Change, Entries, Entry, Op, Range, Store, Tree};
use super::{Result, StateError};

/// The schema, versioned: each step is applied once, in order, in one
/// transaction under an advisory lock (daemons starting at once wait for
/// each other), and the version reached is kept in `synchost_schema`. A
/// database at a version above the last step was set up by a newer synchost
/// and is refused.
const SCHEMA: [(i32, &str); 3] = [
    (
        1,
        "CREATE TABLE synchost_kv (
             tree text NOT NULL,
             key bytea NOT NULL,
             value bytea NOT NULL,
             PRIMARY KEY (tree, key)
         );
         CREATE SEQUENCE synchost_ids;",
    ),
    (
        2,
        // Which daemon runs which job, until when, on which platforms
        // (several daemons, one database: see state/leases.rs).
        "CREATE TABLE synchost_leases (
             job text PRIMARY KEY,
             daemon text NOT NULL,
             expires timestamptz NOT NULL,
             platforms text[] NOT NULL
         );",
    ),
    (
        3,
        // Jobs a daemon could not claim for want of a slot, with their
        // priority: a platform's freed slot goes to the highest waiting.
        "CREATE TABLE synchost_waiting (
             job text PRIMARY KEY,
             priority integer NOT NULL,
             platforms text[] NOT NULL,
             expires timestamptz NOT NULL
         );",
    ),
];

/// The schema version this synchost sets up and reads.
pub const SCHEMA_VERSION: i32 = SCHEMA[SCHEMA.len() - 1].0;

/// Any number; the same in every synchost, so that daemons setting up one
/// database take turns.
const SCHEMA_LOCK: i64 = 0x5359_4e43_4853_0001;

pub(super) type Boxed<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

/// A statement's parameters, owned (a query runs on the state's thread).
pub(super) type Params = Vec<Box<dyn ToSql + Sync + Send>>;

pub(super) struct Postgres {
    pub(super) shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    /// dropped with the store: the thread's runtime then stops
    _stop: tokio::sync::oneshot::Sender<()>,
    location: String,
}

pub(super) struct Shared {
    config: tokio_postgres::Config,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    /// a connection of its own for transactions of several statements
    /// (a lease's slot count and claim), one at a time
    pub(super) txn: tokio::sync::Mutex<Option<Client>>,
}

pub(super) struct Conn {
    client: Client,
    prepared: std::sync::Mutex<HashMap<String, Statement>>,
}

/// A PostgreSQL error as a person reads it: the server's message and code.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let cause = std::error::Error::source(e).map(|s| format!(": {s}"));
            format!("{e}{}", cause.unwrap_or_default())
        }
    }
}

pub(super) fn pg_error(e: tokio_postgres::Error) -> StateError {
    StateError::Postgres(describe(&e))
}

/// The URL without its password, to name the database in messages.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "the PostgreSQL URL".into(),
    }
}

/// Whether `spec` (a `--state` value) names a PostgreSQL database.
pub fn is_url(spec: &str) -> bool {
    spec.starts_with("postgres://") || spec.starts_with("postgresql://")
}

impl Postgres {
    pub fn open(url: &str) -> Result<Postgres> {
        let location = shown(url);
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            StateError::Postgres(format!("{location} is not a PostgreSQL URL: {e}"))
        })?;
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("synchost-state".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the state's queries");
                let _ = handle_tx.send(runtime.handle().clone());
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })
            .map_err(|e| StateError::Postgres(format!("starting the state's thread: {e}")))?;
        let runtime = handle_rx
            .recv()
            .map_err(|_| StateError::Postgres("the state's thread did not start".into()))?;
        let store = Postgres {
            shared: Arc::new(Shared {
                config,
                conn: tokio::sync::Mutex::new(None),
                txn: tokio::sync::Mutex::new(None),
            }),
            runtime,
            _stop: stop,
            location: location.clone(),
        };
        let shared = store.shared.clone();
        store
            .block(async move { shared.set_up().await })
            .map_err(|e| match e {
                StateError::Postgres(m) => StateError::Postgres(format!("{location}: {m}")),
                other => other,
            })?;
        Ok(store)
    }

    /// Runs `work` on the state's thread and waits for its answer.
    pub(super) fn block<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv()
            .map_err(|_| StateError::Postgres("the state's thread stopped".into()))?
    }

    /// Runs `query` with a connection, again on a new one if the connection
    /// was lost (every query of the state may run twice: a batch sets the
    /// same values again, a compare-and-swap reads again).
    pub(super) fn query<T: Send + 'static>(
        &self,
        query: impl Fn(Arc<Conn>) -> Boxed<T> + Send + 'static,
    ) -> Result<T> {
        let shared = self.shared.clone();
        self.block(async move {
            let mut tries = 0;
            loop {
                let conn = shared.conn().await?;
                match query(conn.clone()).await {
                    Err(StateError::Postgres(_)) if conn.client.is_closed() && tries < 3 => {
                        tries += 1;
                        shared.forget(&conn).await;
                        tokio::time::sleep(std::time::Duration::from_millis(100 << tries)).await;
                    }
                    other => return other,
                }
            }
        })
    }
}

impl Shared {
    pub(super) async fn connect(&self) -> Result<Client> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(pg_error)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("state's PostgreSQL connection: {}", describe(&e));
            }
        });
        Ok(client)
    }

    async fn conn(&self) -> Result<Arc<Conn>> {
        let mut held = self.conn.lock().await;
        if let Some(conn) = held.as_ref().filter(|c| !c.client.is_closed()) {
            return Ok(conn.clone());
        }
        let conn = Arc::new(Conn {
            client: self.connect().await?,
            prepared: Default::default(),
        });
        *held = Some(conn.clone());
        Ok(conn)
    }

    async fn forget(&self, lost: &Arc<Conn>) {
        let mut held = self.conn.lock().await;
        if held.as_ref().is_some_and(|c| Arc::ptr_eq(c, lost)) {
            *held = None;
        }
    }

    /// Brings the schema to [`SCHEMA_VERSION`], or refuses a newer one.
    async fn set_up(&self) -> Result<()> {
        let mut client = self.connect().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .await
            .map_err(pg_error)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS synchost_schema (version integer NOT NULL)")
            .await
            .map_err(pg_error)?;
        let found: Option<i32> = tx
            .query_one("SELECT max(version) FROM synchost_schema", &[])
            .await
            .map_err(pg_error)?
            .get(0);
        let found = found.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StateError::NewerSchema {
                found,
                known: SCHEMA_VERSION,
            });
        }
        for (version, sql) in SCHEMA.iter().filter(|(v, _)| *v > found) {
            tx.batch_execute(sql).await.map_err(pg_error)?;
            tracing::info!(version, "state schema in PostgreSQL set up");
        }
        if found < SCHEMA_VERSION {
            tx.execute("DELETE FROM synchost_schema", &[])
                .await
                .map_err(pg_error)?;
            tx.execute(
                "INSERT INTO synchost_schema (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)
    }
}

impl Conn {
    async fn prepared(&self, sql: &str) -> Result<Statement> {
        let cached = self.prepared.lock().expect("statements").get(sql).cloned();
        if let Some(statement) = cached {
            return Ok(statement);
        }
        let statement = self.client.prepare(sql).await.map_err(pg_error)?;
        self.prepared
            .lock()
            .expect("statements")
            .insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    async fn rows(&self, sql: &str, params: &Params) -> Result<Vec<tokio_postgres::Row>> {
        let statement = self.prepared(sql).await?;
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.client.query(&statement, &refs).await.map_err(pg_error)
    }

    async fn execute(&self, sql: &str, params: &Params) -> Result<u64> {
        let statement = self.prepared(sql).await?;
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.client
            .execute(&statement, &refs)
            .await
            .map_err(pg_error)
    }
}

/// A query's text and its parameters, owned, to be run (again) on the
/// state's thread.
pub(super) fn rows(
    sql: String,
    params: impl Fn() -> Params + Send + Sync + 'static,
) -> impl Fn(Arc<Conn>) -> Boxed<Vec<tokio_postgres::Row>> + Send + 'static {
    let sql = Arc::new(sql);
    let params = Arc::new(params);
    move |conn| {
        let (sql, params) = (sql.clone(), params.clone());
        Box::pin(async move { conn.rows(&sql, &params()).await })
    }
}

pub(super) fn execute(
    sql: String,
    params: impl Fn() -> Params + Send + Sync + 'static,
) -> impl Fn(Arc<Conn>) -> Boxed<u64> + Send + 'static {
    let sql = Arc::new(sql);
    let params = Arc::new(params);
    move |conn| {
        let (sql, params) = (sql.clone(), params.clone());
        Box::pin(async move { conn.execute(&sql, &params()).await })
    }
}

/// The `WHERE` of a range of keys (parameters from `$2`) and the keys it
/// compares with.
fn range_sql(range: &Range) -> (String, Vec<Vec<u8>>) {
    let mut sql = String::new();
    let mut keys = Vec::new();
    for (bound, inclusive, exclusive) in [(&range.0, ">=", ">"), (&range.1, "<=", "<")] {
        let (op, k) = match bound {
            Bound::Included(k) => (inclusive, k),
            Bound::Excluded(k) => (exclusive, k),
            Bound::Unbounded => continue,
        };
        keys.push(k.clone());
        sql.push_str(&format!(" AND key {op} ${}", keys.len() + 1));
    }
    (sql, keys)
}

/// A tree's name and keys as a statement's parameters.
fn tree_and(tree: Tree, keys: Vec<Vec<u8>>) -> impl Fn() -> Params + Send + Sync + 'static {
    move || {
        let mut params: Params = vec![Box::new(tree.name())];
        for k in &keys {
            params.push(Box::new(k.clone()));
        }
        params
    }
}

/// A scan, read a page at a time (pages grow, so that a scan stopped after
/// a few entries reads few).
struct Scan<'a> {
    store: &'a Postgres,
    tree: Tree,
    range: Range,
    reverse: bool,
    page: usize,
    read: VecDeque<Entry>,
    done: bool,
}

impl Scan<'_> {
    fn fetch(&mut self) -> Result<()> {
        let (range, keys) = range_sql(&self.range);
        let order = if self.reverse { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT key, value FROM synchost_kv WHERE tree = $1{range} ORDER BY key {order} LIMIT {}",
            self.page
        );
        let found = self.store.query(rows(sql, tree_and(self.tree, keys)))?;
        self.done = found.len() < self.page;
        self.page = (self.page * 4).min(4096);
        for row in found {
            self.read.push_back((row.get(0), row.get(1)));
        }
        if let Some((last, _)) = self.read.back() {
            let past = Bound::Excluded(last.clone());
            if self.reverse {
                self.range.1 = past;
            } else {
                self.range.0 = past;
            }
        }
        Ok(())
    }
}

impl Iterator for Scan<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        if self.read.is_empty() && !self.done {
            if let Err(e) = self.fetch() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.read.pop_front().map(Ok)
    }
}

impl Store for Postgres {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let found = self.query(rows(
            "SELECT value FROM synchost_kv WHERE tree = $1 AND key = $2".into(),
            tree_and(tree, vec![key.to_vec()]),
        ))?;
        Ok(found.first().map(|row| row.get(0)))
    }

    fn apply(&self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // The last change of each key is the one that stands; one
        // statement then removes some keys and upserts others.
        let mut last: BTreeMap<(Tree, Vec<u8>), Option<Vec<u8>>> = BTreeMap::new();
        for op in batch.ops {
            match op {
                Op::Put(tree, k, v) => last.insert((tree, k), Some(v)),
                Op::Remove(tree, k) => last.insert((tree, k), None),
            };
        }
        let (mut gone_trees, mut gone_keys) = (Vec::new(), Vec::new());
        let (mut put_trees, mut put_keys, mut put_values) = (Vec::new(), Vec::new(), Vec::new());
        for ((tree, k), v) in last {
            match v {
                Some(v) => {
                    put_trees.push(tree.name());
                    put_keys.push(k);
                    put_values.push(v);
                }
                None => {
                    gone_trees.push(tree.name());
                    gone_keys.push(k);
                }
            }
        }
        let params = Arc::new((gone_trees, gone_keys, put_trees, put_keys, put_values));
        self.query(execute(
            "WITH gone AS (
                 DELETE FROM synchost_kv k
                 USING unnest($1::text[], $2::bytea[]) AS d(tree, key)
                 WHERE k.tree = d.tree AND k.key = d.key
             )
             INSERT INTO synchost_kv (tree, key, value)
             SELECT * FROM unnest($3::text[], $4::bytea[], $5::bytea[])
             ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value"
                .into(),
            move || {
                vec![
                    Box::new(params.0.clone()),
                    Box::new(params.1.clone()),
                    Box::new(params.2.clone()),
                    Box::new(params.3.clone()),
                    Box::new(params.4.clone()),
                ]
            },
        ))?;
        Ok(())
    }

    fn scan(&self, tree: Tree, range: Range, reverse: bool) -> Entries<'_> {
        Box::new(Scan {
            store: self,
            tree,
            range,
            reverse,
            page: 32,
            read: VecDeque::new(),
            done: false,
        })
    }

    fn count(&self, tree: Tree, prefix: &[u8]) -> Result<usize> {
        let (range, keys) = range_sql(&super::store::prefix_range(prefix));
        let sql = format!("SELECT count(*) FROM synchost_kv WHERE tree = $1{range}");
        let found = self.query(rows(sql, tree_and(tree, keys)))?;
        Ok(found.first().map_or(0, |row| row.get::<_, i64>(0)) as usize)
    }

    fn update(&self, tree: Tree, key: &[u8], change: &mut Change<'_>) -> Result<Option<Vec<u8>>> {
        loop {
            let old = self.get(tree, key)?;
            let new = change(old.as_deref());
            let (k, o, n) = (key.to_vec(), old.clone(), new.clone());
            let (sql, params): (&str, Box<dyn Fn() -> Params + Send + Sync>) = match (&old, &new) {
                (None, None) => return Ok(None),
                // Nothing changes (a timer's tick of a job not due): no write.
                (Some(o), Some(n)) if o == n => return Ok(new),
                (None, Some(_)) => (
                    "INSERT INTO synchost_kv (tree, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    Box::new(move || {
                        vec![
                            Box::new(tree.name()),
                            Box::new(k.clone()),
                            Box::new(n.clone()),
                        ]
                    }),
                ),
                (Some(_), Some(_)) => (
                    "UPDATE synchost_kv SET value = $3 WHERE tree = $1 AND key = $2 AND value = $4",
                    Box::new(move || {
                        vec![
                            Box::new(tree.name()),
                            Box::new(k.clone()),
                            Box::new(n.clone()),
                            Box::new(o.clone()),
                        ]
                    }),
                ),
                (Some(_), None) => (
                    "DELETE FROM synchost_kv WHERE tree = $1 AND key = $2 AND value = $3",
                    Box::new(move || {
                        vec![
                            Box::new(tree.name()),
                            Box::new(k.clone()),
                            Box::new(o.clone()),
                        ]
                    }),
                ),
            };
            // Another writer changed the entry since it was read: again.
            if self.query(execute(sql.into(), params))? == 1 {
                return Ok(new);
            }
        }
    }

    fn next_id(&self) -> Result<u64> {
        let found = self.query(rows("SELECT nextval('synchost_ids')".into(), Vec::new))?;
        Ok(found.first().map_or(0, |row| row.get::<_, i64>(0)) as u64)
    }

    fn skip_ids(&self, floor: u64) -> Result<()> {
        let floor = i64::try_from(floor).unwrap_or(i64::MAX);
        self.query(rows(
            "SELECT setval('synchost_ids', greatest($1, (SELECT last_value FROM synchost_ids)))"
                .into(),
            move || vec![Box::new(floor)],
        ))?;
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        // Each statement is committed, and on disk, when it returns.
        Ok(())
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn leases(&self) -> Option<&dyn super::leases::Leases> {
        Some(self)
    }
}
