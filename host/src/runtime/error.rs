//! The runtime's one error type: what went wrong loading or calling a connector.

use std::fmt;

pub use super::bindings::v0_2_0::synchost::connector::types::ConnectorError;

/// A sandbox limit a connector ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// linear memory per instance
    Memory,
    /// wall time of one call
    WallTime,
    /// size of a record or of a whole value returned across the boundary
    RecordSize,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Memory => "memory limit",
            Limit::WallTime => "wall-time limit",
            Limit::RecordSize => "record-size limit",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The file is not a component this host can load.
    #[error("cannot load connector {path}: {reason}")]
    Load { path: String, reason: String },

    /// The component was built against a contract this host does not know.
    #[error("connector {path} was built against contract {found}; this host supports {supported}")]
    UnsupportedContract {
        path: String,
        found: String,
        supported: String,
    },

    /// The connector broke a sandbox limit and was stopped.
    #[error("connector {connector} stopped: exceeded the {limit} ({detail})")]
    LimitExceeded {
        connector: String,
        limit: Limit,
        detail: String,
    },

    /// The connector trapped (a panic, an unreachable, a bad memory access).
    #[error("connector {connector} trapped in {call}: {detail}")]
    Trap {
        connector: String,
        call: String,
        detail: String,
    },

    /// The connector answered with a typed error of the contract.
    #[error("connector {connector}: {}", describe(.error))]
    Connector {
        connector: String,
        error: ConnectorError,
    },

    /// The job's connection block does not fit the connector.
    #[error("connection for {connector} is invalid: {reason}")]
    Config { connector: String, reason: String },

    /// An instance that trapped or timed out cannot be called again.
    #[error("connector {connector} cannot be called after an earlier failure in this session")]
    Poisoned { connector: String },
}

impl RuntimeError {
    /// The connector's typed error, if that is what this is.
    pub fn connector_error(&self) -> Option<&ConnectorError> {
        match self {
            RuntimeError::Connector { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Worth retrying later: transient and rate-limited connector errors.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.connector_error(),
            Some(ConnectorError::Transient(_) | ConnectorError::RateLimited(_))
        )
    }
}

/// A one-line description of a connector error, for logs and reports.
pub fn describe(error: &ConnectorError) -> String {
    match error {
        ConnectorError::Unauthorized(m) => format!("unauthorized: {m}"),
        ConnectorError::RateLimited(r) => {
            format!(
                "rate limited (retry after {} ms): {}",
                r.retry_after_ms, r.message
            )
        }
        ConnectorError::NotFound(m) => format!("not found: {m}"),
        ConnectorError::Conflict(c) => format!("conflict on {}: {}", c.id, c.message),
        ConnectorError::InvalidInput(m) => format!("invalid input: {m}"),
        ConnectorError::Transient(m) => format!("transient: {m}"),
        ConnectorError::Fatal(m) => format!("fatal: {m}"),
    }
}
