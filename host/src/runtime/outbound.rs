//! The HTTP client every connector request goes through: no redirects
//! followed (a redirect to an undeclared host must come back through the
//! policy), an address check inside DNS resolution, and a cap on body size.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::policy::is_public;

/// Resolves names and drops every non-public address, unless built to allow them.
struct FilteringResolver {
    allow_private: bool,
}

impl Resolve for FilteringResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if allowed.is_empty() && !addrs.is_empty() {
                let refused: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "{host} resolves to {} only: private, loopback, link-local or otherwise non-public addresses, which the job does not allow",
                    refused.join(", ")
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Two clients: one for jobs that keep to public networks (the default) and
/// one for jobs that explicitly allow private ones.
#[derive(Clone)]
pub struct Clients {
    public: reqwest::Client,
    private: reqwest::Client,
}

impl Clients {
    pub fn new() -> anyhow::Result<Self> {
        let build = |allow_private| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(Arc::new(FilteringResolver { allow_private }))
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("synchost/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Ok(Clients {
            public: build(false)?,
            private: build(true)?,
        })
    }

    pub fn get(&self, allow_private: bool) -> &reqwest::Client {
        if allow_private {
            &self.private
        } else {
            &self.public
        }
    }
}

/// Why a request failed before a full response was read.
#[derive(Debug)]
pub enum SendError {
    Timeout,
    TooLarge(u64),
    /// the resolver refused the destination's addresses
    Denied(String),
    Network(String),
}

pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Sends `request` and reads at most `max_body` bytes of the answer.
pub async fn send(
    client: &reqwest::Client,
    request: reqwest::Request,
    max_body: usize,
    timeout: Duration,
) -> Result<RawResponse, SendError> {
    let work = async {
        let mut resp = client.execute(request).await.map_err(classify)?;
        if let Some(len) = resp.content_length() {
            if len > max_body as u64 {
                return Err(SendError::TooLarge(max_body as u64));
            }
        }
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > max_body {
                return Err(SendError::TooLarge(max_body as u64));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(SendError::Timeout),
    }
}

fn classify(err: reqwest::Error) -> SendError {
    if err.is_timeout() {
        return SendError::Timeout;
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    if text.contains("non-public addresses") {
        SendError::Denied(text)
    } else {
        SendError::Network(text)
    }
}
