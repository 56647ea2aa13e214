//! What the host gives a connector: the `http`, `log` and `crypto` imports of
//! the contract, and a WASI with nothing granted (no files, no environment,
//! no sockets) for the language runtime's own needs (clocks, randomness).

use hmac::{Hmac, Mac};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::v0_2_0::synchost::connector::{crypto, http, log, types};
use super::limits::MemoryLimiter;
pub use super::net::{CallRecord, NetCtx};

/// Most log lines one session may write; the rest are counted and dropped.
const MAX_LOG_LINES: usize = 10_000;
const MAX_LOG_LINE: usize = 4096;

/// The data of one `Store`: one connector instance for one run.
pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub net: NetCtx,
    pub stderr: MemoryOutputPipe,
    /// bytes of `stderr` already logged
    pub stderr_seen: usize,
    /// when the call in progress runs out of time (the epoch callback checks)
    pub call_deadline: std::time::Instant,
    log_lines: usize,
}

impl HostState {
    pub fn new(net: NetCtx) -> Self {
        // The guest's stdout and stderr go to a bounded buffer that the host
        // logs after each call: that is where a Rust panic message lands.
        let stderr = MemoryOutputPipe::new(64 * 1024);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .stdout(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(net.limits.memory_bytes),
            net,
            stderr,
            stderr_seen: 0,
            call_deadline: std::time::Instant::now(),
            log_lines: 0,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            if self.log_lines == MAX_LOG_LINES + 1 {
                tracing::warn!(connector = %self.net.connector, "connector log limit reached; further lines dropped");
            }
            return Ok(());
        }
        // Cut before scrubbing (a guest may send megabytes), then again after.
        let message = super::policy::clip(&message, 2 * MAX_LOG_LINE);
        let message = super::policy::clip(&self.net.secrets.scrub_str(&message), MAX_LOG_LINE);
        let connector = &self.net.connector;
        match level {
            log::Level::Trace => {
                tracing::trace!(target: "synchost::connector", %connector, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(target: "synchost::connector", %connector, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: "synchost::connector", %connector, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: "synchost::connector", %connector, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: "synchost::connector", %connector, "{message}")
            }
        }
        Ok(())
    }
}

impl crypto::Host for HostState {
    async fn hmac_sha256(
        &mut self,
        secret_name: String,
        message: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let key = match self.net.secrets.hmac_key(&secret_name) {
            Ok(key) => key,
            Err(why) => return Ok(Err(why)),
        };
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(&message);
        Ok(Ok(mac.finalize().into_bytes().to_vec()))
    }
}

impl http::Host for HostState {
    async fn send(
        &mut self,
        req: http::Request,
    ) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        let net = self.net.clone();
        Ok(net.send(req).await)
    }
}
