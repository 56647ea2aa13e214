//! Credentials, kept on the host side of the sandbox.
//!
//! A job binds the secret names a connector uses (`notion_token`) to a source
//! the host reads: an environment variable (`env:NOTION_TOKEN`) or a key in a
//! secrets file (`file:notion`) that only its owner may read (mode 0600). The
//! connector writes `{{secret:notion_token}}` in a header, or declares an auth
//! scheme; the host substitutes the value in the outgoing request. Values never
//! enter the sandbox, and never reach a log or an error message.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::scrub;

/// Where secrets come from, on the host.
#[derive(Debug, Clone, Default)]
pub struct SecretProvider {
    /// a JSON object of name to value, mode 0600; its `projects` object holds
    /// each project's own: `{"projects": {"pf-701": {"notion": "..."}}}`
    pub file: Option<PathBuf>,
}

/// Whose secrets a job may bind. A job's `file:KEY` is looked up in its
/// project's section of the secrets file first; a job created with a
/// project token is held to that section (no shared keys, no `env:`), so a
/// job of project A can never name project B's credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretScope {
    /// the job's `project_id`
    pub project: Option<String>,
    /// only the project's own section may be used
    pub project_only: bool,
}

/// A secrets file: shared keys, and each project's section.
#[derive(Debug, Default)]
pub struct SecretsFile {
    shared: BTreeMap<String, String>,
    projects: BTreeMap<String, BTreeMap<String, String>>,
}

impl SecretsFile {
    fn lookup(&self, key: &str, scope: &SecretScope) -> Option<&String> {
        let own = scope
            .project
            .as_ref()
            .and_then(|p| self.projects.get(p))
            .and_then(|section| section.get(key));
        match own {
            Some(value) => Some(value),
            None if scope.project_only => None,
            None => self.shared.get(key),
        }
    }
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
    #[error("secret `{name}`: key `{key}` is not in project {project}'s section of the secrets file {file}")]
    NotInProject {
        name: String,
        key: String,
        project: String,
        file: String,
    },
    #[error("secret `{name}`: a job created with a project token binds only `file:KEY` secrets of its project, not `{source_}`")]
    ProjectOnly { name: String, source_: String },
    #[error("secrets file {file}: {reason}")]
    File { file: String, reason: String },
}

/// Resolved secret values for one session, by the names the connector uses.
///
/// Each secret has one purpose, and is refused for any other:
/// - **header**: the secret of the connector's auth scheme (and any the
///   connection lists in `header_secrets`) may go into request headers;
/// - **hmac**: the job's other secrets (webhook keys) may only key the
///   `crypto` import;
/// - **host**: OAuth 2.0 refresh tokens and client credentials are used by
///   the host alone, at the token endpoint.
///
/// Until [`Secrets::grant`] says otherwise, every value is an HMAC key only.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// secrets bound as `SOURCE#base64`: raw key bytes, for HMAC only
    keys: BTreeMap<String, Vec<u8>>,
    /// names that may stand in request headers
    header: BTreeSet<String>,
    /// names only the host itself uses
    host_only: BTreeSet<String>,
    /// every form in which an echo could carry a value back, longest first,
    /// with the placeholder that replaces it
    scrubbed: Arc<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl SecretProvider {
    /// Reads every binding `name -> source` of a job, within `scope`.
    pub fn resolve(
        &self,
        bindings: &BTreeMap<String, String>,
        scope: &SecretScope,
    ) -> Result<Secrets, SecretError> {
        let mut file: Option<SecretsFile> = None;
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
                if scope.project_only {
                    return Err(SecretError::ProjectOnly {
                        name: name.clone(),
                        source_: source.to_string(),
                    });
                }
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
                let found = file.as_ref().and_then(|f| f.lookup(key, scope)).cloned();
                match (found, &scope.project) {
                    (Some(value), _) => value,
                    (None, Some(project)) if scope.project_only => {
                        return Err(SecretError::NotInProject {
                            name: name.clone(),
                            key: key.into(),
                            project: project.clone(),
                            file: path.display().to_string(),
                        })
                    }
                    (None, _) => {
                        return Err(SecretError::MissingKey {
                            name: name.clone(),
                            key: key.into(),
                            file: path.display().to_string(),
                        })
                    }
                }
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
        Ok(Secrets::from_parts(values, keys))
    }
}

/// A secrets file: a JSON object that only its owner can read, of shared
/// keys (strings) and a `projects` object of each project's keys.
pub fn read_secrets_file(path: &Path) -> Result<SecretsFile, SecretError> {
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
    let shape = "not a JSON object of strings (with an optional `projects` object of such objects)";
    let mut map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| err(format!("{shape}: {e}")))?;
    let projects = match map.remove("projects") {
        None => BTreeMap::new(),
        Some(p) => {
            serde_json::from_value(p).map_err(|e| err(format!("`projects`: {shape}: {e}")))?
        }
    };
    let shared = serde_json::from_value(serde_json::Value::Object(map.into_iter().collect()))
        .map_err(|e| err(format!("{shape}: {e}")))?;
    Ok(SecretsFile { shared, projects })
}

const OPEN: &str = "{{secret:";
const CLOSE: &str = "}}";

/// `{{secret:NAME}}`: what a connector writes, and what scrubbing leaves.
pub fn placeholder(name: &str) -> String {
    format!("{OPEN}{name}{CLOSE}")
}

impl Secrets {
    pub fn from_values(values: BTreeMap<String, String>) -> Self {
        Secrets::from_parts(values, BTreeMap::new())
    }

    fn from_parts(values: BTreeMap<String, String>, keys: BTreeMap<String, Vec<u8>>) -> Self {
        let mut secrets = Secrets {
            values,
            keys,
            ..Secrets::default()
        };
        secrets.scrubbed = Arc::new(scrub::patterns(&secrets.values));
        secrets
    }

    /// Gives each secret its purpose: `header` names may go into request
    /// headers, `host_only` names are the host's alone; the rest key HMACs.
    pub fn grant(
        mut self,
        header: impl IntoIterator<Item = String>,
        host_only: impl IntoIterator<Item = String>,
    ) -> Self {
        self.header = header.into_iter().collect();
        self.host_only = host_only.into_iter().collect();
        self
    }

    /// The key bytes of secret `name` for HMAC: a binary key, or the text's
    /// bytes. Only secrets that are neither header nor host secrets qualify.
    pub fn hmac_key(&self, name: &str) -> Result<&[u8], String> {
        if let Some(key) = self.keys.get(name) {
            return Ok(key);
        }
        let value = self
            .values
            .get(name)
            .ok_or_else(|| format!("no secret named `{name}` is bound for this job"))?;
        if self.header.contains(name) || self.host_only.contains(name) {
            return Err(format!(
                "secret `{name}` is a credential, not a webhook secret: it cannot key an HMAC"
            ));
        }
        Ok(value.as_bytes())
    }

    /// A copy with secret `name` set to `value` (a refreshed access token).
    pub fn with_value(&self, name: &str, value: String) -> Secrets {
        let mut copy = self.clone();
        copy.values.insert(name.to_string(), value);
        copy.scrubbed = Arc::new(scrub::patterns(&copy.values));
        copy
    }

    /// The value of `name`, for the host's own use (a token endpoint).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Replaces every `{{secret:NAME}}` in a header value. An unknown name,
    /// or a secret whose purpose is not headers, is an error that names it
    /// (names are not secret; values are).
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
            if !self.header.contains(name) {
                return Err(format!(
                    "secret `{name}` may not be sent in a header: only the secret of the \
                     connector's auth scheme (or one the connection lists in `header_secrets`) is"
                ));
            }
            out.push_str(value);
            rest = &after[end + CLOSE.len()..];
        }
        out.push_str(rest);
        Ok(out)
    }

    pub fn has_placeholder(text: &str) -> bool {
        text.contains(OPEN)
    }

    /// Replaces any secret value in `bytes`, in any form an echo might give
    /// it back (as is, base64 at any offset, percent- or JSON-escaped, hex,
    /// Basic's `user:pass`), with its placeholder, so that a platform that
    /// echoes a request cannot hand the value to the guest.
    pub fn scrub(&self, bytes: Vec<u8>) -> Vec<u8> {
        let mut bytes = bytes;
        for (pattern, placeholder) in self.scrubbed.iter() {
            if memchr::memmem::find(&bytes, pattern).is_some() {
                bytes = scrub::replace_all(&bytes, pattern, placeholder);
            }
        }
        bytes
    }

    pub fn scrub_str(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.scrub(text.as_bytes().to_vec())).into_owned()
    }

    /// A fingerprint of the credential `name`, to key rate limits by
    /// credential without keeping the value around.
    pub fn fingerprint(&self, name: &str) -> Option<String> {
        use sha2::{Digest, Sha256};
        let value = self.values.get(name)?;
        Some(hex::encode(&Sha256::digest(value.as_bytes())[..8]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets::from_values([("tok".to_string(), "s3cr3t-value".to_string())].into())
            .grant(["tok".to_string()], [])
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
    fn a_secret_serves_its_purpose_only() {
        let s = Secrets::from_values(
            [
                ("tok".to_string(), "s3cr3t-value".to_string()),
                ("refresh".to_string(), "refresh-value".to_string()),
                ("hook".to_string(), "hook-value".to_string()),
            ]
            .into(),
        )
        .grant(["tok".to_string()], ["refresh".to_string()]);
        assert!(s.substitute("{{secret:tok}}").is_ok());
        for name in ["refresh", "hook"] {
            let err = s
                .substitute(&format!("x {{{{secret:{name}}}}}"))
                .unwrap_err();
            assert!(err.contains(name) && !err.contains("value"), "{err}");
        }
        assert!(s.hmac_key("hook").is_ok());
        assert!(s.hmac_key("tok").is_err());
        assert!(s.hmac_key("refresh").is_err());
    }

    #[test]
    fn scrubs_every_encoding_of_a_value() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let basic = format!("Basic {}", b64.encode("alice:correct-horse"));
        let s = Secrets::from_values(
            [
                ("tok".to_string(), "s3cr3t-value/42".to_string()),
                ("basic".to_string(), basic.clone()),
            ]
            .into(),
        );
        for echo in [
            b64.encode("s3cr3t-value/42"),
            b64.encode("Authorization: Bearer s3cr3t-value/42"),
            b64.encode("x: s3cr3t-value/42 y"),
            "s3cr3t-value%2F42".to_string(),
            "s3cr3t-value%2f42".to_string(),
            "s3cr3t-value\\/42".to_string(),
            hex::encode("s3cr3t-value/42"),
            "alice:correct-horse".to_string(),
            "correct-horse".to_string(),
            "alice%3Acorrect-horse".to_string(),
            basic.clone(),
        ] {
            let out = String::from_utf8(s.scrub(echo.clone().into_bytes())).unwrap();
            assert!(out.contains("{{secret:"), "{echo} was left as {out}");
            assert!(
                !out.contains("s3cr3t") && !out.contains("correct-horse"),
                "{out}"
            );
        }
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
        let shared = SecretScope::default();
        assert_eq!(
            read_secrets_file(&path)
                .unwrap()
                .lookup("k", &shared)
                .unwrap(),
            "v"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn a_job_resolves_its_secrets_within_its_project() {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::env::temp_dir().join(format!("synchost-scoped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secrets.json");
        let _ = std::fs::remove_file(&path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(
            &mut f,
            br#"{"shared":"s","projects":{"A":{"tok":"a-token"},"B":{"tok":"b-token","only_b":"x"}}}"#,
        )
        .unwrap();
        let provider = SecretProvider { file: Some(path) };
        let bind = |key: &str| BTreeMap::from([("t".to_string(), format!("file:{key}"))]);
        let scope = |p: &str, only| SecretScope {
            project: Some(p.into()),
            project_only: only,
        };
        let got = provider.resolve(&bind("tok"), &scope("A", false)).unwrap();
        assert_eq!(got.get("t"), Some("a-token"));
        let got = provider.resolve(&bind("tok"), &scope("B", true)).unwrap();
        assert_eq!(got.get("t"), Some("b-token"));
        // A never reaches B's keys, whoever made the job.
        for only in [false, true] {
            assert!(provider
                .resolve(&bind("only_b"), &scope("A", only))
                .is_err());
        }
        // shared keys and the environment are for jobs the admin made
        assert!(provider
            .resolve(&bind("shared"), &scope("A", false))
            .is_ok());
        let err = provider
            .resolve(&bind("shared"), &scope("A", true))
            .unwrap_err();
        assert!(err.to_string().contains("project A"), "{err}");
        let env = BTreeMap::from([("t".to_string(), "env:HOME".to_string())]);
        assert!(provider.resolve(&env, &scope("A", true)).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
