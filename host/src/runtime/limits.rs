//! Sandbox limits: what one connector instance may use.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;

use super::error::Limit;

/// Limits applied to every instance; a job may lower or raise them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// linear memory per instance, bytes
    pub memory_bytes: usize,
    /// wall time of one call into the connector, including the HTTP it waits on
    #[serde(with = "secs")]
    #[schemars(with = "f64")]
    pub call_timeout: Duration,
    /// largest HTTP response body handed to the connector, bytes
    pub max_response_bytes: usize,
    /// largest single record a connector may return, bytes of its field values
    pub max_record_bytes: usize,
    /// timeout of one outbound HTTP request
    #[serde(with = "secs")]
    #[schemars(with = "f64")]
    pub http_timeout: Duration,
    /// longest URL a connector may request, bytes
    pub max_url_bytes: usize,
    /// most bytes of header names and values in one request
    pub max_header_bytes: usize,
    /// largest request body, bytes
    pub max_request_bytes: usize,
    /// most HTTP requests during one call into the connector (one page, one write batch)
    pub max_requests_per_call: u64,
    /// most HTTP requests of one session (one side of one run)
    pub max_requests_per_session: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            call_timeout: Duration::from_secs(60),
            max_response_bytes: 16 << 20,
            max_record_bytes: 1 << 20,
            http_timeout: Duration::from_secs(30),
            max_url_bytes: 64 << 10,
            max_header_bytes: 64 << 10,
            max_request_bytes: 16 << 20,
            max_requests_per_call: 10_000,
            max_requests_per_session: 1_000_000,
        }
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// Enforces [`Limits::memory_bytes`] and remembers that it did, so that the
/// trap that follows a refused `memory.grow` is reported as the memory limit
/// rather than as a bare `unreachable`.
pub struct MemoryLimiter {
    max: usize,
    pub hit: Option<Limit>,
}

impl MemoryLimiter {
    pub fn new(max: usize) -> Self {
        MemoryLimiter { max, hit: None }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = Some(Limit::Memory);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
