//! # The connector runtime
//!
//! Loads connectors (WebAssembly components built against the WIT contract in
//! `wit/`), runs each in a sandbox, and gives it exactly two capabilities:
//! HTTP to the hosts it declared, and credentials it can use but never read.
//!
//! - One [`Runtime`] per host: one `wasmtime::Engine` with epoch interruption,
//!   a cache of compiled components on disk (a warm load takes milliseconds),
//!   the HTTP clients, and the rate-limit buckets shared by every session.
//! - [`Runtime::load`] compiles (or fetches from the cache), reads the contract
//!   version from the component's exports, links it once (`InstancePre`) and
//!   calls `describe`.
//! - [`Runtime::session`] makes a fresh `Store` and instance for one run and
//!   configures it with a job's [`Connection`]: settings, secret bindings,
//!   allowed hosts, endpoint overrides, private-network permission, limits.
//!
//! The runtime never decides sync policy; the sync core never imports wasmtime.

mod adapt;
mod bindings;
mod connector;
mod engine;
mod error;
mod imports;
pub mod json;
mod limits;
mod net;
pub mod oauth;
mod outbound;
pub mod policy;
pub mod rate;
mod scrub;
pub mod secrets;
pub mod stats;
pub mod table;
pub mod tape;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Instant;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::Engine;

pub use bindings::{NEWEST as NEWEST_CONTRACT, SUPPORTED_CONTRACTS};
pub use connector::*;
pub(crate) use engine::write_atomically;
pub use engine::Source;
pub use error::{describe as describe_error, ConnectorError, Limit, RuntimeError};
pub use imports::CallRecord;
pub use limits::Limits;
pub use rate::{Rate, RateLimiter, RateStats};
pub use secrets::{SecretProvider, SecretScope, Secrets};

use bindings::{v0_1_0 as v1, v0_2_0 as v2};
use imports::{HostState, NetCtx};

/// The share of a connector's declared rate the host uses.
const HINT_MARGIN: f64 = 0.9;

/// How a job connects one side to a connector. Everything here is host-side
/// and trusted; none of it is shown to the connector except `settings`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Connection {
    /// handed to the connector's `configure` (ids, table names; never secrets)
    pub settings: BTreeMap<String, String>,
    /// secret name the connector uses -> `env:VAR` or `file:KEY`
    pub secrets: BTreeMap<String, String>,
    /// secrets, besides the one its auth scheme names, that the connector may
    /// write into request headers as `{{secret:NAME}}`; every other secret
    /// only keys the `crypto` import (webhook signatures)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub header_secrets: Vec<String>,
    /// narrows the connector's declared hosts; it cannot widen them
    pub allowed_hosts: Option<Vec<String>>,
    /// declared origin -> where its requests really go (a simulator, a proxy)
    pub endpoint_overrides: BTreeMap<String, String>,
    /// allow loopback and private addresses (simulators, on-premises platforms)
    pub allow_private_networks: bool,
    /// overrides the connector's rate hint
    pub rate_limit: Option<Rate>,
    pub limits: Option<Limits>,
    /// the host refreshes the access token on 401 (OAuth 2.0 refresh tokens)
    pub oauth2: Option<oauth::OAuth2>,
    /// records this session's HTTP exchanges, or answers them from a cassette
    #[serde(skip)]
    #[schemars(skip)]
    pub tape: Option<tape::Tape>,
    /// whose secrets `secrets` may name (set from the job, never from JSON)
    #[serde(skip)]
    #[schemars(skip)]
    pub secret_scope: secrets::SecretScope,
}

impl Connection {
    /// A connection file (JSON, the object a job side holds as
    /// `connection`), for the commands that take one; unknown fields are
    /// refused by name.
    pub fn from_file(path: &Path) -> anyhow::Result<Connection> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("cannot read the connection file {}: {e}", path.display())
        })?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not a connection: {e}", path.display()))
    }
}

#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// where compiled components are kept; `None` compiles on every load
    pub cache_dir: Option<PathBuf>,
    pub secrets: SecretProvider,
    /// default limits for sessions whose connection sets none
    pub limits: Limits,
    /// an HTTP proxy for connector requests; the environment's are never used
    pub proxy: Option<String>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    cache: engine::ComponentCache,
    clients: outbound::Clients,
    rate_limiter: RateLimiter,
    stats: Arc<stats::Stats>,
    tokens: oauth::TokenCache,
    options: RuntimeOptions,
    _ticker: engine::EpochTicker,
}

/// The connector host. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Runtime> {
        let engine = engine::new_engine()?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // Both contracts' imports: their instance names carry the version.
        v1::Connector::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        v2::Connector::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                cache: engine::ComponentCache::new(&engine, options.cache_dir.clone()),
                _ticker: engine::EpochTicker::start(&engine),
                clients: outbound::Clients::new(options.proxy.as_deref())?,
                rate_limiter: RateLimiter::default(),
                stats: Default::default(),
                tokens: Default::default(),
                engine,
                linker,
                options,
            }),
        })
    }

    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.inner.rate_limiter
    }

    /// HTTP calls and connector call latency since the runtime started.
    pub fn stats(&self) -> &stats::Stats {
        &self.inner.stats
    }

    /// Loads the component at `path`.
    pub async fn load(&self, path: &Path) -> Result<Arc<LoadedConnector>, RuntimeError> {
        let origin = path.display().to_string();
        let wasm = tokio::fs::read(path)
            .await
            .map_err(|e| RuntimeError::Load {
                path: origin.clone(),
                reason: e.to_string(),
            })?;
        self.load_bytes(&origin, wasm).await
    }

    /// Loads a component from memory; `origin` names it in messages.
    pub async fn load_bytes(
        &self,
        origin: &str,
        wasm: Vec<u8>,
    ) -> Result<Arc<LoadedConnector>, RuntimeError> {
        let started = Instant::now();
        let inner = self.inner.clone();
        let load_err = |reason: String| RuntimeError::Load {
            path: origin.to_string(),
            reason,
        };
        check_header(&wasm).map_err(load_err)?;
        // Compiling takes seconds of CPU: keep it off the async workers.
        let (component, hash, source) =
            tokio::task::spawn_blocking(move || inner.cache.load(&inner.engine, &wasm))
                .await
                .map_err(|e| load_err(e.to_string()))?
                .map_err(|e| {
                    load_err(format!(
                        "not a valid component: {}",
                        one_line(&format!("{e:#}"))
                    ))
                })?;
        let contract = connector::contract_version(&component, &self.inner.engine, origin)?;
        let pre = self.inner.linker.instantiate_pre(&component).map_err(|e| {
            load_err(format!(
                "it imports something this host does not provide: {e:#}"
            ))
        })?;
        let mismatch = |e: wasmtime::Error| {
            load_err(format!(
                "its exports do not match contract {contract}: {e:#}"
            ))
        };
        let pre = match contract.as_str() {
            "0.1.0" => connector::Pre::V1(v1::ConnectorPre::new(pre).map_err(mismatch)?),
            _ => connector::Pre::V2(v2::ConnectorPre::new(pre).map_err(mismatch)?),
        };

        // `describe` runs in a session that may reach no host at all.
        let loaded_at = chrono::Utc::now();
        let build = |name: String, descriptor: Descriptor| LoadedConnector {
            name,
            origin: origin.to_string(),
            hash: hash.clone(),
            contract: contract.clone(),
            descriptor,
            source,
            loaded_at,
            pre: pre.clone(),
        };
        let probe = Arc::new(build(origin.to_string(), empty_descriptor()));
        let net = self.net_ctx(
            origin,
            &probe.descriptor,
            &Connection::default(),
            Secrets::default(),
        )?;
        let descriptor = Session::start(probe, HostState::new(net), &self.inner.engine)
            .await?
            .describe()
            .await?;
        if descriptor.contract != contract {
            return Err(load_err(format!(
                "its descriptor says contract {} but it was built against {contract}",
                descriptor.contract
            )));
        }
        if descriptor.name.trim().is_empty() {
            return Err(load_err("its descriptor has an empty name".into()));
        }
        for host in &descriptor.hosts {
            if host.starts_with("{{setting:") && host.ends_with("}}") {
                continue;
            }
            policy::Origin::parse(host)
                .map_err(|e| load_err(format!("it declares a bad host: {e}")))?;
        }
        if descriptor.max_batch == Some(0) {
            return Err(load_err(
                "its descriptor says max-batch 0: a write call must carry at least one op".into(),
            ));
        }
        if let AuthScheme::ClientCredentials(cc) = &descriptor.auth {
            url::Url::parse(&cc.token_url).map_err(|e| {
                load_err(format!(
                    "its client-credentials token-url `{}` is not a URL: {e}",
                    policy::clip(&cc.token_url, 200)
                ))
            })?;
        }
        tracing::info!(connector = %descriptor.name, version = %descriptor.version, contract = %contract, source = ?source, millis = started.elapsed().as_millis() as u64, "connector loaded");
        Ok(Arc::new(build(descriptor.name.clone(), descriptor)))
    }

    /// A fresh, configured instance of `connector` for one run.
    /// The built-in side called `name` (`postgres`, `sqlite`), if it is one.
    pub fn builtin(&self, name: &str) -> Option<Arc<LoadedConnector>> {
        let kind = table::Kind::named(name)?;
        Some(Arc::new(LoadedConnector {
            name: kind.name().into(),
            origin: format!("built-in {} side", kind.name()),
            hash: format!("builtin:{}@{}", kind.name(), env!("CARGO_PKG_VERSION")),
            contract: "0.2.0".into(),
            descriptor: kind.descriptor(),
            source: engine::Source::Compiled,
            loaded_at: chrono::Utc::now(),
            pre: connector::Pre::Table(kind),
        }))
    }

    pub async fn session(
        &self,
        connector: &Arc<LoadedConnector>,
        conn: &Connection,
    ) -> Result<Session, RuntimeError> {
        let secrets = self.resolve_secrets(&connector.name, conn)?;
        self.session_with_secrets(connector, conn, secrets).await
    }

    /// As [`Runtime::session`], with secret values the caller already holds
    /// (the demo's simulator tokens) instead of the job's bindings.
    pub async fn session_with_secrets(
        &self,
        connector: &Arc<LoadedConnector>,
        conn: &Connection,
        secrets: Secrets,
    ) -> Result<Session, RuntimeError> {
        let net = self.net_ctx(&connector.name, &connector.descriptor, conn, secrets)?;
        let mut session =
            Session::start(connector.clone(), HostState::new(net), &self.inner.engine).await?;
        let settings: Vec<(String, String)> = conn
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        session.configure(&settings).await?;
        Ok(session)
    }

    pub(crate) fn resolve_secrets(
        &self,
        name: &str,
        conn: &Connection,
    ) -> Result<Secrets, RuntimeError> {
        self.inner
            .options
            .secrets
            .resolve(&conn.secrets, &conn.secret_scope)
            .map_err(|e| RuntimeError::Config {
                connector: name.to_string(),
                reason: e.to_string(),
            })
    }

    fn net_ctx(
        &self,
        name: &str,
        descriptor: &Descriptor,
        conn: &Connection,
        secrets: Secrets,
    ) -> Result<NetCtx, RuntimeError> {
        let config_err = |reason: String| RuntimeError::Config {
            connector: name.to_string(),
            reason,
        };
        let declared =
            policy::resolve_declared(&descriptor.hosts, &conn.settings).map_err(config_err)?;
        let policy = policy::Policy::new(
            &declared,
            conn.allowed_hosts.as_deref(),
            &conn.endpoint_overrides,
            conn.allow_private_networks,
        )
        .map_err(config_err)?;
        let secrets_fp = conn
            .oauth2
            .as_ref()
            .and_then(|o| secrets.fingerprint(&o.refresh_token));
        // The secrets the auth scheme puts into headers, those only the host
        // reads (OAuth's refresh token and client credentials), and the one
        // that says whose credential a request spends (the rate bucket's key).
        let (auth_secrets, mut host_only, whose): (Vec<String>, Vec<String>, Option<&str>) =
            match &descriptor.auth {
                AuthScheme::Bearer(s) | AuthScheme::Header((_, s)) => {
                    (vec![s.clone()], vec![], Some(s))
                }
                AuthScheme::Basic(b) => (
                    vec![net::BASIC_SECRET.into()],
                    vec![b.user_secret.clone(), b.password_secret.clone()],
                    Some(&b.user_secret),
                ),
                AuthScheme::ClientCredentials(cc) => (
                    vec![net::ACCESS_TOKEN_SECRET.into()],
                    vec![cc.client_id_secret.clone(), cc.client_secret_secret.clone()],
                    Some(&cc.client_id_secret),
                ),
                AuthScheme::None => (vec![], vec![], None),
            };
        let credential = whose.and_then(|s| secrets.fingerprint(s));
        // Each secret serves one purpose: the auth scheme's (and those the
        // connection lists) go into headers; OAuth's refresh token and client
        // credentials stay with the host; the rest only key HMACs.
        host_only.extend(conn.oauth2.iter().flat_map(|o| {
            [
                Some(&o.refresh_token),
                o.client_id.as_ref(),
                o.client_secret.as_ref(),
            ]
            .into_iter()
            .flatten()
            .filter(|name| !auth_secrets.contains(name))
            .cloned()
            .collect::<Vec<_>>()
        }));
        // Who gets access tokens, and for whose credential (the cache's key).
        let refresher = match (&conn.oauth2, &descriptor.auth) {
            (Some(_), AuthScheme::ClientCredentials(_)) => {
                return Err(config_err(
                    "the connector's client-credentials scheme gets its own access token: \
                     the connection's `oauth2` block does not apply; remove it"
                        .into(),
                ))
            }
            (Some(config), _) => Some((config.clone(), oauth::Grant::RefreshToken, secrets_fp)),
            (None, AuthScheme::ClientCredentials(cc)) => Some((
                oauth::OAuth2 {
                    token_url: cc.token_url.clone(),
                    access_token: net::ACCESS_TOKEN_SECRET.into(),
                    refresh_token: String::new(),
                    client_id: Some(cc.client_id_secret.clone()),
                    client_secret: Some(cc.client_secret_secret.clone()),
                },
                oauth::Grant::ClientCredentials {
                    scopes: cc.scopes.clone(),
                },
                credential.clone(),
            )),
            (None, _) => None,
        };
        let secrets = match &descriptor.auth {
            AuthScheme::Basic(b) => net::with_basic_credential(secrets, b),
            _ => secrets,
        };
        let secrets = secrets.grant(
            auth_secrets.iter().chain(&conn.header_secrets).cloned(),
            host_only,
        );
        // A connector's hint is the platform's documented limit; the host keeps
        // 10% under it, since its clock and the platform's never tick together.
        // A job's own rate is taken as given.
        let rate = conn.rate_limit.or(descriptor.rate.as_ref().map(|r| Rate {
            per_second: r.per_second * HINT_MARGIN,
            burst: r.burst,
            daily_budget: r.daily_budget,
        }));
        Ok(NetCtx {
            connector: name.to_string(),
            clients: self.inner.clients.clone(),
            policy,
            secrets,
            auth: descriptor.auth.clone(),
            rate_limiter: self.inner.rate_limiter.clone(),
            rate_key: format!(
                "{name}/{}",
                credential.clone().unwrap_or_else(|| "anonymous".into())
            ),
            rate,
            limits: conn
                .limits
                .clone()
                .unwrap_or_else(|| self.inner.options.limits.clone()),
            calls: Arc::new(Mutex::new(Vec::new())),
            counters: Default::default(),
            stats: self.inner.stats.clone(),
            tape: conn.tape.clone(),
            oauth: refresher.map(|(config, grant, whose)| oauth::Refresher {
                shared: self.inner.tokens.entry(format!(
                    "{name}/{}/{}",
                    config.token_url,
                    whose.unwrap_or_default()
                )),
                config,
                grant,
            }),
        })
    }
}

/// Says in one sentence what a file that is not a component is, before the
/// compiler says it in many lines of bytes.
fn check_header(wasm: &[u8]) -> Result<(), String> {
    const MAGIC: &[u8] = b"\0asm";
    const COMPONENT_LAYER: [u8; 2] = [0x01, 0x00];
    let head = &wasm[..wasm.len().min(8)];
    let shown = |bytes: &[u8]| {
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = bytes
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        format!("{} (\"{text}\")", hex.join(" "))
    };
    if wasm.len() < 8 || &wasm[..4] != MAGIC {
        return Err(format!(
            "not a WebAssembly file: a .wasm starts with 00 61 73 6d (\"\\0asm\"); this one starts with {}",
            shown(&wasm[..wasm.len().min(4)])
        ));
    }
    if head[6..8] != COMPONENT_LAYER {
        return Err(
            "a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
                .into(),
        );
    }
    Ok(())
}

/// `text` on one line: wasmtime's errors and guest traps (a wasm backtrace)
/// span several, which read as escaped `\n`s in a JSON answer or a log field.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn empty_descriptor() -> Descriptor {
    Descriptor {
        name: String::new(),
        version: String::new(),
        contract: String::new(),
        entities: Vec::new(),
        capabilities: Capabilities::empty(),
        hosts: Vec::new(),
        auth: AuthScheme::None,
        rate: None,
        settings: Vec::new(),
        checkpoint: CheckpointKind::Opaque,
        max_batch: None,
    }
}
