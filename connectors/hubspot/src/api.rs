//! Talking to the HubSpot API: URLs, and HubSpot's error bodies turned into
//! the contract's typed errors.
//!
//! The host adds `Authorization: Bearer <hubspot_token>` itself (the auth
//! scheme is declared in `describe`), so no request here carries a credential.
//!
//! Reference: "API error handling" (https://developers.hubspot.com/docs/api/error-handling)
//! and "API usage guidelines and limits"
//! (https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines).

use serde_json::Value;
use synchost_sdk::errors;
use synchost_sdk::http::{Request, Response};
use synchost_sdk::{ConflictInfo, ConnectorError, RateLimitedInfo};

use crate::time;

/// The only origin this connector calls. The host may redirect it (to a
/// simulator, in tests); the connector never takes a base URL.
pub const ORIGIN: &str = "https://api.hubapi.com";

/// An absolute URL for an API path such as `/crm/v3/objects/contacts`.
pub fn url(path: &str) -> String {
    format!("{ORIGIN}{path}")
}

/// Percent-encoding for query values (shared by every connector, in the SDK).
pub use synchost_sdk::http::encode as encode_query;

/// HubSpot's error body: `{"status":"error","message","correlationId",
/// "category"}`; a 429 has `errorType: RATE_LIMIT` and `policyName` instead
/// of a category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// the `category`, or for a 429 the `policyName`
    pub category: String,
    pub message: String,
    pub correlation_id: Option<String>,
}

pub fn parse_error_body(body: &[u8]) -> Option<ApiError> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if value["status"].as_str() != Some("error") {
        return None;
    }
    let category = value["policyName"]
        .as_str()
        .or(value["category"].as_str())
        .or(value["errorType"].as_str())
        .unwrap_or("ERROR")
        .to_string();
    Some(ApiError {
        category,
        message: value["message"].as_str().unwrap_or_default().to_string(),
        correlation_id: value["correlationId"].as_str().map(String::from),
    })
}

pub use synchost_sdk::errors::with_message;

/// The id in "Contact already exists. Existing ID: 512" (409 on a contact
/// whose email exists: "Contacts: Create contacts").
pub fn existing_id(message: &str) -> Option<String> {
    let rest = message.split("Existing ID:").nth(1)?.trim();
    let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!id.is_empty()).then_some(id)
}

/// How long to wait after a 429, by the limit reached. HubSpot sends no
/// `Retry-After` (the usage guidelines document none); HubSpot staff: a
/// client "may try the request again after waiting 1 second" for the
/// secondly limit (integrate.hubspot.com/t/hubspot-api-secondly-limit/313).
/// The burst window (`TEN_SECONDLY_ROLLING`) frees up within its
/// `X-HubSpot-RateLimit-Interval-Milliseconds` (10 s); the `DAILY` limit at
/// midnight — of the account's time zone, which the connector cannot know, so
/// the wait is to the next midnight UTC after the response's `Date`.
pub fn rate_limit_wait(policy: &str, resp: &Response) -> u64 {
    if let Some(ms) = errors::retry_after_ms(resp) {
        return ms;
    }
    match policy {
        "DAILY" => resp
            .date()
            .and_then(|d| time::to_millis(&d))
            .map_or(3_600_000, |now| time::until_next_midnight(now) as u64),
        "TEN_SECONDLY_ROLLING" => resp
            .header("x-hubspot-ratelimit-interval-milliseconds")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(10_000),
        _ => 1000,
    }
}

/// The typed error of a non-2xx response, its message taken from HubSpot's
/// error body (`CATEGORY: message`) where there is one; `None` for a success.
///
/// The SDK's status mapping applies (401/403 unauthorized, 404 not-found, 400
/// invalid-input, 5xx transient), except that: a 429 waits as
/// [`rate_limit_wait`] says; a 409 is a conflict naming the record that
/// already exists; 423 LOCKED ("the record is locked by another request")
/// is transient.
pub fn hubspot_error(context: &str, resp: &Response) -> Option<ConnectorError> {
    let err = errors::from_status(resp)?;
    let parsed = parse_error_body(&resp.body);
    let detail = match &parsed {
        Some(e) if e.message.is_empty() => e.category.clone(),
        Some(e) => format!("{}: {}", e.category, e.message),
        None => errors::excerpt(&resp.body),
    };
    let mut message = format!("{context}: HTTP {} {detail}", resp.status);
    if let Some(id) = parsed.as_ref().and_then(|e| e.correlation_id.as_deref()) {
        message.push_str(&format!(" (correlationId {id})"));
    }
    Some(match (resp.status, err) {
        (429, _) => {
            let policy = parsed.as_ref().map_or("", |e| e.category.as_str());
            ConnectorError::RateLimited(RateLimitedInfo {
                retry_after_ms: rate_limit_wait(policy, resp),
                message,
            })
        }
        (409, _) => ConnectorError::Conflict(ConflictInfo {
            id: parsed
                .as_ref()
                .and_then(|e| existing_id(&e.message))
                .unwrap_or_default(),
            current_version: None,
            message,
        }),
        (423, _) => ConnectorError::Transient(message),
        (_, other) => with_message(other, message),
    })
}

/// Sends `req`; any status comes back as a response.
pub fn send_raw(req: Request) -> Result<Response, ConnectorError> {
    req.send_raw()
}

/// Sends `req`; a non-2xx status becomes the typed error.
pub fn send(req: Request, context: &str) -> Result<Response, ConnectorError> {
    let resp = req.send_raw()?;
    match hubspot_error(context, &resp) {
        Some(err) => Err(err),
        None => Ok(resp),
    }
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// `GET path`: the JSON body and HubSpot's time when it answered (its `Date`).
pub fn get(path: &str) -> Result<(Value, Option<String>), ConnectorError> {
    let context = format!("GET {}", strip_query(path));
    let resp = send(Request::new("GET", &url(path)), &context)?;
    Ok((resp.json(&context)?, resp.date()))
}

/// `POST path` with a JSON body: the JSON answer and the `Date`.
pub fn post(path: &str, body: &Value) -> Result<(Value, Option<String>), ConnectorError> {
    let context = format!("POST {}", strip_query(path));
    let resp = send(Request::new("POST", &url(path)).json(body), &context)?;
    Ok((resp.json(&context)?, resp.date()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response::new(status, headers, body.as_bytes())
    }

    #[test]
    fn errors_carry_category_message_and_correlation_id() {
        let body = r#"{"status":"error","message":"Property values were not valid: []","correlationId":"c-1","category":"VALIDATION_ERROR"}"#;
        match hubspot_error(
            "POST /crm/v3/objects/contacts/batch/create",
            &resp(400, &[], body),
        ) {
            Some(ConnectorError::InvalidInput(m)) => assert_eq!(
                m,
                "POST /crm/v3/objects/contacts/batch/create: HTTP 400 VALIDATION_ERROR: \
                 Property values were not valid: [] (correlationId c-1)"
            ),
            other => panic!("{other:?}"),
        }
        let body = r#"{"status":"error","message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}"#;
        assert!(matches!(
            hubspot_error("x", &resp(401, &[], body)),
            Some(ConnectorError::Unauthorized(m)) if m.contains("INVALID_AUTHENTICATION")
        ));
        assert!(matches!(
            hubspot_error("x", &resp(404, &[], "{}")),
            Some(ConnectorError::NotFound(_))
        ));
        assert!(matches!(
            hubspot_error("x", &resp(502, &[], "<html>bad gateway</html>")),
            Some(ConnectorError::Transient(m)) if m == "x: HTTP 502 <html>bad gateway</html>"
        ));
        assert!(hubspot_error("x", &resp(207, &[], "{}")).is_none());
    }

    #[test]
    fn rate_limits_wait_by_policy_without_retry_after() {
        let body = |p: &str| {
            format!(
                r#"{{"status":"error","message":"You have reached your limit.","errorType":"RATE_LIMIT","correlationId":"c","policyName":"{p}"}}"#
            )
        };
        let wait = |p: &str, headers: &[(&str, &str)]| match hubspot_error(
            "x",
            &resp(429, headers, &body(p)),
        ) {
            Some(ConnectorError::RateLimited(info)) => {
                assert!(info.message.contains(p), "{}", info.message);
                info.retry_after_ms
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(wait("SECONDLY", &[]), 1000);
        assert_eq!(wait("TEN_SECONDLY_ROLLING", &[]), 10_000);
        assert_eq!(
            wait(
                "TEN_SECONDLY_ROLLING",
                &[("X-HubSpot-RateLimit-Interval-Milliseconds", "2000")]
            ),
            2000
        );
        // 23:00:00 UTC: an hour to midnight.
        assert_eq!(
            wait("DAILY", &[("Date", "Wed, 30 Oct 2019 23:00:00 GMT")]),
            3_600_000
        );
        assert_eq!(wait("SECONDLY", &[("Retry-After", "3")]), 3000);
    }

    #[test]
    fn conflicts_name_the_existing_record() {
        let body = r#"{"status":"error","message":"Contact already exists. Existing ID: 512","correlationId":"c","category":"CONFLICT"}"#;
        match hubspot_error("x", &resp(409, &[], body)) {
            Some(ConnectorError::Conflict(c)) => {
                assert_eq!(c.id, "512");
                assert!(c.message.contains("Contact already exists"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(existing_id("nothing here"), None);
    }

    #[test]
    fn encoding() {
        assert_eq!(encode_query("NTI1Cg=="), "NTI1Cg%3D%3D");
        assert_eq!(encode_query("a,b c"), "a%2Cb%20c");
        assert_eq!(
            url("/crm/v3/objects/deals"),
            "https://api.hubapi.com/crm/v3/objects/deals"
        );
    }
}
