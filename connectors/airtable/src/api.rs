//! Sending requests through the host and turning Airtable's answers into the
//! contract's typed errors.
//!
//! Statuses map as the SDK maps them (`synchost_sdk::errors::from_status`),
//! with Airtable's own rules on top: its error bodies become the message, an
//! expired list offset is a "cursor expired" not-found, a missing record is
//! not-found whatever the status, a 429 without `Retry-After` waits the
//! documented 30 seconds, and a too-large request is invalid input.

use serde_json::Value;
use synchost_sdk::http::{self, Response};
use synchost_sdk::{errors, ConnectorError, RateLimitedInfo};

/// Airtable's penalty after a 429: "wait 30 seconds before subsequent
/// requests will succeed".
pub const RATE_LIMIT_PENALTY_MS: u64 = 30_000;

/// The error type Airtable answers a list request with when its `offset`
/// has expired.
pub const ITERATOR_EXPIRED: &str = "LIST_RECORDS_ITERATOR_NOT_AVAILABLE";

/// Error types that say a record, table or base does not exist.
const NOT_FOUND_TYPES: &[&str] = &[
    "NOT_FOUND",
    "MODEL_ID_NOT_FOUND",
    "ROW_DOES_NOT_EXIST",
    "TABLE_NOT_FOUND",
];

/// An error body as Airtable writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// `INVALID_REQUEST_UNKNOWN`, `NOT_FOUND`, ...
    pub kind: String,
    pub message: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(message) => write!(f, "{}: {}", self.kind, message),
            None => f.write_str(&self.kind),
        }
    }
}

/// Parses the error body forms Airtable uses:
/// `{"error":{"type":..,"message":..}}`, `{"error":"NOT_FOUND"}` and
/// `{"errors":[{"error":..,"message":..}]}` (seen on 429s).
pub fn parse_error_body(body: &[u8]) -> Option<ApiError> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let text = |v: &Value| v.as_str().map(String::from);
    match value.get("error") {
        Some(Value::String(kind)) => Some(ApiError {
            kind: kind.clone(),
            message: value.get("message").and_then(text),
        }),
        Some(Value::Object(error)) => Some(ApiError {
            kind: error
                .get("type")
                .and_then(text)
                .unwrap_or_else(|| "UNKNOWN_ERROR".into()),
            message: error.get("message").and_then(text),
        }),
        _ => {
            let first = value.get("errors")?.as_array()?.first()?;
            Some(ApiError {
                kind: first
                    .get("error")
                    .or_else(|| first.get("type"))
                    .and_then(text)?,
                message: first.get("message").and_then(text),
            })
        }
    }
}

/// The typed error for an Airtable response; `None` for a success.
pub fn map_error(resp: &Response) -> Option<ConnectorError> {
    let generic = errors::from_status(resp)?;
    let status = resp.status;
    let parsed = parse_error_body(&resp.body);
    let detail = match &parsed {
        Some(error) => error.to_string(),
        None => errors::excerpt(&resp.body),
    };
    let message = format!("Airtable HTTP {status}: {detail}");
    let kind = parsed.as_ref().map(|e| e.kind.as_str()).unwrap_or("");

    if kind == ITERATOR_EXPIRED {
        return Some(ConnectorError::NotFound(format!(
            "cursor expired: {message}"
        )));
    }
    if NOT_FOUND_TYPES.contains(&kind) {
        return Some(ConnectorError::NotFound(message));
    }
    Some(match (status, generic) {
        (429, _) => ConnectorError::RateLimited(RateLimitedInfo {
            retry_after_ms: retry_after_ms(resp),
            message,
        }),
        (413, _) => ConnectorError::InvalidInput(message),
        (_, generic) => with_message(generic, message),
    })
}

/// Whether `err`, Airtable's answer to a batch, may be the doing of one op
/// in it: a record that is gone (404, or 422 `ROW_DOES_NOT_EXIST`), a value
/// a field refuses (422), a request too large (413), a field or record the
/// token may not write (403). Then each op is tried alone for its own
/// outcome. A 401 (the token itself), a 429, a 5xx or an answer that proves
/// nothing are about the request, not an op: they are not split.
pub fn may_be_one_ops_fault(err: &ConnectorError) -> bool {
    match err {
        ConnectorError::NotFound(_) | ConnectorError::InvalidInput(_) => true,
        ConnectorError::Unauthorized(message) => message.starts_with("Airtable HTTP 403"),
        _ => false,
    }
}

/// `Retry-After` in seconds when Airtable sends it, else the 30 s penalty
/// (an HTTP date cannot be read without a clock: the penalty is safer than
/// the SDK's one-second default).
fn retry_after_ms(resp: &Response) -> u64 {
    match resp.header("retry-after").map(|v| v.trim().parse::<f64>()) {
        Some(Ok(secs)) if secs.is_finite() && secs >= 0.0 => (secs * 1000.0).ceil() as u64,
        _ => RATE_LIMIT_PENALTY_MS,
    }
}

use synchost_sdk::errors::with_message;

/// One request to Airtable, as plain data: what the write planner produces
/// and what tests inspect. [`Call::send`] sends it through the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: &'static str,
    pub url: String,
    pub body: Option<Value>,
}

impl Call {
    pub fn get(url: String) -> Self {
        Call {
            method: "GET",
            url,
            body: None,
        }
    }

    /// Sends the call; returns the JSON body and the platform's time (`Date`).
    pub fn send_dated(self) -> Result<(Value, Option<String>), ConnectorError> {
        let mut req = http::Request::new(self.method, &self.url);
        if let Some(body) = &self.body {
            req = req.json(body);
        }
        let path = self.url.split('?').next().unwrap_or(&self.url);
        let resp = send(req)?;
        Ok((resp.json(&format!("{} {path}", self.method))?, resp.date()))
    }

    /// Sends the call: its JSON body or typed error, and the platform's time
    /// (`Date`) whenever Airtable answered, refusals included.
    pub fn exchange(self) -> Answer {
        let mut req = http::Request::new(self.method, &self.url);
        if let Some(body) = &self.body {
            req = req.json(body);
        }
        let path = self.url.split('?').next().unwrap_or(&self.url);
        let resp = match req.send_raw() {
            Ok(resp) => resp,
            Err(err) => return Answer::undated(Err(err)),
        };
        let body = match map_error(&resp) {
            Some(err) => Err(err),
            None => resp.json(&format!("{} {path}", self.method)),
        };
        Answer {
            body,
            date: resp.date(),
        }
    }

    /// Sends the call and parses the answer's JSON body.
    pub fn send(self) -> Result<Value, ConnectorError> {
        let mut req = http::Request::new(self.method, &self.url);
        if let Some(body) = &self.body {
            req = req.json(body);
        }
        let path = self.url.split('?').next().unwrap_or(&self.url);
        send_json(req, &format!("{} {path}", self.method))
    }
}

/// What one call came back with.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Result<Value, ConnectorError>,
    /// Airtable's `Date`, RFC 3339; none when no response came
    pub date: Option<String>,
}

impl Answer {
    pub fn undated(body: Result<Value, ConnectorError>) -> Self {
        Answer { body, date: None }
    }
}

/// Sends `req`; a non-2xx answer becomes its typed error.
pub fn send(req: http::Request) -> Result<Response, ConnectorError> {
    let resp = req.send_raw()?;
    match map_error(&resp) {
        Some(err) => Err(err),
        None => Ok(resp),
    }
}

/// Sends `req` and parses the 2xx body as JSON; `context` names the call
/// in the error when the body is not JSON.
pub fn send_json(req: http::Request, context: &str) -> Result<Value, ConnectorError> {
    send(req)?.json(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response::new(status, headers, body.as_bytes())
    }

    #[test]
    fn parses_object_error_body() {
        let parsed = parse_error_body(
            br#"{"error":{"type":"INVALID_REQUEST_UNKNOWN","message":"Invalid request"}}"#,
        );
        assert_eq!(
            parsed,
            Some(ApiError {
                kind: "INVALID_REQUEST_UNKNOWN".into(),
                message: Some("Invalid request".into())
            })
        );
        assert_eq!(
            parsed.unwrap().to_string(),
            "INVALID_REQUEST_UNKNOWN: Invalid request"
        );
    }

    #[test]
    fn parses_string_error_body() {
        let parsed = parse_error_body(br#"{"error":"NOT_FOUND"}"#).unwrap();
        assert_eq!(parsed.kind, "NOT_FOUND");
        assert_eq!(parsed.message, None);
        assert_eq!(parsed.to_string(), "NOT_FOUND");
    }

    #[test]
    fn parses_errors_array_body() {
        let parsed = parse_error_body(
            br#"{"errors":[{"error":"RATE_LIMIT_REACHED","message":"Rate limit exceeded"}]}"#,
        )
        .unwrap();
        assert_eq!(parsed.kind, "RATE_LIMIT_REACHED");
        assert_eq!(parsed.message.as_deref(), Some("Rate limit exceeded"));
    }

    #[test]
    fn object_error_without_message_or_type() {
        let parsed =
            parse_error_body(br#"{"error":{"type":"LIST_RECORDS_ITERATOR_NOT_AVAILABLE"}}"#)
                .unwrap();
        assert_eq!(parsed.to_string(), ITERATOR_EXPIRED);
        let parsed = parse_error_body(br#"{"error":{}}"#).unwrap();
        assert_eq!(parsed.kind, "UNKNOWN_ERROR");
    }

    #[test]
    fn non_json_or_unrelated_bodies_are_not_parsed() {
        assert_eq!(parse_error_body(b"<html>bad gateway</html>"), None);
        assert_eq!(parse_error_body(br#"{"records":[]}"#), None);
        assert_eq!(parse_error_body(b""), None);
    }

    #[test]
    fn success_is_no_error() {
        assert!(map_error(&resp(200, &[], "{}")).is_none());
    }

    #[test]
    fn expired_offset_is_cursor_expired_not_found() {
        let err = map_error(&resp(
            422,
            &[],
            r#"{"error":{"type":"LIST_RECORDS_ITERATOR_NOT_AVAILABLE","message":"gone"}}"#,
        ));
        match err {
            Some(ConnectorError::NotFound(m)) => {
                assert!(m.starts_with("cursor expired: "), "{m}");
                assert!(m.contains("LIST_RECORDS_ITERATOR_NOT_AVAILABLE"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_422_is_invalid_input_with_type_and_message() {
        let err = map_error(&resp(
            422,
            &[],
            r#"{"error":{"type":"UNKNOWN_FIELD_NAME","message":"Unknown field name: \"Nope\""}}"#,
        ));
        match err {
            Some(ConnectorError::InvalidInput(m)) => {
                assert_eq!(
                    m,
                    "Airtable HTTP 422: UNKNOWN_FIELD_NAME: Unknown field name: \"Nope\""
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn string_not_found_is_not_found() {
        match map_error(&resp(404, &[], r#"{"error":"NOT_FOUND"}"#)) {
            Some(ConnectorError::NotFound(m)) => assert_eq!(m, "Airtable HTTP 404: NOT_FOUND"),
            other => panic!("{other:?}"),
        }
        match map_error(&resp(
            422,
            &[],
            r#"{"error":{"type":"ROW_DOES_NOT_EXIST","message":"Record ID recX does not exist"}}"#,
        )) {
            Some(ConnectorError::NotFound(_)) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rate_limit_defaults_to_the_30_second_penalty() {
        match map_error(&resp(
            429,
            &[],
            r#"{"errors":[{"error":"RATE_LIMIT_REACHED"}]}"#,
        )) {
            Some(ConnectorError::RateLimited(info)) => {
                assert_eq!(info.retry_after_ms, 30_000);
                assert!(info.message.contains("RATE_LIMIT_REACHED"));
            }
            other => panic!("{other:?}"),
        }
        match map_error(&resp(429, &[("Retry-After", "2")], "")) {
            Some(ConnectorError::RateLimited(info)) => assert_eq!(info.retry_after_ms, 2_000),
            other => panic!("{other:?}"),
        }
        match map_error(&resp(
            429,
            &[("Retry-After", "Wed, 21 Oct 2025 07:28:00 GMT")],
            "",
        )) {
            Some(ConnectorError::RateLimited(info)) => assert_eq!(info.retry_after_ms, 30_000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_refusals_an_op_may_cause_split_a_batch() {
        let split = |status: u16, body: &str| {
            may_be_one_ops_fault(&map_error(&resp(status, &[], body)).unwrap())
        };
        assert!(split(404, r#"{"error":"NOT_FOUND"}"#));
        assert!(split(
            422,
            r#"{"error":{"type":"ROW_DOES_NOT_EXIST","message":"Record ID recX does not exist"}}"#
        ));
        assert!(split(
            422,
            r#"{"error":{"type":"INVALID_VALUE_FOR_COLUMN","message":"Field \"Due\""}}"#
        ));
        assert!(split(413, ""));
        assert!(split(
            403,
            r#"{"error":{"type":"INVALID_PERMISSIONS","message":"not permitted"}}"#
        ));
        assert!(!split(401, r#"{"error":{"type":"UNAUTHORIZED"}}"#));
        assert!(!split(429, ""));
        assert!(!split(503, ""));
        assert!(!split(418, ""));
    }

    #[test]
    fn statuses_keep_the_sdk_mapping() {
        let kind = |status: u16| match map_error(&resp(status, &[], "")) {
            Some(ConnectorError::Unauthorized(_)) => "unauthorized",
            Some(ConnectorError::NotFound(_)) => "not-found",
            Some(ConnectorError::InvalidInput(_)) => "invalid-input",
            Some(ConnectorError::Transient(_)) => "transient",
            Some(ConnectorError::Fatal(_)) => "fatal",
            Some(ConnectorError::Conflict(_)) => "conflict",
            Some(ConnectorError::RateLimited(_)) => "rate-limited",
            None => "ok",
        };
        assert_eq!(kind(401), "unauthorized");
        assert_eq!(kind(403), "unauthorized");
        assert_eq!(kind(404), "not-found");
        assert_eq!(kind(400), "invalid-input");
        assert_eq!(kind(413), "invalid-input");
        assert_eq!(kind(500), "transient");
        assert_eq!(kind(503), "transient");
        assert_eq!(kind(418), "fatal");
    }
}
