//! `POST /services/data/vXX.X/composite`: several REST requests in one call.
//!
//! "Executes a series of REST API requests in a single call. … The entire
//! series of requests counts as a single call toward your API limits."
//! Composite "is supported for … The Query resource
//! (/services/data/vXX.X/query/?q=soql)" (Send Multiple Requests Using
//! Composite, https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-composite-post.html).
//! It is the documented way around the URI limit of a long query: "To avoid
//! "431 Request Header Fields Too Large" error, try to incorporate the SOQL
//! statement into the body of a Composite API request as one of the 25
//! allowed subrequests", and the next batches can be read "through Composite
//! API or directly accessing the /query endpoint shown in nextRecordsUrl"
//! (Salesforce Help, article 000386264).
//!
//! Request body ("Composite Request Body",
//! https://developer.salesforce.com/docs/atlas.en-us.206.0.api_rest.meta/api_rest/requests_composite.htm):
//! `allOrNone`, and `compositeRequest`, each subrequest with `method`,
//! `url`, `referenceId` and optional `httpHeaders` ("You can include any
//! header supported by the requested resource except for the following
//! three headers. Accept, Authorization, Content-Type … If you do, the
//! top-level request fails and returns an HTTP 400 response", Composite
//! Subrequest, https://developer.salesforce.com/docs/atlas.en-us.246.0.api_rest.meta/api_rest/resources_composite_graph_composite_subrequest.htm).
//! "In either case, the top-level request returns HTTP 200 and includes
//! responses for each subrequest." Response ("Composite Response Body",
//! https://developer.salesforce.com/docs/atlas.en-us.230.0.api_rest.meta/api/responses_composite.htm):
//! `compositeResponse`, one `{body, httpHeaders, httpStatusCode,
//! referenceId}` per subrequest; "If the subrequest returns an error, the
//! body includes the error code and message"; "If allOrNone is set to true
//! in the composite request and a subrequest returns an error, all other
//! subrequests return the 400 HTTP status code" (their body is not quoted
//! in what was read; `PROCESSING_HALTED` is the simulator's wording).
//!
//! The simulator serves the subrequests a reader needs, GET of Query,
//! QueryAll and their next batches; any other subrequest fails the whole
//! call with an error code of the simulator's own, so that a test relying
//! on one fails loudly rather than passing against behaviour the simulator
//! does not have.

use axum::http::Uri;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

use super::endpoints::{more_request, soql_request, version};
use super::model::ApiError;
use super::{query, Shared};

/// "one of the 25 allowed subrequests" (Salesforce Help, article 000386264).
const MAX_SUBREQUESTS: usize = 25;
/// At most 5 of them query operations, the next batch of a query included
/// ("Composite", REST API Developer Guide, read in Salesforce's Japanese
/// translation: "このサブ要求のうち最大 5 個をクエリ操作とすることができます",
/// https://developer.salesforce.com/docs/atlas.ja-jp.226.0.api_rest.meta/api/resources_composite_composite.htm).
const MAX_QUERIES: usize = 5;

/// Headers a subrequest inherits and must not name.
const INHERITED: [&str; 3] = ["accept", "authorization", "content-type"];

/// A subrequest the simulator can answer.
enum Sub {
    Query {
        params: HashMap<String, String>,
        all: bool,
    },
    More {
        locator: String,
    },
}

/// Neither documented words nor a documented error code exist for a
/// request over these limits; the code is the simulator's.
fn refused(message: impl Into<String>) -> ApiError {
    ApiError::bad("INVALID_API_INPUT", message)
}

fn parse(method: &str, url: &str) -> Result<(String, Sub), ApiError> {
    let unsupported = || {
        ApiError::bad(
            "NOT_SUPPORTED_BY_SIMULATOR",
            format!(
                "the simulator serves GET Query, QueryAll and query-more subrequests only, not {method} {url}"
            ),
        )
    };
    if method != "GET" {
        return Err(unsupported());
    }
    let uri: Uri = url.parse().map_err(|_| unsupported())?;
    let rest = uri
        .path()
        .strip_prefix("/services/data/")
        .ok_or_else(unsupported)?;
    let (v, rest) = rest.split_once('/').ok_or_else(unsupported)?;
    let rest = rest.trim_end_matches('/');
    let sub = match rest.split_once('/') {
        None if rest == "query" || rest == "queryAll" => {
            let axum::extract::Query(params) =
                axum::extract::Query::<HashMap<String, String>>::try_from_uri(&uri)
                    .map_err(|_| unsupported())?;
            Sub::Query {
                params,
                all: rest == "queryAll",
            }
        }
        Some(("query" | "queryAll", locator)) if !locator.contains('/') => Sub::More {
            locator: locator.to_string(),
        },
        _ => return Err(unsupported()),
    };
    Ok((v.to_string(), sub))
}

/// Runs a composite request (its own version is checked by the caller; each
/// subrequest names its own).
pub(super) fn run(sh: &Shared, body: &Value) -> Result<Value, ApiError> {
    let subs = body["compositeRequest"]
        .as_array()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::bad(
                "JSON_PARSER_ERROR",
                "compositeRequest must be an array of subrequests",
            )
        })?;
    if subs.len() > MAX_SUBREQUESTS {
        return Err(refused(format!(
            "a composite request holds at most {MAX_SUBREQUESTS} subrequests, got {}",
            subs.len()
        )));
    }
    let all_or_none = body["allOrNone"].as_bool().unwrap_or(false);
    let mut parsed = Vec::new();
    for sub in subs {
        let field = |name: &str| {
            sub[name].as_str().ok_or_else(|| {
                ApiError::bad(
                    "JSON_PARSER_ERROR",
                    format!("a subrequest needs a string `{name}`"),
                )
            })
        };
        let (method, url, reference) = (field("method")?, field("url")?, field("referenceId")?);
        let headers = sub["httpHeaders"].as_object().cloned().unwrap_or_default();
        if let Some(name) = headers
            .keys()
            .find(|k| INHERITED.contains(&k.to_ascii_lowercase().as_str()))
        {
            return Err(refused(format!(
                "subrequest {reference} names the header {name}, which subrequests inherit from the composite request"
            )));
        }
        let (sub_version, request) = parse(method, url)?;
        parsed.push((reference.to_string(), sub_version, headers, request));
    }
    if parsed.len() > MAX_QUERIES {
        return Err(refused(format!(
            "a composite request holds at most {MAX_QUERIES} query operations"
        )));
    }
    let mut results: Vec<(String, Result<Value, ApiError>)> = parsed
        .into_iter()
        .map(|(reference, sub_version, headers, request)| {
            let batch = query::batch_size(header(&headers, "sforce-query-options"));
            let outcome = version(&sub_version).and_then(|_| match &request {
                Sub::Query { params, all } => soql_request(sh, &sub_version, params, batch, *all),
                Sub::More { locator } => more_request(sh, &sub_version, locator, batch),
            });
            (reference, outcome)
        })
        .collect();
    if all_or_none && results.iter().any(|(_, r)| r.is_err()) {
        for (_, r) in results.iter_mut().filter(|(_, r)| r.is_ok()) {
            *r = Err(ApiError::bad(
                "PROCESSING_HALTED",
                "The transaction was rolled back since another operation in the same transaction failed.",
            ));
        }
    }
    let responses: Vec<Value> = results
        .into_iter()
        .map(|(reference, outcome)| {
            let (status, body) = match outcome {
                Ok(body) => (200, body),
                Err(e) => (e.status, e.body()),
            };
            json!({ "body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference })
        })
        .collect();
    Ok(json!({ "compositeResponse": responses }))
}

fn header<'a>(headers: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}
