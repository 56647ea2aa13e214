//! Mapping HTTP outcomes to the contract's typed errors, so that the host
//! knows what to retry (transient, rate-limited) and what never to retry.

use crate::http::Response;
use crate::{ConflictInfo, ConnectorError, RateLimitedInfo};

/// The longest piece of a platform's error body kept in an error message.
const BODY_EXCERPT: usize = 300;

/// The typed error for a non-2xx response; `None` for a success.
///
/// 401/403 unauthorized, 404/410 not-found, 409/412 conflict, 429 and 529
/// (an overloaded service, as Notion says it) rate-limited, and 503 too when
/// it says when to come back (with `Retry-After` in seconds or as an HTTP
/// date, default 1 s), 400/422 invalid-input, 408/5xx transient, anything
/// else fatal.
pub fn from_status(resp: &Response) -> Option<ConnectorError> {
    let status = resp.status;
    if (200..300).contains(&status) {
        return None;
    }
    let message = format!("HTTP {status}: {}", excerpt(&resp.body));
    Some(match status {
        401 | 403 => ConnectorError::Unauthorized(message),
        404 | 410 => ConnectorError::NotFound(message),
        409 | 412 => ConnectorError::Conflict(ConflictInfo {
            id: String::new(),
            current_version: None,
            message,
        }),
        429 | 529 => ConnectorError::RateLimited(RateLimitedInfo {
            retry_after_ms: retry_after_ms(resp).unwrap_or(1000),
            message,
        }),
        503 if resp.header("retry-after").is_some() => {
            ConnectorError::RateLimited(RateLimitedInfo {
                retry_after_ms: retry_after_ms(resp).unwrap_or(1000),
                message,
            })
        }
        400 | 422 => ConnectorError::InvalidInput(message),
        408 | 500..=599 => ConnectorError::Transient(message),
        _ => ConnectorError::Fatal(message),
    })
}

/// `Retry-After` in milliseconds: delta-seconds (fractions allowed) only;
/// an HTTP-date is treated as one second, since the guest has no clock.
pub fn retry_after_ms(resp: &Response) -> Option<u64> {
    let value = resp.header("retry-after")?;
    match value.trim().parse::<f64>() {
        Ok(secs) if secs >= 0.0 => Some((secs * 1000.0).ceil() as u64),
        _ => Some(1000),
    }
}

pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(BODY_EXCERPT).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// `err`, the same kind with the same details, its message replaced by
/// `message`: a connector keeps the SDK's status mapping and words the
/// message from the platform's error body.
pub fn with_message(err: ConnectorError, message: String) -> ConnectorError {
    match err {
        ConnectorError::Unauthorized(_) => ConnectorError::Unauthorized(message),
        ConnectorError::RateLimited(info) => ConnectorError::RateLimited(RateLimitedInfo {
            retry_after_ms: info.retry_after_ms,
            message,
        }),
        ConnectorError::NotFound(_) => ConnectorError::NotFound(message),
        ConnectorError::Conflict(info) => ConnectorError::Conflict(ConflictInfo {
            id: info.id,
            current_version: info.current_version,
            message,
        }),
        ConnectorError::InvalidInput(_) => ConnectorError::InvalidInput(message),
        ConnectorError::Transient(_) => ConnectorError::Transient(message),
        ConnectorError::Fatal(_) => ConnectorError::Fatal(message),
    }
}

/// The error a default trait method returns for a capability not implemented.
pub fn unsupported(what: &str) -> ConnectorError {
    ConnectorError::Fatal(format!("this connector does not support {what}"))
}

/// A response body that is not what the platform documents: cut short,
/// not JSON, the wrong shape. It proves nothing about what the platform did
/// (a write may have landed), so it is `transient`: the host keeps a write
/// pending and reconciles by reading, never re-sending it blindly.
pub fn bad_body(context: &str, err: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Transient(format!(
        "unexpected response body from {context}: {err} (the outcome is unknown)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overloads_say_when_to_come_back() {
        let overloaded = Response::new(529, &[("retry-after", "2")], b"service_overload");
        assert!(matches!(
            from_status(&overloaded),
            Some(ConnectorError::RateLimited(RateLimitedInfo {
                retry_after_ms: 2000,
                ..
            }))
        ));
        let unavailable = Response::new(503, &[("retry-after", "3")], b"");
        assert!(matches!(
            from_status(&unavailable),
            Some(ConnectorError::RateLimited(RateLimitedInfo {
                retry_after_ms: 3000,
                ..
            }))
        ));
        let down = Response::new(503, &[], b"");
        assert!(matches!(
            from_status(&down),
            Some(ConnectorError::Transient(_))
        ));
    }
}
