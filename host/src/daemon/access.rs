//! Who may call the API, and what they may see: the admin token (made at
//! first start, `DATA/api-token`) and tokens scoped to one `project_id`.
//!
//! A project token lists, triggers and resolves only its project's jobs,
//! runs and conflicts, sees only its project's audit entries, and cannot
//! upload connectors, read metrics, or create jobs that reach beyond its
//! project (other projects' ids, the daemon's environment, private networks).
//!
//! Project tokens are created and revoked with `synchost token` while the
//! daemon runs: they live in `DATA/api-tokens.json` (mode 0600) as SHA-256
//! hashes, which the daemon reads at each call that presents one (a small
//! file; a revoked token stops working at once). A token is
//! `shp_<id>_<secret>`; the id finds the entry, the hash is compared in
//! constant time.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::files;

const FILE: &str = "api-tokens.json";
const PREFIX: &str = "shp_";

/// What a caller may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// everything
    Admin,
    /// only what belongs to this `project_id`
    Project(String),
}

impl Scope {
    /// Whether a job of `project` (its `project_id`) is visible.
    pub fn sees(&self, project: Option<&str>) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Project(p) => project == Some(p.as_str()),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Scope::Admin)
    }

    /// For audit entries: `admin` or `project:P`.
    pub fn label(&self) -> String {
        match self {
            Scope::Admin => "admin".into(),
            Scope::Project(p) => format!("project:{p}"),
        }
    }
}

/// One project token, as stored: never the token itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenEntry {
    pub id: String,
    pub project: String,
    pub created_at: String,
    /// SHA-256 of the whole token, hex
    pub sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: Vec<TokenEntry>,
}

fn path(data: &Path) -> PathBuf {
    data.join(FILE)
}

fn read(data: &Path) -> anyhow::Result<TokenFile> {
    let path = path(data);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a token file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write(data: &Path, file: &TokenFile) -> anyhow::Result<()> {
    files::private_dir(data)?;
    files::replace_secret(&path(data), &serde_json::to_vec_pretty(file)?)
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A project id a token may be scoped to: what a job's `project_id` holds.
fn valid_project(project: &str) -> bool {
    !project.trim().is_empty() && project.len() <= 128 && !project.chars().any(char::is_control)
}

/// Makes a token for `project`; returns its entry and the token, which is
/// shown once and kept nowhere.
pub fn create(data: &Path, project: &str) -> anyhow::Result<(TokenEntry, String)> {
    anyhow::ensure!(
        valid_project(project),
        "--project must be a project_id (1-128 characters, no control characters)"
    );
    let mut file = read(data)?;
    let id = hex::encode(rand::random::<[u8; 4]>());
    let token = format!("{PREFIX}{id}_{}", hex::encode(rand::random::<[u8; 24]>()));
    let entry = TokenEntry {
        id,
        project: project.to_string(),
        created_at: crate::sync::now(),
        sha256: hash(&token),
    };
    file.tokens.push(entry.clone());
    write(data, &file)?;
    Ok((entry, token))
}

pub fn list(data: &Path) -> anyhow::Result<Vec<TokenEntry>> {
    Ok(read(data)?.tokens)
}

/// Removes token `id`; `false` when there is none.
pub fn revoke(data: &Path, id: &str) -> anyhow::Result<bool> {
    let mut file = read(data)?;
    let before = file.tokens.len();
    file.tokens.retain(|t| t.id != id);
    if file.tokens.len() == before {
        return Ok(false);
    }
    write(data, &file)?;
    Ok(true)
}

/// The daemon's view of its tokens: the admin token, and the project tokens
/// of the token file.
pub struct Tokens {
    admin: String,
    data: PathBuf,
}

impl Tokens {
    pub fn new(admin: String, data: &Path) -> Tokens {
        Tokens {
            admin,
            data: data.to_path_buf(),
        }
    }

    /// The scope of a bearer token, or `None` for an unknown one.
    pub fn check(&self, given: &str) -> Option<Scope> {
        if constant_time_eq(given.as_bytes(), self.admin.as_bytes()) {
            return Some(Scope::Admin);
        }
        let id = given.strip_prefix(PREFIX)?.split('_').next()?;
        let file = read(&self.data)
            .map_err(|e| tracing::error!("project tokens unreadable, none accepted: {e:#}"))
            .ok()?;
        let entry = file.tokens.iter().find(|t| t.id == id)?;
        constant_time_eq(hash(given).as_bytes(), entry.sha256.as_bytes())
            .then(|| Scope::Project(entry.project.clone()))
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_scoped_hashed_and_revocable() {
        let dir = std::env::temp_dir().join(format!("synchost-tokens-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (a, token_a) = create(&dir, "pf-1").unwrap();
        let (_, token_b) = create(&dir, "pf-2").unwrap();
        let stored = std::fs::read_to_string(dir.join(FILE)).unwrap();
        assert!(
            !stored.contains(&token_a),
            "the token itself is never stored"
        );
        let tokens = Tokens::new("admin-token".into(), &dir);
        assert_eq!(tokens.check("admin-token"), Some(Scope::Admin));
        assert_eq!(tokens.check(&token_a), Some(Scope::Project("pf-1".into())));
        assert_eq!(tokens.check(&token_b), Some(Scope::Project("pf-2".into())));
        let forged = format!("{}x", &token_a[..token_a.len() - 1]);
        assert_eq!(tokens.check(&forged), None);
        assert_eq!(tokens.check("shp_"), None);
        assert!(revoke(&dir, &a.id).unwrap());
        assert!(!revoke(&dir, &a.id).unwrap());
        assert_eq!(tokens.check(&token_a), None, "revoked at once");
        assert!(create(&dir, " ").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
