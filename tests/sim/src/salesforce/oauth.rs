//! OAuth 2.0: access tokens that expire, and the refresh token flow that
//! issues new ones (`POST /services/oauth2/token`, form-encoded).
//!
//! References: "OAuth 2.0 Refresh Token Flow for Renewed Sessions"
//! (Salesforce Help: parameters `grant_type=refresh_token`, `refresh_token`,
//! `client_id`, `client_secret`; the response's `access_token`, `signature`,
//! `instance_url`, `id`, `token_type`, `issued_at`), "Understanding the OAuth
//! Refresh Token Process" (REST API Developer Guide: "Access tokens have a
//! limited lifetime specified by the session timeout in Salesforce. If an
//! application uses an expired access token, a 'Session expired or invalid'
//! error is returned"), and "OAuth 2.0 Token Endpoint error codes" for the
//! `{"error", "error_description"}` bodies.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

pub(crate) struct Tokens {
    pub refresh_token: String,
    pub client_id: String,
    pub client_secret: String,
    pub ttl: Duration,
    /// access token -> when it was issued
    pub issued: HashMap<String, DateTime<Utc>>,
    /// tokens revoked or expired early by the test
    pub expired: HashSet<String>,
    /// the org id in identity URLs and token prefixes
    pub org: String,
}

/// A token endpoint error: 400 with `{"error", "error_description"}`.
pub(crate) struct OAuthError {
    pub status: u16,
    pub body: Value,
}

fn oauth_error(status: u16, error: &str, description: &str) -> OAuthError {
    OAuthError {
        status,
        body: json!({ "error": error, "error_description": description }),
    }
}

impl Tokens {
    /// Whether `token` is an access token that has not expired.
    pub fn valid(&self, token: &str, now: DateTime<Utc>) -> bool {
        !self.expired.contains(token)
            && self
                .issued
                .get(token)
                .is_some_and(|at| now < *at + self.ttl)
    }

    /// Every access token issued so far expires now (as when the session
    /// timeout passes or an administrator revokes sessions).
    pub fn expire_all(&mut self) {
        self.expired.extend(self.issued.keys().cloned());
    }

    /// An access token shaped like Salesforce's: the org id, `!`, and an
    /// opaque session part.
    fn mint(&self) -> String {
        const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._";
        let tail: String = (0..96)
            .map(|_| A[rand::random::<u8>() as usize % A.len()] as char)
            .collect();
        format!("{}!AR8AQ{tail}", self.org)
    }

    /// Handles a token request's form fields.
    pub fn grant(
        &mut self,
        form: &HashMap<String, String>,
        instance_url: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        match field("grant_type") {
            "refresh_token" => {}
            "" => {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    "grant type not specified",
                ))
            }
            _ => {
                return Err(oauth_error(
                    400,
                    "unsupported_grant_type",
                    "grant type not supported",
                ))
            }
        }
        if field("client_id") != self.client_id {
            return Err(oauth_error(
                400,
                "invalid_client_id",
                "client identifier invalid",
            ));
        }
        // The secret is optional for connected apps that do not require it;
        // this simulated app requires it.
        if field("client_secret") != self.client_secret {
            return Err(oauth_error(
                400,
                "invalid_client",
                "invalid client credentials",
            ));
        }
        if field("refresh_token") != self.refresh_token {
            return Err(oauth_error(
                400,
                "invalid_grant",
                "expired access/refresh token",
            ));
        }
        let token = self.mint();
        self.issued.insert(token.clone(), now);
        let id = format!(
            "https://login.salesforce.com/id/{}/0055g00000SIMUSER",
            self.org
        );
        let issued_at = now.timestamp_millis().to_string();
        Ok(json!({
            "access_token": token,
            "signature": signature(&self.client_secret, &id, &issued_at),
            "scope": "api refresh_token",
            "instance_url": instance_url,
            "id": id,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }))
    }
}

/// "Base64-encoded HMAC-SHA256 signature signed with the client_secret
/// (private key) containing the concatenated ID and issued_at value. The
/// signature can be used to verify that the identity URL wasn't modified
/// because it was sent by the server."
pub fn signature(client_secret: &str, id: &str, issued_at: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(client_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
