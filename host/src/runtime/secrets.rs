//! Credentials, kept on the host side of the sandbox.
//!
//! A job binds the secret names a connector uses (`notion_token`) to a source
//! the host reads: an environment variable (`env:NOTION_TOKEN`) or a key in a
//! secrets file (`file:notion`) that only its owner may read (mode 0600). The
//! connector writes `{{secret:notion_token}}` in a header, or declares an auth
//! scheme; the host substitutes the value in the outgoing request. Values never
//! enter the sandbox, and never reach a log or an error message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where secrets come from, on the host.
#[derive(Debug, Clone, Default)]
pub struct SecretProvider {
    /// a JSON object of name to value, mode 0600
    pub file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret `{name}`: environment variable {var} is not set")]
    MissingEnv { name: String, var: String },
    #[error("secret `{name}`: key `{key}` is not in the secrets file {file}")]
    MissingKey {
        name: String,
        key: String,
        file: String,
    },
    #[error("secret `{name}`: source `{source_}` is neither env:VAR nor file:KEY")]
    BadSource { name: String, source_: String },
    #[error("secret `{name}` is read from a file, but no secrets file is configured")]
    NoFile { name: String },
    #[error("secrets file {file}: {reason}")]
    File { file: String, reason: String },
}

/// Resolved secret values for one session, by the names the connector uses.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// secrets bound as `SOURCE#base64`: raw key bytes, for HMAC only
    keys: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl SecretProvider {
    /// Reads every binding `name -> source` of a job.
    pub fn resolve(&self, bindings: &BTreeMap<String, String>) -> Result<Secrets, SecretError> {
        let mut file: Option<BTreeMap<String, String>> = None;
        let mut values = BTreeMap::new();
        let mut keys = BTreeMap::new();
        for (name, source) in bindings {
            // `env:VAR#base64`: the value is base64 of a binary key (Airtable's
            // webhook MAC secret); it signs, it is never put in a header.
            let (source, binary) = match source.strip_suffix("#base64") {
                Some(s) => (s, true),
                None => (source.as_str(), false),
            };
            let value = if let Some(var) = source.strip_prefix("env:") {
                std::env::var(var).map_err(|_| SecretError::MissingEnv {
                    name: name.clone(),
                    var: var.into(),
                })?
            } else if let Some(key) = source.strip_prefix("file:") {
                let path = self
                    .file
                    .as_ref()
                    .ok_or_else(|| SecretError::NoFile { name: name.clone() })?;
                if file.is_none() {
                    file = Some(read_secrets_file(path)?);
                }
                file.as_ref()
                    .and_then(|f| f.get(key))
                    .cloned()
                    .ok_or_else(|| SecretError::MissingKey {
                        name: name.clone(),
                        key: key.into(),
                        file: path.display().to_string(),
                    })?
            } else {
                return Err(SecretError::BadSource {
                    name: name.clone(),
                    source_: source.to_string(),
                });
            };
            if binary {
                use base64::Engine as _;
                let key = base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .map_err(|_| SecretError::BadSource {
                        name: name.clone(),
                        source_: format!("{source}#base64 (the value is not base64)"),
                    })?;
                keys.insert(name.clone(), key);
            } else {
                values.insert(name.clone(), value);
            }
        }
        Ok(Secrets { values, keys })
    }
}

/// A secrets file: a JSON object of strings that only its owner can read.
pub fn read_secrets_file(path: &Path) -> Result<BTreeMap<String, String>, SecretError> {
    let err = |reason: String| SecretError::File {
        file: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(err(format!(
                "permissions are {mode:o}; others can read it: run chmod 600 on it"
            )));
        }
    }
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| err(format!("not a JSON object of strings: {e}")))
}

const OPEN: &str = "{{secret:";
const CLOSE: &str = "}}";

impl Secrets {
    pub fn from_values(values: BTreeMap<String, String>) -> Self {
        Secrets {
            values,
            keys: BTreeMap::new(),
        }
    }

    /// The key bytes of secret `name` for HMAC: a binary key, or the text's bytes.
    pub fn hmac_key(&self, name: &str) -> Option<&[u8]> {
        self.keys
            .get(name)
            .map(Vec::as_slice)
            .or_else(|| self.values.get(name).map(|v| v.as_bytes()))
    }

    /// A copy with secret `name` set to `value` (a refreshed access token).
    pub fn with_value(&self, name: &str, value: String) -> Secrets {
        let mut copy = self.clone();
        copy.values.insert(name.to_string(), value);
        copy
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Replaces every `{{secret:NAME}}` in `text`. An unknown name is an error
    /// that names it (names are not secret; values are).
    pub fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(OPEN) {
            out.push_str(&rest[..start]);
            let after = &rest[start + OPEN.len()..];
            let end = after.find(CLOSE).ok_or("unterminated secret placeholder")?;
            let name = &after[..end];
            let value = self
                .values
                .get(name)
                .ok_or_else(|| format!("no secret named `{name}` is bound for this job"))?;
            out.push_str(value);
            rest = &after[end + CLOSE.len()..];
        }
        out.push_str(rest);
        Ok(out)
    }

    pub fn has_placeholder(text: &str) -> bool {
        text.contains(OPEN)
    }

    /// Replaces any secret value in `bytes` with its placeholder, so that a
    /// platform that echoes a request back cannot hand the value to the guest.
    pub fn scrub(&self, bytes: Vec<u8>) -> Vec<u8> {
        let mut bytes = bytes;
        for (name, value) in &self.values {
            if value.len() < 4 || !contains(&bytes, value.as_bytes()) {
                continue;
            }
            let placeholder = format!("{OPEN}{name}{CLOSE}");
            bytes = replace_all(&bytes, value.as_bytes(), placeholder.as_bytes());
        }
        bytes
    }

    pub fn scrub_str(&self, text: &str) -> String {
        String::from_utf8(self.scrub(text.as_bytes().to_vec())).unwrap_or_default()
    }

    /// A fingerprint of the credential `name`, to key rate limits by
    /// credential without keeping the value around.
    pub fn fingerprint(&self, name: &str) -> Option<String> {
        use sha2::{Digest, Sha256};
        let value = self.values.get(name)?;
        Some(hex::encode(&Sha256::digest(value.as_bytes())[..8]))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets::from_values([("tok".to_string(), "s3cr3t-value".to_string())].into())
    }

    #[test]
    fn substitutes_placeholders_and_names_unknown_ones() {
        let s = secrets();
        assert_eq!(
            s.substitute("Bearer {{secret:tok}}").unwrap(),
            "Bearer s3cr3t-value"
        );
        let err = s.substitute("{{secret:other}}").unwrap_err();
        assert!(err.contains("other") && !err.contains("s3cr3t"));
    }

    #[test]
    fn scrubs_echoed_values() {
        let s = secrets();
        let out = s.scrub(b"{\"auth\":\"Bearer s3cr3t-value\"}".to_vec());
        assert_eq!(out, b"{\"auth\":\"Bearer {{secret:tok}}\"}".to_vec());
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_world_readable_secrets_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("synchost-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secrets.json");
        std::fs::write(&path, r#"{"k":"v"}"#).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secrets_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secrets_file(&path).unwrap()["k"], "v");
        std::fs::remove_dir_all(&dir).ok();
    }
}
