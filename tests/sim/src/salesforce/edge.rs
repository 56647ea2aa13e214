//! What Salesforce's front end refuses before a request reaches the REST
//! API: a URI, or a URI and headers, longer than 16,384 bytes.
//!
//! "In each REST call, the maximum length for the combined URI and headers
//! is 16,384 bytes. A request exceeding this limit returns a 431 Request
//! Header Fields Too Large error. If the URI itself exceeds this limit, the
//! request returns a 414 URI Too Long error." (Salesforce Help, "Maximum
//! number of rows returned by SOQL queries over the REST API", article
//! 000386264, https://help.salesforce.com/s/articleView?id=000386264&type=1)
//!
//! The article documents no body for either. The refusal comes from the web
//! server, not from the API, so it is not the API's JSON error array: Stitch
//! quotes what it receives as "Bad Message 431 reason: Request Header Fields
//! Too Large" (https://www.stitchdata.com/docs/troubleshooting/salesforce-replication-too-many-columns),
//! which is Jetty's wording for a request it refuses; it is sent here as
//! Jetty formats it. Such a request never reaches the API, so it is not
//! counted against the org's allocation.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The most bytes of URI and headers, together, that a request may carry.
pub(crate) const MAX_URI_AND_HEADERS: usize = 16_384;

/// The request-target (path and query) and each header line as sent on the
/// wire (`Name: value` and CRLF).
fn sizes(req: &Request) -> (usize, usize) {
    let uri = req
        .uri()
        .path_and_query()
        .map_or(req.uri().path().len(), |pq| pq.as_str().len());
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.as_bytes().len() + 4)
        .sum();
    (uri, headers)
}

/// The front end's answer to a request over the limit; `None` for one within it.
pub(crate) fn refuse(req: &Request) -> Option<Response> {
    let (uri, headers) = sizes(req);
    let (status, reason) = if uri > MAX_URI_AND_HEADERS {
        (StatusCode::URI_TOO_LONG, "URI Too Long")
    } else if uri + headers > MAX_URI_AND_HEADERS {
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
        )
    } else {
        return None;
    };
    let body = format!(
        "<h1>Bad Message {}</h1><pre>reason: {reason}</pre>",
        status.as_u16()
    );
    Some(
        (
            status,
            [(header::CONTENT_TYPE, "text/html;charset=iso-8859-1")],
            body,
        )
            .into_response(),
    )
}
