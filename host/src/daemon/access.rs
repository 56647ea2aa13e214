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
//!
//! Daemons sharing a PostgreSQL state share their tokens: the same list is
//! kept in the state (`synchost token … --state postgres://…`), and each
//! daemon's admin token, as a hash, lets its holder in on all of them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::files;
use crate::state::State;

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

/// Where the project tokens are kept: a daemon's folder, or the state
/// several daemons share.
#[derive(Clone)]
pub enum Kept {
    Folder(PathBuf),
    Shared(State),
}

impl Kept {
    /// The shared state if `state` names a PostgreSQL one, else `data`.
    pub fn at(data: &Path, state: Option<&State>) -> Kept {
        match state.filter(|s| s.is_shared()) {
            Some(state) => Kept::Shared(state.clone()),
            None => Kept::Folder(data.to_path_buf()),
        }
    }
}

fn path(data: &Path) -> PathBuf {
    data.join(FILE)
}

fn parse(bytes: &[u8], what: &str) -> anyhow::Result<TokenFile> {
    serde_json::from_slice(bytes).with_context(|| format!("{what} is not a token file"))
}

fn read(kept: &Kept) -> anyhow::Result<TokenFile> {
    let data = match kept {
        Kept::Shared(state) => {
            return match state.api_tokens()? {
                Some(bytes) => parse(&bytes, "the state's api_tokens"),
                None => Ok(TokenFile::default()),
            };
        }
        Kept::Folder(data) => data,
    };
    let path = path(data);
    match std::fs::read(&path) {
        Ok(bytes) => parse(&bytes, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Changes the token list with `change` (which gets it as kept, and may be
/// called again on a shared state if another writer got there first).
fn change(kept: &Kept, mut change: impl FnMut(&mut TokenFile)) -> anyhow::Result<()> {
    match kept {
        Kept::Folder(data) => {
            let mut file = read(kept)?;
            change(&mut file);
            files::private_dir(data)?;
            files::replace_secret(&path(data), &serde_json::to_vec_pretty(&file)?)
        }
        Kept::Shared(state) => {
            let mut failed = None;
            state.update_api_tokens(&mut |old| {
                let mut file = match old.map(|b| parse(b, "the state's api_tokens")) {
                    Some(Ok(file)) => file,
                    Some(Err(e)) => {
                        failed = Some(e);
                        return old.map(<[u8]>::to_vec);
                    }
                    None => TokenFile::default(),
                };
                change(&mut file);
                Some(serde_json::to_vec_pretty(&file).expect("JSON"))
            })?;
            failed.map_or(Ok(()), Err)
        }
    }
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
pub fn create(kept: &Kept, project: &str) -> anyhow::Result<(TokenEntry, String)> {
    anyhow::ensure!(
        valid_project(project),
        "--project must be a project_id (1-128 characters, no control characters)"
    );
    let id = hex::encode(rand::random::<[u8; 4]>());
    let token = format!("{PREFIX}{id}_{}", hex::encode(rand::random::<[u8; 24]>()));
    let entry = TokenEntry {
        id,
        project: project.to_string(),
        created_at: crate::sync::now(),
        sha256: hash(&token),
    };
    change(kept, |file| file.tokens.push(entry.clone()))?;
    Ok((entry, token))
}

pub fn list(kept: &Kept) -> anyhow::Result<Vec<TokenEntry>> {
    Ok(read(kept)?.tokens)
}

/// Removes token `id`; `false` when there is none.
pub fn revoke(kept: &Kept, id: &str) -> anyhow::Result<bool> {
    let mut removed = false;
    change(kept, |file| {
        let before = file.tokens.len();
        file.tokens.retain(|t| t.id != id);
        removed = file.tokens.len() < before;
    })?;
    Ok(removed)
}

/// The daemon's view of its tokens: the admin token, and the project tokens
/// of the token file.
pub struct Tokens {
    admin: String,
    kept: Kept,
}

impl Tokens {
    /// `daemon` names this daemon where the state is shared: its admin
    /// token is then let in on the others too.
    pub fn new(admin: String, kept: Kept, daemon: &str) -> Tokens {
        if let Kept::Shared(state) = &kept {
            if let Err(e) = state.add_admin_token(&hash(&admin), daemon) {
                tracing::error!("sharing the admin token with the other daemons: {e}");
            }
        }
        Tokens { admin, kept }
    }

    /// The scope of a bearer token, or `None` for an unknown one.
    pub fn check(&self, given: &str) -> Option<Scope> {
        if constant_time_eq(given.as_bytes(), self.admin.as_bytes()) {
            return Some(Scope::Admin);
        }
        // Another daemon's admin token, found by its hash.
        if let Kept::Shared(state) = &self.kept {
            if !given.starts_with(PREFIX) && state.is_admin_token(&hash(given)).unwrap_or(false) {
                return Some(Scope::Admin);
            }
        }
        let id = given.strip_prefix(PREFIX)?.split('_').next()?;
        let file = read(&self.kept)
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
        let kept = Kept::Folder(dir.clone());
        let (a, token_a) = create(&kept, "pf-1").unwrap();
        let (_, token_b) = create(&kept, "pf-2").unwrap();
        let stored = std::fs::read_to_string(dir.join(FILE)).unwrap();
        assert!(
            !stored.contains(&token_a),
            "the token itself is never stored"
        );
        let tokens = Tokens::new("admin-token".into(), kept.clone(), "d");
        assert_eq!(tokens.check("admin-token"), Some(Scope::Admin));
        assert_eq!(tokens.check(&token_a), Some(Scope::Project("pf-1".into())));
        assert_eq!(tokens.check(&token_b), Some(Scope::Project("pf-2".into())));
        let forged = format!("{}x", &token_a[..token_a.len() - 1]);
        assert_eq!(tokens.check(&forged), None);
        assert_eq!(tokens.check("shp_"), None);
        assert!(revoke(&kept, &a.id).unwrap());
        assert!(!revoke(&kept, &a.id).unwrap());
        assert_eq!(tokens.check(&token_a), None, "revoked at once");
        assert!(create(&kept, " ").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
