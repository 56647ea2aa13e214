//! The probe connector with HTTP Basic auth (contract 0.2.0's `basic`).

use synchost_sdk::prelude::*;

const NAME: &str = "probe";

fn auth() -> AuthScheme {
    AuthScheme::basic("probe_user", "probe_password")
}

include!("probe.rs");
