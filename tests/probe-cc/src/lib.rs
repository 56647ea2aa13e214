//! The probe connector with OAuth 2.0 client credentials (contract 0.2.0's
//! `client-credentials`): the host gets the token, the connector never does.

use synchost_sdk::prelude::*;

const NAME: &str = "probe-cc";

fn auth() -> AuthScheme {
    AuthScheme::client_credentials(
        "https://probe.example.com/oauth/token",
        "probe_client_id",
        "probe_client_secret",
        &["records.write"],
    )
}

include!("../../probe/src/probe.rs");
