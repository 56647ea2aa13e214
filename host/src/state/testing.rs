//! Databases made for one test and dropped after it, on the PostgreSQL
//! server tests use (`SYNCHOST_TEST_POSTGRES`, else the one the project's
//! machines run: `postgres://postgres@127.0.0.1:5432`, trust auth).

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

/// The server tests make their databases on (no database named).
pub fn server() -> String {
    std::env::var("SYNCHOST_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_string()
}

/// A database of its own, dropped (with whatever is still connected to it)
/// when this is.
pub struct ScratchDatabase {
    pub name: String,
    pub url: String,
}

/// Runs `statements` on the server's `test` database.
fn admin(statements: Vec<String>) -> Result<(), String> {
    execute(&format!("{}/test", server()), statements)
}

/// Runs `statements`, one at a time, on the database at `url`, on a runtime
/// of its own (so that it works from inside or outside one).
pub fn execute(url: &str, statements: Vec<String>) -> Result<(), String> {
    let url = url.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls)
                .await
                .map_err(|e| format!("PostgreSQL at {url}: {e}"))?;
            tokio::spawn(connection);
            // One at a time: several in one call are one transaction, where
            // CREATE and DROP DATABASE may not run.
            for sql in statements {
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| super::postgres::describe(&e))?;
            }
            Ok(())
        })
    })
    .join()
    .map_err(|_| "the admin thread panicked".to_string())?
}

impl ScratchDatabase {
    /// A new, empty database named after `tag` and this process.
    pub fn new(tag: &str) -> ScratchDatabase {
        static N: AtomicU32 = AtomicU32::new(0);
        let tag: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!(
            "synchost_{tag}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        admin(vec![
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ])
        .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        ScratchDatabase {
            url: format!("{}/{name}", server()),
            name,
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin(vec![drop]) {
            eprintln!("dropping database {}: {e}", self.name);
        }
    }
}
