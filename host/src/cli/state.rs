//! `synchost state migrate`: moves a state folder (the embedded store) into
//! PostgreSQL, entry by entry, and proves the copy whole by each tree's
//! count and hash on both sides.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};

use crate::state::{Location, State, StoredEntry};

#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// Copy a data folder's state into an empty PostgreSQL database, then
    /// check every tree's count and hash on both sides
    Migrate(MigrateArgs),
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The data folder (its `state` folder) or the state folder itself;
    /// no daemon may be running on it
    #[arg(long)]
    pub from: PathBuf,
    /// The PostgreSQL database to fill (postgres://…); it must hold no state
    #[arg(long)]
    pub to: String,
}

/// One tree's count of entries and SHA-256 of its keys and values in order.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    tree: String,
    entries: usize,
    hash: String,
}

fn summarise(entries: &[StoredEntry]) -> Vec<Summary> {
    let mut out: Vec<Summary> = Vec::new();
    let mut hasher = Sha256::new();
    for (i, (tree, k, v)) in entries.iter().enumerate() {
        if out.last().is_none_or(|s| &s.tree != tree) {
            if let Some(done) = out.last_mut() {
                done.hash = hex::encode(std::mem::take(&mut hasher).finalize());
            }
            out.push(Summary {
                tree: tree.clone(),
                entries: 0,
                hash: String::new(),
            });
        }
        // Lengths first, so that no two different entries hash alike.
        for part in [k, v] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        out.last_mut().expect("pushed above").entries += 1;
        if i + 1 == entries.len() {
            let done = out.last_mut().expect("pushed above");
            done.hash = hex::encode(std::mem::take(&mut hasher).finalize());
        }
    }
    out
}

fn state_folder(from: &Path) -> PathBuf {
    let inner = crate::cli::data::state_dir(from);
    if inner.exists() {
        inner
    } else {
        from.to_path_buf()
    }
}

pub fn run(cmd: StateCommand) -> anyhow::Result<ExitCode> {
    let StateCommand::Migrate(args) = cmd;
    let Location::Postgres(url) = Location::parse(&args.to) else {
        anyhow::bail!(
            "--to must be a PostgreSQL URL (postgres://…), not {}",
            args.to
        );
    };
    let folder = state_folder(&args.from);
    if !folder.join("conf").exists() {
        anyhow::bail!("{} holds no synchost state", folder.display());
    }
    let from = State::open(&folder)
        .with_context(|| format!("opening {} (is a daemon running on it?)", folder.display()))?;
    let scratch = std::env::temp_dir().join(format!("synchost-migrate-{}", std::process::id()));
    let to = State::open_postgres(&url, &scratch)?;
    let entries = from.contents()?;
    // A new PostgreSQL state holds only its format number.
    let already = to.contents()?;
    if already
        .iter()
        .any(|(tree, k, _)| tree != "meta" || k != b"format")
    {
        anyhow::bail!(
            "{} already holds a state ({} entries): migrate into an empty database",
            to.location(),
            already.len()
        );
    }
    let written = to.restore(entries.iter().cloned())?;
    // Ids handed out from now on follow the copied ones (outbox and audit
    // keys stay in order).
    to.ids_above(from.next_id()?)?;
    let copied = to.contents()?;
    let (want, got) = (summarise(&entries), summarise(&copied));
    println!("{:<14} {:>10} {:>10}  sha-256", "tree", "from", "to");
    let mut same = want.len() == got.len();
    for w in &want {
        let g = got.iter().find(|g| g.tree == w.tree);
        let ok = g == Some(w);
        same &= ok;
        println!(
            "{:<14} {:>10} {:>10}  {} {}",
            w.tree,
            w.entries,
            g.map_or(0, |g| g.entries),
            &w.hash[..16],
            if ok { "ok" } else { "DIFFERS" }
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if !same {
        anyhow::bail!(
            "the copy in {} differs from {}",
            to.location(),
            folder.display()
        );
    }
    println!(
        "{written} entries copied from {} to {}; every tree's count and hash match",
        folder.display(),
        to.location()
    );
    println!(
        "start the daemon with --state {} (or SYNCHOST_STATE)",
        to.location()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_changes_with_any_byte_and_splits_by_tree() {
        let e = |t: &str, k: &str, v: &str| {
            (t.to_string(), k.as_bytes().to_vec(), v.as_bytes().to_vec())
        };
        let a = summarise(&[e("jobs", "a", "1"), e("jobs", "b", "2"), e("runs", "x", "")]);
        assert_eq!((a.len(), a[0].entries, a[1].entries), (2, 2, 1));
        let b = summarise(&[e("jobs", "a", "1"), e("jobs", "b2", ""), e("runs", "x", "")]);
        assert_ne!(
            a[0].hash, b[0].hash,
            "the split between key and value counts"
        );
        assert_eq!(a[1], b[1]);
    }
}
