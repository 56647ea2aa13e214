//! Sending requests through the host and turning Directus' answers into the
//! contract's typed errors.
//!
//! Directus answers an error with `{"errors":[{"message":..,"extensions":
//! {"code":..}}]}` (https://docs.directus.io/reference/introduction.html#errors).
//! Statuses map as the SDK maps them, with Directus' codes on top:
//! `INVALID_CREDENTIALS`/`INVALID_TOKEN`/`TOKEN_EXPIRED` (401) are
//! unauthorized; `FORBIDDEN` (403) is also what Directus answers for a
//! collection or item that does not exist, even to an admin, so callers that
//! can tell the two apart look further (see `lib.rs`); `REQUESTS_EXCEEDED`
//! (429) is rate-limited with `Retry-After`; `SERVICE_UNAVAILABLE` (503,
//! the pressure limiter) and other 5xx are transient.

use serde_json::Value;
use synchost_sdk::http::{self, Response};
use synchost_sdk::{errors, ConnectorError};

/// The first error of a Directus error body: (code, message).
pub fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let first = value.get("errors")?.as_array()?.first()?;
    let code = first["extensions"]["code"]
        .as_str()
        .unwrap_or("UNKNOWN")
        .to_string();
    let message = first["message"].as_str().unwrap_or("").to_string();
    Some((code, message))
}

/// Whether a response is Directus' 403, which means "forbidden or does not exist".
pub fn is_forbidden(err: &ConnectorError) -> bool {
    matches!(err, ConnectorError::Unauthorized(m) if m.contains("HTTP 403"))
}

/// The typed error for a Directus response; `None` for a success.
pub fn map_error(resp: &Response) -> Option<ConnectorError> {
    let generic = errors::from_status(resp)?;
    let status = resp.status;
    let detail = match parse_error_body(&resp.body) {
        Some((code, message)) if message.is_empty() => code,
        Some((code, message)) => format!("{code}: {message}"),
        None => errors::excerpt(&resp.body),
    };
    let message = format!("Directus HTTP {status}: {detail}");
    Some(match generic {
        // 413 (CONTENT_TOO_LARGE) and 415 are about what was sent.
        ConnectorError::Fatal(_) if matches!(status, 413 | 415) => {
            ConnectorError::InvalidInput(message)
        }
        other => errors::with_message(other, message),
    })
}

/// Sends `req`; returns the response or the typed error.
pub fn send(req: http::Request) -> Result<Response, ConnectorError> {
    let resp = req.send_raw()?;
    match map_error(&resp) {
        Some(err) => Err(err),
        None => Ok(resp),
    }
}

/// Sends `req` and parses the JSON body (an empty body, as a `204`, is `null`).
pub fn send_json(req: http::Request, context: &str) -> Result<(Value, Response), ConnectorError> {
    let resp = send(req)?;
    if resp.body.is_empty() {
        return Ok((Value::Null, resp));
    }
    Ok((resp.json(context)?, resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response::new(status, headers, body.as_bytes())
    }

    fn kind(e: Option<ConnectorError>) -> &'static str {
        match e {
            Some(ConnectorError::Unauthorized(_)) => "unauthorized",
            Some(ConnectorError::NotFound(_)) => "not-found",
            Some(ConnectorError::InvalidInput(_)) => "invalid-input",
            Some(ConnectorError::Transient(_)) => "transient",
            Some(ConnectorError::Fatal(_)) => "fatal",
            Some(ConnectorError::Conflict(_)) => "conflict",
            Some(ConnectorError::RateLimited(_)) => "rate-limited",
            None => "ok",
        }
    }

    #[test]
    fn a_bad_token_is_unauthorized_with_directus_code() {
        let e = map_error(&resp(
            401,
            &[],
            r#"{"errors":[{"message":"Invalid user credentials.","extensions":{"code":"INVALID_CREDENTIALS"}}]}"#,
        ));
        match e {
            Some(ConnectorError::Unauthorized(m)) => assert_eq!(
                m,
                "Directus HTTP 401: INVALID_CREDENTIALS: Invalid user credentials."
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forbidden_is_recognised() {
        let e = map_error(&resp(
            403,
            &[],
            r#"{"errors":[{"message":"You don't have permission to access this.","extensions":{"code":"FORBIDDEN"}}]}"#,
        ))
        .unwrap();
        assert!(is_forbidden(&e));
        assert!(!is_forbidden(&map_error(&resp(401, &[], "")).unwrap()));
    }

    #[test]
    fn rate_limit_keeps_retry_after() {
        match map_error(&resp(
            429,
            &[("Retry-After", "2")],
            r#"{"errors":[{"message":"Too many requests, retry after 2s.","extensions":{"code":"REQUESTS_EXCEEDED"}}]}"#,
        )) {
            Some(ConnectorError::RateLimited(info)) => {
                assert_eq!(info.retry_after_ms, 2000);
                assert!(
                    info.message.contains("REQUESTS_EXCEEDED"),
                    "{}",
                    info.message
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(kind(map_error(&resp(200, &[], "{}"))), "ok");
        assert_eq!(kind(map_error(&resp(204, &[], ""))), "ok");
        assert_eq!(kind(map_error(&resp(400, &[], ""))), "invalid-input");
        assert_eq!(kind(map_error(&resp(404, &[], ""))), "not-found");
        assert_eq!(kind(map_error(&resp(413, &[], ""))), "invalid-input");
        assert_eq!(kind(map_error(&resp(500, &[], "oops"))), "transient");
        assert_eq!(kind(map_error(&resp(503, &[], ""))), "transient");
        assert_eq!(kind(map_error(&resp(418, &[], ""))), "fatal");
    }

    #[test]
    fn non_directus_bodies_are_quoted() {
        match map_error(&resp(502, &[], "<html>bad gateway</html>")) {
            Some(ConnectorError::Transient(m)) => {
                assert_eq!(m, "Directus HTTP 502: <html>bad gateway</html>")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_error_body(b"{}"), None);
    }
}
