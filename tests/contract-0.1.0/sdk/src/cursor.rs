//! Opaque cursors: a connector often needs more than the platform's own token
//! to resume a read (the incremental filter, a page count); these helpers pack
//! any serializable state into one string and back.

use base64::Engine as _;
use serde::{de::DeserializeOwned, Serialize};

use crate::ConnectorError;

pub fn encode<T: Serialize>(state: &T) -> String {
    let json = serde_json::to_vec(state).expect("cursor state serializes");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor made by [`encode`]; a cursor that is not one is `invalid-input`.
pub fn decode<T: DeserializeOwned>(cursor: &str) -> Result<T, ConnectorError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|e| ConnectorError::InvalidInput(format!("malformed cursor: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ConnectorError::InvalidInput(format!("malformed cursor: {e}")))
}
