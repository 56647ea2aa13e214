//! The HTTP client every connector request goes through: no redirects
//! followed (a redirect to an undeclared host must come back through the
//! policy), an address check inside DNS resolution, a cap on body size, and
//! content coding decided by the host.
//!
//! The environment's proxies (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) are
//! ignored: through a proxy, the resolver that checks addresses would see the
//! proxy's, and a connector could reach loopback. A proxy is an explicit
//! setting (`--proxy`), and then the host resolves and checks each
//! destination itself before the request leaves.

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
    /// requests go through this proxy (an explicit setting, never the environment)
    proxied: bool,
}

impl Clients {
    /// `proxy`: an explicit proxy URL; the environment's are never used.
    pub fn new(proxy: Option<&str>) -> anyhow::Result<Self> {
        let proxy = proxy
            .map(|p| {
                reqwest::Proxy::all(p).map_err(|e| anyhow::anyhow!("proxy `{p}` is not a URL: {e}"))
            })
            .transpose()?;
        let build = |allow_private| {
            let mut builder = reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(Arc::new(FilteringResolver { allow_private }))
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("synchost/", env!("CARGO_PKG_VERSION")));
            if let Some(proxy) = &proxy {
                builder = builder.proxy(proxy.clone());
            }
            builder.build()
        };
        Ok(Clients {
            public: build(false)?,
            private: build(true)?,
            proxied: proxy.is_some(),
        })
    }

    /// Through a proxy, the client's resolver sees only the proxy's name:
    /// the destination's addresses are resolved and checked here instead,
    /// before the request leaves. Without a proxy this is the resolver's job.
    pub async fn check_destination(
        &self,
        target: &url::Url,
        policy: &super::policy::Policy,
    ) -> Result<(), String> {
        if !self.proxied || policy.allow_private_networks {
            return Ok(());
        }
        let Some(url::Host::Domain(host)) = target.host() else {
            // literal addresses were checked by the policy
            return Ok(());
        };
        let port = target.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("{host}: {e}"))?
            .collect();
        match addrs.iter().find(|a| !is_public(a.ip())) {
            Some(private) => Err(format!(
                "{host} resolves to {}: a private, loopback, link-local or otherwise non-public address, which the job does not allow",
                private.ip()
            )),
            None => Ok(()),
        }
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
        // The client decodes the codings it asked for (gzip, deflate, br) and
        // drops the header. A coding it did not ask for is one the host
        // cannot read, so cannot scrub: refused.
        if let Some(coding) = resp.headers().get(reqwest::header::CONTENT_ENCODING) {
            let coding = String::from_utf8_lossy(coding.as_bytes());
            if !coding.trim().eq_ignore_ascii_case("identity") {
                return Err(SendError::Network(format!(
                    "the platform answered in content coding `{}`, which the host did not ask for and cannot decode",
                    super::policy::clip(&coding, 64)
                )));
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
