//! # The connector acceptance suite
//!
//! What `synchost connector test FILE.wasm --simulator NAME` runs: a
//! connector against a simulated platform, checked for what every connector
//! must do — a valid descriptor and schemas; reads that end; a read resumed
//! from a saved cursor yielding the rest exactly once; incremental reads
//! returning only changes; writes that round-trip; typed errors; the
//! declared rate respected; no request to an undeclared host.

mod batches;
mod faults;
mod fixture;
mod platform;
mod real;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::runtime::{
    Capabilities, ConnectorError, DeleteOp, LoadedConnector, Page, ReadRequest, Record, Runtime,
    RuntimeError, Session, UpdateOp, WriteOp,
};
pub use fixture::{ConnectionTarget, Fixture, SimOptions, SIMULATORS};
pub use platform::Platform;

/// One check and how it went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: &'static str,
    /// `None`: passed; `Some(reason)`: failed
    pub failure: Option<String>,
    /// the check did not exercise what it names (a capability the connector
    /// lacks, no request made): it is not a pass
    pub skipped: bool,
    /// why it was skipped
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
}

impl Check {
    /// It ran, and found nothing wrong.
    pub fn passed(&self) -> bool {
        self.failure.is_none() && !self.skipped
    }

    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }
}

/// What a check that found nothing wrong did: tested what it names, or
/// could not (and says why).
pub enum Verdict {
    Tested,
    Skipped(String),
}

fn skipped(why: impl Into<String>) -> Result<Verdict, String> {
    Ok(Verdict::Skipped(why.into()))
}

/// `Skipped` when the connector lacks `cap`.
fn requires(ctx: &Ctx, cap: Capabilities, name: &str) -> Option<Result<Verdict, String>> {
    (!ctx.connector.descriptor.capabilities.contains(cap))
        .then(|| skipped(format!("the connector does not claim `{name}`")))
}

/// `Skipped` when the connector does not write, or the run may not.
fn writes_allowed(ctx: &Ctx) -> Option<Result<Verdict, String>> {
    if ctx.platform.read_only() {
        return Some(skipped(
            "--read-only (or a connector that does not write): the suite writes nothing",
        ));
    }
    requires(ctx, Capabilities::WRITE, "write")
}

/// Reads stop after this many pages: a connector that never ends its cursor fails.
const MAX_PAGES: usize = 10_000;
/// How many records a fixture is seeded with.
pub const RECORDS: usize = 250;
const PAGE: u32 = 40;

struct Ctx {
    runtime: Runtime,
    connector: Arc<LoadedConnector>,
    platform: Platform,
    secret_names: Vec<String>,
    /// the records a full read must find: the simulators' seeded
    /// [`RECORDS`], or what a real platform held when the suite began
    expected: usize,
}

impl Ctx {
    /// The connector's first declared origin, which the fixture redirects.
    fn origin(&self) -> String {
        self.connector
            .descriptor
            .hosts
            .first()
            .cloned()
            .unwrap_or_default()
    }

    async fn session(&self) -> Result<Session, RuntimeError> {
        let conn = self.platform.connection(&self.origin(), "valid");
        self.runtime
            .session_with_secrets(
                &self.connector,
                &conn,
                self.platform.secrets(&self.secret_names),
            )
            .await
    }

    fn req(&self, cursor: Option<String>, since: Option<String>) -> ReadRequest {
        ReadRequest {
            entity: self.platform.entity().into(),
            cursor,
            since,
            page_size: PAGE,
        }
    }

    /// Reads every page from `cursor`; the ids of live records, the checkpoint.
    async fn read_all(
        &self,
        session: &mut Session,
        cursor: Option<String>,
        since: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), String> {
        let (records, checkpoint) = self.read_records(session, cursor, since).await?;
        Ok((records.into_iter().map(|r| r.id).collect(), checkpoint))
    }

    /// Reads every page from `cursor`; the live records, the checkpoint.
    async fn read_records(
        &self,
        session: &mut Session,
        cursor: Option<String>,
        since: Option<String>,
    ) -> Result<(Vec<Record>, Option<String>), String> {
        let mut records = Vec::new();
        let mut cursor = cursor;
        let mut seen = BTreeSet::new();
        for _ in 0..MAX_PAGES {
            let page: Page = session
                .read(&self.req(cursor.clone(), since.clone()))
                .await
                .map_err(|e| e.to_string())?;
            // A tombstone (an archived or trashed record a full read also
            // lists, as HubSpot's `archived=true` pages do) is not a live record.
            records.extend(page.records.into_iter().filter(|r| !r.deleted));
            match page.next_cursor {
                Some(next) => {
                    if !seen.insert(next.clone()) {
                        return Err(format!(
                            "the cursor {next} came back twice: the read would never end"
                        ));
                    }
                    cursor = Some(next);
                }
                None => return Ok((records, page.checkpoint)),
            }
        }
        Err(format!("no last page after {MAX_PAGES} pages"))
    }
}

/// HTTP requests `connector` made through this runtime that got an answer.
fn requests(runtime: &Runtime, connector: &str) -> u64 {
    runtime
        .stats()
        .http_counts()
        .into_iter()
        .filter(|((name, status), _)| name == connector && *status != 0)
        .map(|(_, n)| n)
        .sum()
}

fn secret_names(c: &LoadedConnector) -> Vec<String> {
    let mut names = vec![];
    match &c.descriptor.auth {
        crate::runtime::AuthScheme::Bearer(s) | crate::runtime::AuthScheme::Header((_, s)) => {
            names.push(s.clone())
        }
        crate::runtime::AuthScheme::Basic(b) => {
            names.extend([b.user_secret.clone(), b.password_secret.clone()])
        }
        crate::runtime::AuthScheme::ClientCredentials(cc) => {
            names.extend([cc.client_id_secret.clone(), cc.client_secret_secret.clone()])
        }
        crate::runtime::AuthScheme::None => {}
    }
    names.push("token".into());
    names
}

/// Runs the suite on the connector at `wasm` against simulator `simulator`.
pub async fn run(runtime: &Runtime, wasm: &Path, simulator: &str) -> anyhow::Result<Vec<Check>> {
    run_opts(
        runtime,
        wasm,
        &Options {
            simulator: Some(simulator.into()),
            ..Default::default()
        },
    )
    .await
}

/// What `connector test` was asked: a simulator or a connection, recorded
/// or not, or a cassette.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub simulator: Option<String>,
    /// a connection file naming any platform (settings, secrets, overrides)
    pub connection: Option<PathBuf>,
    /// the entity to test, with `connection`
    pub entity: Option<String>,
    /// write nothing: the write checks are skipped
    pub read_only: bool,
    /// save every HTTP exchange, secrets redacted, into this folder
    pub record: Option<PathBuf>,
    /// answer every HTTP request from the cassette in this folder, offline
    pub cassette: Option<PathBuf>,
}

pub async fn run_opts(
    runtime: &Runtime,
    wasm: &Path,
    opts: &Options,
) -> anyhow::Result<Vec<Check>> {
    let connector = runtime.load(wasm).await?;
    let platform = match (&opts.cassette, &opts.simulator, &opts.connection) {
        (Some(_), _, _) if opts.record.is_some() => {
            anyhow::bail!("`--record` and `--cassette` exclude each other: record a live run, replay it offline")
        }
        (Some(dir), _, _) => Platform::replay(dir)?,
        (None, Some(_), Some(_)) => {
            anyhow::bail!("`--simulator` and `--connection` exclude each other: name one platform")
        }
        (None, Some(name), None) => {
            Platform::live(Fixture::start(name, RECORDS).await?, opts.record.as_deref())?
        }
        (None, None, Some(file)) => {
            let Some(entity) = &opts.entity else {
                anyhow::bail!(
                    "`--connection` needs `--entity NAME`; {} lists: {}",
                    connector.name,
                    connector.descriptor.entities.join(", ")
                );
            };
            let target =
                ConnectionTarget::open(runtime, &connector, file, entity, opts.read_only).await?;
            let fixture = Fixture::Connection {
                target: Box::new(target),
            };
            Platform::live(fixture, opts.record.as_deref())?
        }
        (None, None, None) => anyhow::bail!(
            "say what to test against: `--connection FILE --entity NAME` (any platform), \
             `--simulator NAME` ({}) or `--cassette DIR`",
            SIMULATORS.join(", ")
        ),
    };
    run_platform(runtime, connector, platform).await
}

/// Runs the suite on a loaded connector against a fixture already started
/// (a real platform the caller set up, for instance).
pub async fn run_with(
    runtime: &Runtime,
    connector: Arc<LoadedConnector>,
    fixture: Fixture,
) -> anyhow::Result<Vec<Check>> {
    run_platform(runtime, connector, Platform::live(fixture, None)?).await
}

async fn run_platform(
    runtime: &Runtime,
    connector: Arc<LoadedConnector>,
    platform: Platform,
) -> anyhow::Result<Vec<Check>> {
    let mut ctx = Ctx {
        runtime: runtime.clone(),
        secret_names: secret_names(&connector),
        connector,
        platform,
        expected: RECORDS,
    };
    if ctx.platform.edits_through_connector() {
        ctx.expected = real::baseline(&ctx).await?;
    }
    let mut checks = Vec::new();
    let mut record = |name: &'static str, result: Result<Verdict, String>| {
        checks.push(match result {
            Ok(Verdict::Tested) => Check {
                name,
                failure: None,
                skipped: false,
                skip_reason: None,
            },
            Ok(Verdict::Skipped(why)) => Check {
                name,
                failure: None,
                skipped: true,
                skip_reason: Some(why),
            },
            Err(reason) => Check {
                name,
                failure: Some(reason),
                skipped: false,
                skip_reason: None,
            },
        })
    };
    let throttled_before = runtime.rate_limiter().stats().throttled;
    let requests_before = requests(runtime, &ctx.connector.name);
    record(
        "describe and schemas are valid",
        describe_and_schema(&ctx).await,
    );
    record(
        "reading every page terminates, each record once",
        read_every_page(&ctx).await,
    );
    record(
        "a read resumed from a saved cursor yields the rest exactly once",
        resume(&ctx).await,
    );
    record(
        "an incremental read returns only changes",
        incremental(&ctx).await,
    );
    record("writes round-trip", writes(&ctx).await);
    record(
        "each op of a write batch gets its own outcome",
        batches::each_op_its_own_outcome(&ctx).await,
    );
    record("errors are typed", typed_errors(&ctx).await);
    let throttled = runtime.rate_limiter().stats().throttled - throttled_before;
    let made = requests(runtime, &ctx.connector.name) - requests_before;
    record(
        "the declared rate limit is respected",
        if throttled > 0 {
            Err(format!(
                "the platform answered 429 {throttled} times at the connector's declared rate"
            ))
        } else if made == 0 {
            skipped("no request reached the platform")
        } else {
            Ok(Verdict::Tested)
        },
    );
    record("no request goes to an undeclared host", hosts(&ctx).await);
    // Last: it creates records the checks above do not expect.
    record(
        "answers that prove nothing are errors, unknown outcomes for writes",
        faults::answers_that_prove_nothing(&ctx).await,
    );
    if ctx.platform.edits_through_connector() && !ctx.platform.read_only() {
        // A replay asks the cassette the same questions, removing nothing.
        real::clean_up(&ctx, !ctx.platform.is_replay()).await;
    }
    if let Some(dir) = ctx.platform.finish(&ctx.origin())? {
        tracing::info!(dir = %dir.display(), "cassette recorded");
    }
    let unused = ctx.platform.unused();
    if unused > 0 {
        tracing::warn!(
            unused,
            "recorded exchanges the replayed run did not ask for"
        );
    }
    Ok(checks)
}

async fn describe_and_schema(ctx: &Ctx) -> Result<Verdict, String> {
    let d = &ctx.connector.descriptor;
    if d.version.split('.').count() < 2 {
        return Err(format!("version `{}` is not a semantic version", d.version));
    }
    if d.hosts.is_empty() {
        return Err("the descriptor declares no host".into());
    }
    if !d.capabilities.contains(Capabilities::READ) {
        return Err("the descriptor does not claim `read`".into());
    }
    let mut session = ctx.session().await.map_err(|e| e.to_string())?;
    let schema = session
        .schema(ctx.platform.entity())
        .await
        .map_err(|e| e.to_string())?;
    if schema.fields.is_empty() {
        return Err("the schema has no field".into());
    }
    let mut names = BTreeSet::new();
    for f in &schema.fields {
        if !names.insert(&f.name) {
            return Err(format!("field `{}` appears twice in the schema", f.name));
        }
    }
    Ok(Verdict::Tested)
}

async fn read_every_page(ctx: &Ctx) -> Result<Verdict, String> {
    let mut session = ctx.session().await.map_err(|e| e.to_string())?;
    let (ids, _) = ctx.read_all(&mut session, None, None).await?;
    let unique: BTreeSet<_> = ids.iter().collect();
    if unique.len() != ids.len() {
        return Err(format!(
            "{} records read, {} distinct",
            ids.len(),
            unique.len()
        ));
    }
    if ids.len() < ctx.expected {
        return Err(format!(
            "{} of the {} records read",
            ids.len(),
            ctx.expected
        ));
    }
    Ok(Verdict::Tested)
}

async fn resume(ctx: &Ctx) -> Result<Verdict, String> {
    let mut first = ctx.session().await.map_err(|e| e.to_string())?;
    let page = first
        .read(&ctx.req(None, None))
        .await
        .map_err(|e| e.to_string())?;
    let Some(cursor) = page.next_cursor.clone() else {
        if ctx.expected <= PAGE as usize {
            return skipped(format!(
                "`{}` holds {} records, one page of {PAGE}: nothing to resume",
                ctx.platform.entity(),
                ctx.expected
            ));
        }
        return Err("the first page of a multi-page read has no cursor".into());
    };
    // A new instance (as after a restart) resumes from the saved cursor.
    let mut second = ctx.session().await.map_err(|e| e.to_string())?;
    let (rest, _) = ctx.read_all(&mut second, Some(cursor), None).await?;
    let mut all: Vec<String> = page.records.iter().map(|r| r.id.clone()).collect();
    all.extend(rest);
    let unique: BTreeSet<_> = all.iter().collect();
    if unique.len() != all.len() || all.len() < ctx.expected {
        return Err(format!(
            "first page plus the rest: {} records, {} distinct, {} expected",
            all.len(),
            unique.len(),
            ctx.expected
        ));
    }
    Ok(Verdict::Tested)
}

async fn incremental(ctx: &Ctx) -> Result<Verdict, String> {
    if let Some(skip) = requires(ctx, Capabilities::INCREMENTAL, "incremental") {
        return skip;
    }
    if ctx.platform.edits_through_connector() && ctx.platform.read_only() {
        return skipped(
            "--read-only (or a connector that does not write): no record can be changed for an incremental read to find",
        );
    }
    let mut session = ctx.session().await.map_err(|e| e.to_string())?;
    ctx.platform.advance();
    let (_, checkpoint) = ctx.read_all(&mut session, None, None).await?;
    let Some(checkpoint) = checkpoint else {
        return Err("a complete read left no checkpoint".into());
    };
    ctx.platform.advance();
    let changed = if ctx.platform.edits_through_connector() {
        real::change_one(ctx, &mut session).await?
    } else {
        ctx.platform.edit_one().map_err(|e| e.to_string())?
    };
    let (ids, _) = ctx.read_all(&mut session, None, Some(checkpoint)).await?;
    if !ids.contains(&changed) {
        return Err(format!(
            "the changed record {changed} is not in the incremental read"
        ));
    }
    if ids.len() >= ctx.expected {
        return Err(format!(
            "the incremental read returned {} records: everything, not the changes",
            ids.len()
        ));
    }
    Ok(Verdict::Tested)
}

async fn writes(ctx: &Ctx) -> Result<Verdict, String> {
    if let Some(skip) = writes_allowed(ctx) {
        return skip;
    }
    let mut session = ctx.session().await.map_err(|e| e.to_string())?;
    let entity = ctx.platform.entity();
    let created = session
        .write_results(entity, &[WriteOp::Create(ctx.platform.new_fields())])
        .await
        .map_err(|e| e.to_string())?;
    let id = match &created[0] {
        Ok(w) => w.id.clone(),
        Err(e) => return Err(format!("create: {}", crate::runtime::describe_error(e))),
    };
    let (ids, _) = ctx.read_all(&mut session, None, None).await?;
    if !ids.contains(&id) {
        return Err(format!("created record {id} is not read back"));
    }
    let update = WriteOp::Update(UpdateOp {
        id: id.clone(),
        expected_version: None,
        fields: ctx.platform.new_fields(),
    });
    if let Err(e) = &session
        .write_results(entity, &[update])
        .await
        .map_err(|e| e.to_string())?[0]
    {
        return Err(format!("update: {}", crate::runtime::describe_error(e)));
    }
    let delete = WriteOp::Delete(DeleteOp {
        id: id.clone(),
        expected_version: None,
    });
    if let Err(e) = &session
        .write_results(entity, &[delete])
        .await
        .map_err(|e| e.to_string())?[0]
    {
        return Err(format!("delete: {}", crate::runtime::describe_error(e)));
    }
    let (ids, _) = ctx.read_all(&mut session, None, None).await?;
    if ids.contains(&id) {
        return Err(format!("deleted record {id} is still read"));
    }
    Ok(Verdict::Tested)
}

async fn typed_errors(ctx: &Ctx) -> Result<Verdict, String> {
    let conn = ctx.platform.connection(&ctx.origin(), "wrong-credential");
    let mut session = ctx
        .runtime
        .session_with_secrets(
            &ctx.connector,
            &conn,
            ctx.platform.wrong_secrets(&ctx.secret_names),
        )
        .await
        .map_err(|e| e.to_string())?;
    match session.read(&ctx.req(None, None)).await {
        Err(RuntimeError::Connector {
            error: ConnectorError::Unauthorized(_),
            ..
        }) => {}
        Err(other) => {
            return Err(format!(
                "a wrong credential gave `{other}`, not `unauthorized`"
            ))
        }
        Ok(_) => return Err("a wrong credential was accepted".into()),
    }
    let mut session = ctx.session().await.map_err(|e| e.to_string())?;
    let req = ReadRequest {
        entity: "no-such-entity".into(),
        cursor: None,
        since: None,
        page_size: PAGE,
    };
    match session.read(&req).await {
        Err(RuntimeError::Connector {
            error: ConnectorError::NotFound(_) | ConnectorError::InvalidInput(_),
            ..
        }) => Ok(Verdict::Tested),
        Err(other) => Err(format!(
            "an unknown entity gave `{other}`, not `not-found` or `invalid-input`"
        )),
        Ok(_) => Err("an unknown entity was read".into()),
    }
}

async fn hosts(ctx: &Ctx) -> Result<Verdict, String> {
    let mut session = ctx.session().await.map_err(|e| e.to_string())?;
    ctx.read_all(&mut session, None, None).await?;
    let conn = ctx.platform.connection(&ctx.origin(), "valid");
    let declared: Vec<crate::runtime::policy::Origin> =
        crate::runtime::policy::resolve_declared(&ctx.connector.descriptor.hosts, &conn.settings)?
            .iter()
            .filter_map(|h| crate::runtime::policy::Origin::parse(h).ok())
            .collect();
    for call in session.calls() {
        if let Some(error) = &call.error {
            if error.contains("denied") {
                return Err(format!(
                    "{} {}{}: {error}",
                    call.method, call.host, call.path
                ));
            }
        }
        if !declared.iter().any(|d| {
            d.host == call.host
                || d.host
                    .strip_prefix("*.")
                    .is_some_and(|s| call.host.ends_with(s))
        }) {
            return Err(format!(
                "a request went to {}, which the connector did not declare",
                call.host
            ));
        }
    }
    if session.calls().is_empty() {
        return skipped("the connector made no request");
    }
    Ok(Verdict::Tested)
}
