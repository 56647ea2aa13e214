//! The daemon's files are its own: the data folder is 0700, every file the
//! process creates is 0600 (its umask is 077), and a secret file is created
//! with mode 0600 from its first byte, never written and then chmod-ed.
//! A secret file that others can read is fixed, with a warning.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Makes every file and folder the process creates private to its user.
pub fn private_umask() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` (and its parents) with mode 0700, or narrows an existing
/// one that others can enter or read, with a warning.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(folder = %dir.display(), "the data folder was mode {mode:o}; narrowed to 0700");
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("chmod 700 {}", dir.display()))?;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(())
}

/// Writes a new secret file: created with mode 0600 (refusing to replace
/// one), so no reader ever sees it more open.
pub fn create_secret(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

/// Replaces a secret file atomically: a new file beside it, mode 0600 from
/// the start, renamed over the old one.
pub fn replace_secret(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    create_secret(&tmp, contents)?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Narrows an existing secret file that others can read to 0600, with a warning.
pub fn keep_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "a secret file was mode {mode:o}, readable by others; narrowed to 0600 (rotate the secret if others may have read it)");
            eprintln!(
                "warning: {} was mode {mode:o}, readable by others; narrowed to 0600 (rotate the secret if others may have read it)",
                path.display()
            );
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("chmod 600 {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn secrets_are_private_from_creation_and_open_ones_are_narrowed() {
        let dir = std::env::temp_dir().join(format!("synchost-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        private_dir(&dir.join("data")).unwrap();
        assert_eq!(mode(&dir.join("data")), 0o700);
        let token = dir.join("data/token");
        create_secret(&token, b"t").unwrap();
        assert_eq!(mode(&token), 0o600);
        assert!(create_secret(&token, b"again").is_err(), "never replaced");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        keep_private(&token).unwrap();
        assert_eq!(mode(&token), 0o600);
        replace_secret(&token, b"new").unwrap();
        assert_eq!(
            (mode(&token), std::fs::read(&token).unwrap()),
            (0o600, b"new".to_vec())
        );
        std::fs::set_permissions(dir.join("data"), std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir.join("data")).unwrap();
        assert_eq!(mode(&dir.join("data")), 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
