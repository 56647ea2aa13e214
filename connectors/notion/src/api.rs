//! Talking to the Notion API: URLs, the version header, and Notion's error
//! bodies turned into the contract's typed errors.
//!
//! The host adds `Authorization: Bearer <notion_token>` itself (the auth
//! scheme is declared in `describe`), so no request here carries a credential.

use serde_json::Value;
use synchost_sdk::errors;
use synchost_sdk::http::{Request, Response};
use synchost_sdk::ConnectorError;

/// The only origin this connector calls. The host may redirect it (to a
/// simulator, in tests); the connector never takes a base URL.
pub const ORIGIN: &str = "https://api.notion.com";

/// The API version every request pins (`Notion-Version`): the data-source
/// model. With 2022-06-28, "if a user adds another data source to a database,
/// the following API actions will fail: Create page when using the database as
/// the parent; Database read, write, or query; Writing relation properties that
/// point to that database"
/// (https://developers.notion.com/docs/upgrade-guide-2025-09-03).
pub const NOTION_VERSION: &str = "2025-09-03";

/// An absolute URL for an API path such as `/v1/pages`.
pub fn url(path: &str) -> String {
    format!("{ORIGIN}{path}")
}

/// Percent-encoding for query values (shared by every connector, in the SDK).
pub use synchost_sdk::http::encode as encode_query;

/// Percent-encodes a path segment, keeping `%` so that Notion's property ids
/// (which come already percent-encoded, e.g. `a%3Bb`) pass unchanged.
pub fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'%') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `id` looks like a Notion id (a UUID, with or without dashes) or
/// at least cannot change the shape of a URL it is put in.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Notion's error object, `{"object":"error","status":..,"code":..,"message":..}`.
pub fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if value["object"].as_str() != Some("error") {
        return None;
    }
    let code = value["code"].as_str().unwrap_or("error").to_string();
    let message = value["message"].as_str().unwrap_or_default().to_string();
    Some((code, message))
}

pub use synchost_sdk::errors::with_message;

/// The typed error of a non-2xx response, its message taken from Notion's
/// error body (`code: message`) where there is one; `None` for a success.
///
/// The SDK's status mapping applies (429 + `Retry-After` -> rate-limited,
/// 401/403 unauthorized, 404 not-found, 400 invalid-input, 5xx transient),
/// except that Notion's 409 `conflict_error` ("the transaction could not be
/// completed, potentially due to a data collision") is worth retrying: it is
/// transient, not a stale-version conflict.
pub fn notion_error(context: &str, resp: &Response) -> Option<ConnectorError> {
    let err = errors::from_status(resp)?;
    let parsed = parse_error_body(&resp.body);
    let detail = match &parsed {
        Some((code, message)) if message.is_empty() => code.clone(),
        Some((code, message)) => format!("{code}: {message}"),
        None => errors::excerpt(&resp.body),
    };
    let message = format!("{context}: HTTP {} {detail}", resp.status);
    let conflict_error = parsed
        .as_ref()
        .is_some_and(|(code, _)| code == "conflict_error");
    // Request limits (https://developers.notion.com/reference/request-limits):
    // "handling HTTP 429 and 529 responses and respecting the Retry-After
    // response header value [...] (A 529 carries the "service_overload" code and
    // means Notion is temporarily overloaded; handle it the same way.)" The SDK
    // maps every 5xx to transient, without the wait; a 503 that says how long to
    // wait (RFC 9110, Retry-After) is treated the same way.
    let overloaded =
        resp.status == 529 || (resp.status == 503 && resp.header("retry-after").is_some());
    Some(match err {
        _ if overloaded => ConnectorError::RateLimited(synchost_sdk::RateLimitedInfo {
            retry_after_ms: errors::retry_after_ms(resp).unwrap_or(1000),
            message,
        }),
        ConnectorError::Conflict(_) if conflict_error || resp.status == 409 => {
            ConnectorError::Transient(message)
        }
        other => with_message(other, message),
    })
}

/// A request to `path` with the version header.
pub fn request(method: &str, path: &str) -> Request {
    Request::new(method, &url(path)).header("Notion-Version", NOTION_VERSION)
}

/// Sends `req` and parses a 2xx body as JSON; errors as [`notion_error`].
pub fn send(req: Request, context: &str) -> Result<Value, ConnectorError> {
    let resp = req.send_raw()?;
    if let Some(err) = notion_error(context, &resp) {
        return Err(err);
    }
    resp.json(context)
}

pub fn get(path: &str) -> Result<Value, ConnectorError> {
    send(request("GET", path), &format!("GET {}", strip_query(path)))
}

pub fn post(path: &str, body: &Value) -> Result<Value, ConnectorError> {
    send(request("POST", path).json(body), &format!("POST {path}"))
}

/// As [`post`], with Notion's time when it answered (its `Date` header).
/// A POST answered with success: its body, unparsed, and Notion's `Date`.
pub fn post_dated(path: &str, body: &Value) -> Result<(Vec<u8>, Option<String>), ConnectorError> {
    let context = format!("POST {path}");
    let resp = request("POST", path).json(body).send_raw()?;
    if let Some(err) = notion_error(&context, &resp) {
        return Err(err);
    }
    let date = resp.date();
    Ok((resp.body, date))
}

pub fn patch(path: &str, body: &Value) -> Result<Value, ConnectorError> {
    send(request("PATCH", path).json(body), &format!("PATCH {path}"))
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response::new(status, headers, body.as_bytes())
    }

    #[test]
    fn parses_notion_error_bodies() {
        let body = br#"{"object":"error","status":400,"code":"validation_error","message":"body failed validation"}"#;
        assert_eq!(
            parse_error_body(body),
            Some(("validation_error".into(), "body failed validation".into()))
        );
        assert_eq!(parse_error_body(b"<html>bad gateway</html>"), None);
        assert_eq!(parse_error_body(br#"{"object":"page"}"#), None);
    }

    #[test]
    fn success_is_no_error() {
        assert!(notion_error("GET /v1/pages/x", &resp(200, &[], "{}")).is_none());
    }

    #[test]
    fn errors_carry_notion_code_and_message() {
        let body = r#"{"object":"error","status":404,"code":"object_not_found","message":"Could not find database with ID: abc."}"#;
        match notion_error("GET /v1/databases/abc", &resp(404, &[], body)) {
            Some(ConnectorError::NotFound(m)) => assert_eq!(
                m,
                "GET /v1/databases/abc: HTTP 404 object_not_found: Could not find database with ID: abc."
            ),
            other => panic!("{other:?}"),
        }
        let body = r#"{"object":"error","status":401,"code":"unauthorized","message":"API token is invalid."}"#;
        assert!(matches!(
            notion_error("x", &resp(401, &[], body)),
            Some(ConnectorError::Unauthorized(m)) if m.contains("unauthorized: API token is invalid.")
        ));
        let body = r#"{"object":"error","status":400,"code":"validation_error","message":"bad"}"#;
        assert!(matches!(
            notion_error("x", &resp(400, &[], body)),
            Some(ConnectorError::InvalidInput(m)) if m.ends_with("validation_error: bad")
        ));
    }

    #[test]
    fn rate_limit_keeps_retry_after() {
        let body = r#"{"object":"error","status":429,"code":"rate_limited","message":"slow down"}"#;
        match notion_error("x", &resp(429, &[("Retry-After", "2")], body)) {
            Some(ConnectorError::RateLimited(info)) => {
                assert_eq!(info.retry_after_ms, 2000);
                assert!(info.message.contains("rate_limited: slow down"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conflict_error_is_transient() {
        let body = r#"{"object":"error","status":409,"code":"conflict_error","message":"Conflict occurred while saving."}"#;
        assert!(matches!(
            notion_error("x", &resp(409, &[], body)),
            Some(ConnectorError::Transient(m)) if m.contains("conflict_error")
        ));
        let body =
            r#"{"object":"error","status":503,"code":"service_unavailable","message":"down"}"#;
        assert!(matches!(
            notion_error("x", &resp(503, &[], body)),
            Some(ConnectorError::Transient(_))
        ));
    }

    #[test]
    fn overload_and_unavailable_with_retry_after_are_rate_limited() {
        let body =
            r#"{"object":"error","status":529,"code":"service_overload","message":"overloaded"}"#;
        match notion_error("x", &resp(529, &[("Retry-After", "3")], body)) {
            Some(ConnectorError::RateLimited(info)) => {
                assert_eq!(info.retry_after_ms, 3000);
                assert!(
                    info.message.contains("service_overload"),
                    "{}",
                    info.message
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            notion_error("x", &resp(529, &[], body)),
            Some(ConnectorError::RateLimited(i)) if i.retry_after_ms == 1000
        ));
        let body =
            r#"{"object":"error","status":503,"code":"service_unavailable","message":"down"}"#;
        assert!(matches!(
            notion_error("x", &resp(503, &[("Retry-After", "2")], body)),
            Some(ConnectorError::RateLimited(i)) if i.retry_after_ms == 2000
        ));
        assert!(matches!(
            notion_error("x", &resp(503, &[], body)),
            Some(ConnectorError::Transient(_))
        ));
    }

    #[test]
    fn bodies_that_are_not_notion_errors_are_excerpted() {
        assert!(matches!(
            notion_error("x", &resp(502, &[], "bad gateway")),
            Some(ConnectorError::Transient(m)) if m == "x: HTTP 502 bad gateway"
        ));
    }

    #[test]
    fn encoding() {
        assert_eq!(encode_query("a b/c?d=e"), "a%20b%2Fc%3Fd%3De");
        assert_eq!(encode_segment("a%3Bb"), "a%3Bb");
        assert_eq!(encode_segment("a/b"), "a%2Fb");
        assert!(valid_id("1c2f0e2a-7d3b-4c5e-9f00-0123456789ab"));
        assert!(valid_id("1c2f0e2a7d3b4c5e9f000123456789ab"));
        assert!(!valid_id("../x"));
        assert!(!valid_id(""));
    }
}
