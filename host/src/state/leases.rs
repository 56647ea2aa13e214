//! Leases: which daemon runs which job, when several share one PostgreSQL
//! state. A daemon claims a job before it runs it and holds the claim by
//! renewing it (a heartbeat); a claim not renewed expires, and another
//! daemon may then take the job over (and recover its outbox, as a restarted
//! daemon does). A claim also holds a slot on each of the job's platforms:
//! a claim is refused while a platform has as many live claims as it has
//! slots, wherever they were made, and while a job of higher priority waits
//! for a slot on one of its platforms (so priorities hold across daemons:
//! a freed slot goes to the highest job waiting, whichever daemon asked).
//! The embedded store is held by one process (sled's lock), which needs
//! none of this.

use std::time::Duration;

use serde::Serialize;

use super::postgres::{execute, pg_error, rows, Postgres};
use super::{Result, State};

/// A claim on a job, as `/healthz` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lease {
    pub job: String,
    pub daemon: String,
    /// RFC 3339
    pub expires: String,
    /// not yet expired
    pub live: bool,
}

pub trait Leases: Send + Sync {
    /// Claims `job` for `daemon` for `ttl`, if no other daemon holds a live
    /// claim on it, each of `slots.platforms` has fewer than
    /// `slots.per_platform` live claims of other jobs, and no job of higher
    /// priority waits for one of them. `true` when claimed; refused for a
    /// slot, the job waits (for [`WAITING`], renewed by each refusal).
    fn claim(&self, job: &str, daemon: &str, ttl: Duration, slots: Slots<'_>) -> Result<bool>;

    /// Extends `daemon`'s claims on `jobs`; returns the jobs it still held.
    fn renew(&self, daemon: &str, jobs: &[String], ttl: Duration) -> Result<Vec<String>>;

    /// Gives up `daemon`'s claim on `job`.
    fn release(&self, job: &str, daemon: &str) -> Result<()>;

    /// Every claim, live or expired.
    fn all(&self) -> Result<Vec<Lease>>;
}

/// What a claim takes a slot on, and its priority (higher first).
#[derive(Debug, Clone, Copy)]
pub struct Slots<'a> {
    pub platforms: &'a [String],
    pub per_platform: usize,
    pub priority: i32,
}

impl Slots<'_> {
    /// No platform, no limit: a claim of a job alone.
    pub const NONE: Slots<'static> = Slots {
        platforms: &[],
        per_platform: usize::MAX,
        priority: 0,
    };
}

/// How long a job refused a slot is counted as waiting for one, unless
/// refused again (a daemon's timer asks again every quarter second).
pub const WAITING: Duration = Duration::from_secs(5);

/// Any number, the same in every synchost: claims are made one at a time,
/// so that two daemons never both see a platform's last free slot.
const CLAIM_LOCK: i64 = 0x5359_4e43_4853_0002;

fn seconds(ttl: Duration) -> f64 {
    ttl.as_secs_f64()
}

impl Leases for Postgres {
    fn claim(&self, job: &str, daemon: &str, ttl: Duration, slots: Slots<'_>) -> Result<bool> {
        let shared = self.shared.clone();
        let (job, daemon, platforms) = (
            job.to_string(),
            daemon.to_string(),
            slots.platforms.to_vec(),
        );
        let secs = seconds(ttl);
        let (limit, priority) = (
            i64::try_from(slots.per_platform).unwrap_or(i64::MAX),
            slots.priority,
        );
        let waiting = seconds(WAITING);
        self.block(async move {
            let mut held = shared.txn.lock().await;
            if held.as_ref().is_none_or(|c| c.is_closed()) {
                *held = Some(shared.connect().await?);
            }
            let client = held.as_mut().expect("connected above");
            let tx = client.transaction().await.map_err(pg_error)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLAIM_LOCK])
                .await
                .map_err(pg_error)?;
            // A new snapshot, after the lock: every claim made before it
            // is seen. A platform is closed to this job when its slots are
            // taken, or when a job of higher priority waits for it.
            let closed: i64 = tx
                .query_one(
                    "SELECT count(*) FROM unnest($1::text[]) AS p(name)
                     WHERE (SELECT count(*) FROM synchost_leases l
                            WHERE l.expires > now() AND l.job <> $2
                              AND p.name = ANY(l.platforms)) >= $3
                        OR EXISTS (SELECT 1 FROM synchost_waiting w
                                   WHERE w.expires > now() AND w.job <> $2
                                     AND w.priority > $4 AND p.name = ANY(w.platforms))",
                    &[&platforms, &job, &limit, &priority],
                )
                .await
                .map_err(pg_error)?
                .get(0);
            if closed > 0 {
                tx.execute(
                    "INSERT INTO synchost_waiting (job, priority, platforms, expires)
                     VALUES ($1, $2, $3, now() + make_interval(secs => $4))
                     ON CONFLICT (job) DO UPDATE SET priority = EXCLUDED.priority,
                       platforms = EXCLUDED.platforms, expires = EXCLUDED.expires",
                    &[&job, &priority, &platforms, &waiting],
                )
                .await
                .map_err(pg_error)?;
                tx.commit().await.map_err(pg_error)?;
                return Ok(false);
            }
            let claimed = tx
                .query(
                    "INSERT INTO synchost_leases (job, daemon, expires, platforms)
                     VALUES ($1, $2, now() + make_interval(secs => $3), $4)
                     ON CONFLICT (job) DO UPDATE
                       SET daemon = EXCLUDED.daemon, expires = EXCLUDED.expires,
                           platforms = EXCLUDED.platforms
                       WHERE synchost_leases.expires <= now()
                          OR synchost_leases.daemon = EXCLUDED.daemon
                     RETURNING job",
                    &[&job, &daemon, &secs, &platforms],
                )
                .await
                .map_err(pg_error)?;
            if !claimed.is_empty() {
                tx.execute("DELETE FROM synchost_waiting WHERE job = $1", &[&job])
                    .await
                    .map_err(pg_error)?;
            }
            tx.commit().await.map_err(pg_error)?;
            Ok(!claimed.is_empty())
        })
    }

    fn renew(&self, daemon: &str, jobs: &[String], ttl: Duration) -> Result<Vec<String>> {
        let (daemon, jobs, secs) = (daemon.to_string(), jobs.to_vec(), seconds(ttl));
        let found = self.query(rows(
            "UPDATE synchost_leases SET expires = now() + make_interval(secs => $3)
             WHERE daemon = $1 AND job = ANY($2) RETURNING job"
                .into(),
            move || -> super::postgres::Params {
                vec![
                    Box::new(daemon.clone()),
                    Box::new(jobs.clone()),
                    Box::new(secs),
                ]
            },
        ))?;
        Ok(found.iter().map(|row| row.get(0)).collect())
    }

    fn release(&self, job: &str, daemon: &str) -> Result<()> {
        let (job, daemon) = (job.to_string(), daemon.to_string());
        self.query(execute(
            "DELETE FROM synchost_leases WHERE job = $1 AND daemon = $2".into(),
            move || -> super::postgres::Params {
                vec![Box::new(job.clone()), Box::new(daemon.clone())]
            },
        ))?;
        Ok(())
    }

    fn all(&self) -> Result<Vec<Lease>> {
        let found = self.query(rows(
            "SELECT job, daemon,
                    to_char(expires AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                    expires > now()
             FROM synchost_leases ORDER BY job"
                .into(),
            Vec::new,
        ))?;
        Ok(found
            .iter()
            .map(|row| Lease {
                job: row.get(0),
                daemon: row.get(1),
                expires: row.get(2),
                live: row.get(3),
            })
            .collect())
    }
}

impl State {
    /// Whether several processes share this state (and so claim jobs).
    pub fn is_shared(&self) -> bool {
        self.store.leases().is_some()
    }

    /// See [`Leases::claim`]; always `true` on a state one process holds.
    pub fn claim(&self, job: &str, daemon: &str, ttl: Duration, slots: Slots<'_>) -> Result<bool> {
        match self.store.leases() {
            Some(leases) => leases.claim(job, daemon, ttl, slots),
            None => Ok(true),
        }
    }

    /// See [`Leases::renew`].
    pub fn renew(&self, daemon: &str, jobs: &[String], ttl: Duration) -> Result<Vec<String>> {
        match self.store.leases() {
            Some(leases) => leases.renew(daemon, jobs, ttl),
            None => Ok(jobs.to_vec()),
        }
    }

    /// See [`Leases::release`].
    pub fn release(&self, job: &str, daemon: &str) -> Result<()> {
        match self.store.leases() {
            Some(leases) => leases.release(job, daemon),
            None => Ok(()),
        }
    }

    /// Every claim (none on a state one process holds).
    pub fn leases(&self) -> Result<Vec<Lease>> {
        match self.store.leases() {
            Some(leases) => leases.all(),
            None => Ok(Vec::new()),
        }
    }
}

/// A claim held by a command (`synchost run` on a shared state) until it is
/// dropped, renewed meanwhile by a thread of its own.
pub struct Held {
    state: State,
    job: String,
    holder: String,
    stop: Option<std::sync::mpsc::Sender<()>>,
}

/// How long a command's claim lasts unless renewed (every third of it).
const HELD_TTL: Duration = Duration::from_secs(15);

impl Held {
    /// Claims `job` for this process; `None` when a daemon holds it. On a
    /// state one process holds, there is nothing to claim.
    pub fn take(state: &State, job: &str) -> Result<Option<Held>> {
        let holder = format!("cli-{}", std::process::id());
        if !state.claim(job, &holder, HELD_TTL, Slots::NONE)? {
            return Ok(None);
        }
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        if state.is_shared() {
            let (state, job, holder) = (state.clone(), job.to_string(), holder.clone());
            std::thread::spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(HELD_TTL / 3)
                {
                    if let Err(e) = state.renew(&holder, std::slice::from_ref(&job), HELD_TTL) {
                        tracing::error!(job = %job, "renewing the run's claim: {e}");
                    }
                }
            });
        }
        Ok(Some(Held {
            state: state.clone(),
            job: job.to_string(),
            holder,
            stop: Some(stop),
        }))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.stop.take();
        if let Err(e) = self.state.release(&self.job, &self.holder) {
            tracing::error!(job = %self.job, "releasing the run's claim: {e}");
        }
    }
}
