//! OAuth 2.0 access tokens refreshed by the host (RFC 6749 §6, "Refreshing an
//! Access Token"), so a connector never holds the access token nor the refresh
//! token: when the platform answers 401, the host trades the refresh token for
//! a new access token at the token endpoint and retries the request once.
//!
//! The refreshed token is kept in memory per connector and refresh token, so
//! the next session starts with it instead of refreshing again. It is never
//! written to disk: after a restart the first 401 refreshes once more.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::outbound::{self, Clients};
use super::policy::Policy;
use super::secrets::Secrets;
use super::Limits;

/// A connection's refresh-token flow. Every value names a secret bound in the
/// connection's `secrets`, never the secret itself.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// The token endpoint, e.g. `https://login.salesforce.com/services/oauth2/token`.
    /// Its origin must be one the connector declares (endpoint overrides apply).
    pub token_url: String,
    /// The secret holding the access token: the one the connector's auth
    /// scheme puts in requests. The host replaces its value after a refresh.
    pub access_token: String,
    /// The secret holding the refresh token.
    pub refresh_token: String,
    /// The secret holding the connected app's client id, where the platform asks for one.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The secret holding the connected app's client secret.
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// Access tokens refreshed so far, by connector and refresh token.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, Arc<Refreshed>>>,
}

/// The latest access token of one refresh token, and how many times it
/// changed; refreshes of it run one at a time.
#[derive(Default)]
pub struct Refreshed {
    refreshing: tokio::sync::Mutex<()>,
    latest: Mutex<(u64, Option<String>)>,
}

impl TokenCache {
    pub fn entry(&self, key: String) -> Arc<Refreshed> {
        self.tokens.lock().entry(key).or_default().clone()
    }
}

/// How the host gets an access token.
#[derive(Debug, Clone, PartialEq)]
pub enum Grant {
    /// RFC 6749 §6: a refresh token (the connection's `oauth2` block) trades
    /// for a new access token when the platform answers 401.
    RefreshToken,
    /// RFC 6749 §4.4: the client id and secret (the connector's
    /// `client-credentials` auth scheme) trade for an access token before
    /// the first request, and again when the platform answers 401.
    ClientCredentials { scopes: Vec<String> },
}

/// One session's view of the flow.
#[derive(Clone)]
pub struct Refresher {
    pub config: OAuth2,
    pub shared: Arc<Refreshed>,
    pub grant: Grant,
}

impl Refresher {
    /// `secrets` with the access token replaced by the latest refreshed one,
    /// and the generation of that token.
    pub fn current(&self, secrets: &Secrets) -> (u64, Secrets) {
        let (generation, token) = self.shared.latest.lock().clone();
        match token {
            Some(token) => (
                generation,
                secrets.with_value(&self.config.access_token, token),
            ),
            None => (generation, secrets.clone()),
        }
    }

    /// Whether a token must be fetched before the first request: the
    /// client-credentials grant has none until it asks.
    pub fn needs_first_token(&self, generation: u64) -> bool {
        generation == 0 && matches!(self.grant, Grant::ClientCredentials { .. })
    }

    /// Gets a new access token, unless another request already did since
    /// generation `seen`. Errors say what the token endpoint answered,
    /// without any secret.
    pub async fn refresh(
        &self,
        seen: u64,
        secrets: &Secrets,
        policy: &Policy,
        clients: &Clients,
        limits: &Limits,
    ) -> Result<(), String> {
        let _one_at_a_time = self.shared.refreshing.lock().await;
        if self.shared.latest.lock().0 != seen {
            return Ok(());
        }
        let secret = |name: &str| {
            secrets
                .get(name)
                .map(str::to_string)
                .ok_or_else(|| format!("oauth2: no secret named `{name}` is bound for this job"))
        };
        let mut pairs = match &self.grant {
            Grant::RefreshToken => vec![
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", secret(&self.config.refresh_token)?),
            ],
            Grant::ClientCredentials { scopes } => {
                let mut pairs = vec![("grant_type", "client_credentials".to_string())];
                if !scopes.is_empty() {
                    pairs.push(("scope", scopes.join(" ")));
                }
                pairs
            }
        };
        if let Some(id) = &self.config.client_id {
            pairs.push(("client_id", secret(id)?));
        }
        if let Some(s) = &self.config.client_secret {
            pairs.push(("client_secret", secret(s)?));
        }
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let routed = policy
            .route(&self.config.token_url)
            .map_err(|e| format!("oauth2 token_url: {e}"))?;
        if let Some(why) = routed.no_credentials {
            return Err(format!("oauth2 token_url: {why}"));
        }
        clients
            .check_destination(&routed.target, policy)
            .await
            .map_err(|e| format!("oauth2 token_url: {e}"))?;
        let client = clients.get(policy.allow_private_networks);
        let request = client
            .post(routed.target)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form)
            .build()
            .map_err(|e| format!("oauth2: {e}"))?;
        let response = outbound::send(
            client,
            request,
            limits.max_response_bytes,
            limits.http_timeout,
        )
        .await
        .map_err(|e| format!("oauth2: the token endpoint could not be reached: {e:?}"))?;
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
        let Some(token) = body["access_token"]
            .as_str()
            .filter(|_| response.status == 200)
        else {
            // RFC 6749 §5.2: `error` and `error_description` say why.
            let said = format!(
                "{} {}",
                body["error"].as_str().unwrap_or("(no error code)"),
                body["error_description"].as_str().unwrap_or("")
            );
            return Err(format!(
                "oauth2: the token endpoint answered {} {}",
                response.status,
                super::policy::clip(&secrets.scrub_str(&said), 512)
            ));
        };
        let generation = {
            let mut latest = self.shared.latest.lock();
            *latest = (latest.0 + 1, Some(token.to_string()));
            latest.0
        };
        tracing::info!(target: "synchost::http", generation, grant = ?self.grant, "oauth2 access token obtained");
        Ok(())
    }
}
