//! HTTP through the host. Every request leaves the sandbox through the host's
//! `http` import, which checks the destination, injects credentials, applies
//! the platform's rate limit and logs the call.
//!
//! ```no_run
//! use synchost_sdk::{http, secret};
//! # fn f() -> Result<(), synchost_sdk::ConnectorError> {
//! let page: serde_json::Value = http::post("https://api.notion.com/v1/databases/abc/query")
//!     .header("Authorization", &format!("Bearer {}", secret("notion_token")))
//!     .header("Notion-Version", "2022-06-28")
//!     .json(&serde_json::json!({ "page_size": 100 }))
//!     .send_json()?;
//! # Ok(()) }
//! ```

use serde::{de::DeserializeOwned, Serialize};

use crate::__bindings::synchost::connector::http as wit;
use crate::{errors, ConnectorError};

/// A response as the host received it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response from its parts: for a connector's tests of its error mapping.
    pub fn new(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Self {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        }
    }

    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The platform's time when it answered (the `Date` header), as RFC 3339.
    pub fn date(&self) -> Option<String> {
        self.header("date")
            .and_then(crate::time::http_date_to_rfc3339)
    }

    /// The body parsed as JSON; a body that is not is a `fatal` error naming the URL.
    pub fn json<T: DeserializeOwned>(&self, context: &str) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| errors::bad_body(context, e))
    }
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

pub fn get(url: &str) -> Request {
    Request::new("GET", url)
}
pub fn post(url: &str) -> Request {
    Request::new("POST", url)
}
pub fn patch(url: &str) -> Request {
    Request::new("PATCH", url)
}
pub fn put(url: &str) -> Request {
    Request::new("PUT", url)
}
pub fn delete(url: &str) -> Request {
    Request::new("DELETE", url)
}

impl Request {
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds a header; the value may hold a [`crate::secret`] placeholder.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A JSON body, with `Content-Type: application/json`.
    pub fn json<T: Serialize>(mut self, body: &T) -> Self {
        self.body = Some(serde_json::to_vec(body).expect("request body serializes"));
        self.header("Content-Type", "application/json")
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    /// Sends the request; any status comes back as a [`Response`].
    pub fn send_raw(self) -> Result<Response, ConnectorError> {
        let request = wit::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
        };
        match wit::send(&request) {
            Ok(resp) => Ok(Response {
                status: resp.status,
                headers: resp.headers,
                body: resp.body,
            }),
            Err(err) => Err(from_http_error(&request.url, err)),
        }
    }

    /// Sends the request; a non-2xx status becomes the matching typed error.
    pub fn send(self) -> Result<Response, ConnectorError> {
        let resp = self.send_raw()?;
        match errors::from_status(&resp) {
            Some(err) => Err(err),
            None => Ok(resp),
        }
    }

    /// Sends the request and parses a 2xx body as JSON.
    pub fn send_json<T: DeserializeOwned>(self) -> Result<T, ConnectorError> {
        let context = format!("{} {}", self.method, strip_query(&self.url));
        self.send()?.json(&context)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, byte by
/// byte in UTF-8: for a value placed in a query string or a path segment.
pub fn encode(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for &byte in value.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[(byte >> 4) as usize] as char);
            out.push(HEX[(byte & 0x0f) as usize] as char);
        }
    }
    out
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn from_http_error(url: &str, err: wit::HttpError) -> ConnectorError {
    let url = strip_query(url);
    match err {
        wit::HttpError::Denied(why) => {
            ConnectorError::Fatal(format!("request to {url} denied: {why}"))
        }
        wit::HttpError::Timeout => ConnectorError::Transient(format!("request to {url} timed out")),
        wit::HttpError::TooLarge(limit) => {
            ConnectorError::Fatal(format!("response from {url} is larger than {limit} bytes"))
        }
        wit::HttpError::Network(why) => {
            ConnectorError::Transient(format!("network error on {url}: {why}"))
        }
    }
}
