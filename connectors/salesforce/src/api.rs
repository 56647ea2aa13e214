//! Talking to the Salesforce REST API: query-string encoding, and
//! Salesforce's error bodies turned into the contract's typed errors.
//!
//! The host adds `Authorization: Bearer <salesforce_token>` itself (the auth
//! scheme is declared in `describe`), so no request here carries a credential.
//!
//! Reference: "Status Codes and Error Responses" (REST API Developer Guide):
//! an error body is a JSON array of `{"message", "errorCode", "fields"?}`;
//! 401 "The session ID or OAuth token used has expired or is invalid"; 403
//! "The request has been refused … If the error code is
//! REQUEST_LIMIT_EXCEEDED, you've exceeded API request limits in your org";
//! Salesforce Help, article 000386264: "In each REST call, the maximum length
//! for the combined URI and headers is 16,384 bytes. A request exceeding this
//! limit returns a 431 Request Header Fields Too Large error. If the URI
//! itself exceeds this limit, the request returns a 414 URI Too Long error."

use serde_json::Value;
use synchost_sdk::errors;
use synchost_sdk::http::{Request, Response};
use synchost_sdk::{log, ConnectorError, RateLimitedInfo};

/// How long to wait after REQUEST_LIMIT_EXCEEDED on the daily allocation:
/// Salesforce counts requests over a rolling 24 hours and sends no
/// `Retry-After`, so an hour lets part of the window roll off before the next try.
pub const DAILY_LIMIT_RETRY_MS: u64 = 60 * 60 * 1000;
/// The concurrent limit (requests running 20 s or longer) clears as soon as
/// one of them ends.
pub const CONCURRENT_LIMIT_RETRY_MS: u64 = 20_000;

/// Percent-encoding for query values (shared by every connector, in the SDK).
pub use synchost_sdk::http::encode as encode_query;

/// The `(errorCode, message)` pairs of a Salesforce error body.
pub fn parse_error_body(body: &[u8]) -> Vec<(String, String)> {
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|e| {
            let code = e["errorCode"].as_str()?;
            Some((
                code.to_string(),
                tidy(e["message"].as_str().unwrap_or_default()),
            ))
        })
        .collect()
}

/// A message on one line: SOQL errors come with the query and a caret on
/// lines of their own.
pub fn tidy(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub use synchost_sdk::errors::with_message;

/// The typed error of an error code, where the code decides more than the
/// HTTP status does.
pub fn error_for_code(code: &str, message: &str) -> Option<ConnectorError> {
    Some(match code {
        // The daily allocation is spent (`TotalRequests Limit exceeded.`), or
        // too many long-running requests run at once (`ConcurrentPerOrgLongTxn
        // Limit exceeded`): either way, wait; never retry at once.
        "REQUEST_LIMIT_EXCEEDED" => ConnectorError::RateLimited(RateLimitedInfo {
            retry_after_ms: if message.contains("Concurrent") {
                CONCURRENT_LIMIT_RETRY_MS
            } else {
                DAILY_LIMIT_RETRY_MS
            },
            message: String::new(),
        }),
        // "An invalid or expired query locator": the host restarts the read
        // from the first page on a read's `not-found` saying "cursor expired".
        "INVALID_QUERY_LOCATOR" => ConnectorError::NotFound(String::new()),
        "INVALID_SESSION_ID" => ConnectorError::Unauthorized(String::new()),
        // Record locking contention: Salesforce says to retry.
        "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE" | "QUERY_TIMEOUT" => {
            ConnectorError::Transient(String::new())
        }
        _ => return None,
    })
}

/// The typed error of a non-2xx response, its message taken from
/// Salesforce's error body (`errorCode: message`); `None` for a success.
///
/// The SDK's status mapping applies (401/403 unauthorized, 404 not-found,
/// 400 invalid-input, 5xx transient), except where the error code says
/// more: REQUEST_LIMIT_EXCEEDED (403) is `rate-limited` with a long wait,
/// INVALID_QUERY_LOCATOR (400) is `not-found` "cursor expired", lock
/// contention and timeouts are `transient`.
pub fn salesforce_error(context: &str, resp: &Response) -> Option<ConnectorError> {
    let err = errors::from_status(resp)?;
    // The web server refuses these before the API reads them, with a page of
    // its own rather than an error body. The same request would be refused
    // again: it is the connector's to shorten, never the host's to retry.
    let too_long = match resp.status {
        414 => Some("URI Too Long: the URI is longer"),
        431 => Some("Request Header Fields Too Large: the URI and headers are longer"),
        _ => None,
    };
    if let Some(what) = too_long {
        return Some(ConnectorError::Fatal(format!(
            "{context}: HTTP {} {what} than the {URI_LIMIT} bytes Salesforce accepts",
            resp.status
        )));
    }
    let parsed = parse_error_body(&resp.body);
    let detail = if parsed.is_empty() {
        errors::excerpt(&resp.body)
    } else {
        parsed
            .iter()
            .map(|(code, message)| format!("{code}: {message}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut message = format!("{context}: HTTP {} {detail}", resp.status);
    let by_code = parsed.iter().find_map(|(code, m)| error_for_code(code, m));
    if matches!(by_code, Some(ConnectorError::NotFound(_))) {
        message = format!("cursor expired: {message}");
    }
    Some(with_message(by_code.unwrap_or(err), message))
}

/// The most bytes of URI and headers a request may carry.
pub const URI_LIMIT: usize = 16_384;

/// Whether Salesforce answered `code` (an `errorCode` of its error body).
pub fn has_code(resp: &Response, code: &str) -> bool {
    parse_error_body(&resp.body).iter().any(|(c, _)| c == code)
}

/// Whether `err` is the host's refusal of a response larger than it hands
/// to a connector: the SDK reports it as `fatal` "response from … is larger
/// than N bytes" (sdk/src/http.rs), with no kind of its own.
pub fn too_large(err: &ConnectorError) -> bool {
    matches!(err, ConnectorError::Fatal(m) if m.starts_with("response from ") && m.contains(" is larger than "))
}

/// `api-usage=N/LIMIT` of a `Sforce-Limit-Info` header ("This response
/// header is returned in each request to REST API", Limit Info Header).
pub fn api_usage(resp: &Response) -> Option<(u64, u64)> {
    let value = resp.header("sforce-limit-info")?;
    let usage = value
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("api-usage="))
        .next()?;
    let (used, limit) = usage.split_once('/')?;
    Some((used.trim().parse().ok()?, limit.trim().parse().ok()?))
}

/// The path of a URL, for messages (never the query string).
fn context(method: &str, url: &str) -> String {
    let no_query = url.split('?').next().unwrap_or(url);
    let path = no_query
        .strip_prefix("https://")
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(no_query);
    format!("{method} {path}")
}

/// Sends `req` and returns the response, whatever its status.
pub fn send_raw(req: Request) -> Result<Response, ConnectorError> {
    let resp = req.send_raw()?;
    if let Some((used, limit)) = api_usage(&resp) {
        if limit > 0 && used * 10 >= limit * 9 {
            log::warn(&format!(
                "Salesforce API usage is at {used} of the org's {limit} requests in 24 hours"
            ));
        }
    }
    Ok(resp)
}

/// A 2xx response as it is; any other as its typed error.
pub fn check(method: &str, url: &str, resp: Response) -> Result<Response, ConnectorError> {
    match salesforce_error(&context(method, url), &resp) {
        Some(err) => Err(err),
        None => Ok(resp),
    }
}

/// Sends `req` (a `method` request to `url`) and returns a 2xx response,
/// or the typed error.
pub fn send(method: &str, url: &str, req: Request) -> Result<Response, ConnectorError> {
    check(method, url, send_raw(req)?)
}

/// The body of a 2xx response as JSON.
pub fn json(method: &str, url: &str, resp: &Response) -> Result<Value, ConnectorError> {
    resp.json(&context(method, url))
}

pub fn get(url: &str) -> Result<Value, ConnectorError> {
    let resp = send("GET", url, Request::new("GET", url))?;
    json("GET", url, &resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response::new(status, headers, body.as_bytes())
    }

    #[test]
    fn daily_limit_is_rate_limited_for_an_hour() {
        let body =
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        match salesforce_error("GET /services/data/v59.0/query", &resp(403, &[], body)) {
            Some(ConnectorError::RateLimited(info)) => {
                assert_eq!(info.retry_after_ms, 3_600_000);
                assert_eq!(
                    info.message,
                    "GET /services/data/v59.0/query: HTTP 403 REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
                );
            }
            other => panic!("{other:?}"),
        }
        let body = r#"[{"message":"ConcurrentPerOrgLongTxn Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        assert!(matches!(
            salesforce_error("x", &resp(403, &[], body)),
            Some(ConnectorError::RateLimited(i)) if i.retry_after_ms == 20_000
        ));
    }

    #[test]
    fn statuses_and_codes_map_to_typed_errors() {
        let body = r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert!(matches!(
            salesforce_error("x", &resp(401, &[], body)),
            Some(ConnectorError::Unauthorized(m)) if m == "x: HTTP 401 INVALID_SESSION_ID: Session expired or invalid"
        ));
        let body = r#"[{"message":"insufficient access rights on object id","errorCode":"INSUFFICIENT_ACCESS"}]"#;
        assert!(matches!(
            salesforce_error("x", &resp(403, &[], body)),
            Some(ConnectorError::Unauthorized(_))
        ));
        let body = r#"[{"message":"\nSELECT Id FROM Contact WHERE\n ^\nERROR at Row:1:Column:29\nunexpected token: <EOF>","errorCode":"MALFORMED_QUERY"}]"#;
        assert!(matches!(
            salesforce_error("x", &resp(400, &[], body)),
            Some(ConnectorError::InvalidInput(m)) if m.ends_with("MALFORMED_QUERY: SELECT Id FROM Contact WHERE ^ ERROR at Row:1:Column:29 unexpected token: <EOF>")
        ));
        let body = r#"[{"message":"invalid query locator","errorCode":"INVALID_QUERY_LOCATOR"}]"#;
        assert!(matches!(
            salesforce_error("x", &resp(400, &[], body)),
            Some(ConnectorError::NotFound(m)) if m.starts_with("cursor expired: ")
        ));
        let body =
            r#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#;
        assert!(matches!(
            salesforce_error("x", &resp(404, &[], body)),
            Some(ConnectorError::NotFound(_))
        ));
        assert!(matches!(
            salesforce_error("x", &resp(502, &[], "<html>bad gateway</html>")),
            Some(ConnectorError::Transient(m)) if m == "x: HTTP 502 <html>bad gateway</html>"
        ));
        assert!(salesforce_error("x", &resp(200, &[], "[]")).is_none());
    }

    #[test]
    fn uri_too_long_is_fatal_and_names_the_limit() {
        let page = "<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>";
        assert!(matches!(
            salesforce_error("GET /services/data/v59.0/query", &resp(414, &[], page)),
            Some(ConnectorError::Fatal(m)) if m == "GET /services/data/v59.0/query: HTTP 414 URI Too Long: the URI is longer than the 16384 bytes Salesforce accepts"
        ));
        let page = "<h1>Bad Message 431</h1><pre>reason: Request Header Fields Too Large</pre>";
        assert!(matches!(
            salesforce_error("x", &resp(431, &[], page)),
            Some(ConnectorError::Fatal(m)) if m.contains("431 Request Header Fields Too Large: the URI and headers are longer than the 16384 bytes")
        ));
    }

    #[test]
    fn error_codes_and_oversized_answers_are_recognised() {
        let body =
            r#"[{"message":"More than 600000 IDs were found.","errorCode":"EXCEEDED_ID_LIMIT"}]"#;
        assert!(has_code(&resp(400, &[], body), "EXCEEDED_ID_LIMIT"));
        assert!(!has_code(&resp(400, &[], "<html/>"), "EXCEEDED_ID_LIMIT"));
        assert!(too_large(&ConnectorError::Fatal(
            "response from https://acme.my.salesforce.com/services/data/v59.0/sobjects/Contact/deleted/ is larger than 16777216 bytes".into()
        )));
        assert!(!too_large(&ConnectorError::Fatal("unexpected".into())));
        assert!(!too_large(&ConnectorError::Transient(
            "response from x is larger than 1 bytes".into()
        )));
    }

    #[test]
    fn limit_info_header() {
        let r = resp(
            200,
            &[(
                "Sforce-Limit-Info",
                "api-usage=10018/100000; api-bursts=1/750",
            )],
            "",
        );
        assert_eq!(api_usage(&r), Some((10018, 100000)));
        assert_eq!(api_usage(&resp(200, &[], "")), None);
    }

    #[test]
    fn encoding_and_context() {
        assert_eq!(
            encode_query("SELECT Id FROM Contact WHERE X >= 2024-01-01T00:00:00Z"),
            "SELECT%20Id%20FROM%20Contact%20WHERE%20X%20%3E%3D%202024-01-01T00%3A00%3A00Z"
        );
        assert_eq!(encode_query("a+b,c"), "a%2Bb%2Cc");
        assert_eq!(
            context(
                "GET",
                "https://acme.my.salesforce.com/services/data/v59.0/query?q=secret"
            ),
            "GET /services/data/v59.0/query"
        );
    }
}
