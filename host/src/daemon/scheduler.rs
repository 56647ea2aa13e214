//! Which job runs when: schedules, triggers, retries, priorities and limits.
//!
//! Due jobs wait in a priority queue (critical first, then by arrival). A job
//! leaves it only when no run of it is in flight and each of its platforms
//! has a free slot, so a busy platform holds its jobs back in priority order
//! while jobs on other platforms go ahead. A schedule missed while the daemon
//! was down runs once at start, not once per missed tick. A run that ends
//! `queued` or `failed` is retried with exponential backoff and jitter.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::job::{Job, Priority};

/// Why a run was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Schedule,
    Manual,
    Webhook,
    Retry,
    /// a schedule missed while the daemon was down
    CatchUp,
    /// owed, and held by no daemon sharing the state (one that held it
    /// stopped, or could not run it)
    Takeover,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub priority: Priority,
    /// arrival order: lower first among equals
    pub seq: u64,
    pub sync_id: String,
    pub reason: Reason,
    pub full: bool,
    /// the two platforms whose slots the run holds, set when it starts
    pub platforms: (String, String),
    /// the job's `queued` counter when it was last asked for: a run that
    /// finishes answers every ask up to it
    pub asked: u64,
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The queue and what is running; shared by the timer, the API and the workers.
#[derive(Clone, Default)]
pub struct Scheduler {
    inner: Arc<Mutex<Inner>>,
    pub per_platform: usize,
}

#[derive(Default)]
struct Inner {
    /// shutting down: nothing more leaves the queue
    closed: bool,
    queue: BinaryHeap<Queued>,
    queued: HashSet<String>,
    running: HashSet<String>,
    busy: HashMap<String, usize>,
    seq: u64,
}

/// Backoff after `retries` failed attempts: 2^n seconds from 2 s, at most
/// 10 minutes, with up to a quarter of random jitter so retries spread out.
pub fn backoff(retries: u32) -> Duration {
    let base = 2f64.powi(retries.min(9) as i32 + 1).min(600.0);
    let jitter = rand::rng().random_range(0.0..base / 4.0);
    Duration::from_secs_f64(base + jitter)
}

impl Scheduler {
    pub fn new(per_platform: usize) -> Scheduler {
        Scheduler {
            inner: Default::default(),
            per_platform: per_platform.max(1),
        }
    }

    /// Queues `job` unless it is queued already (a second ask merges into the
    /// first; a full read asked for sticks).
    pub fn enqueue(&self, job: &Job, reason: Reason, full: bool) -> bool {
        self.enqueue_asked(job, reason, full, 0)
    }

    /// As [`Scheduler::enqueue`], for the ask numbered `asked` in the job's state.
    pub fn enqueue_asked(&self, job: &Job, reason: Reason, full: bool, asked: u64) -> bool {
        let mut inner = self.inner.lock();
        if inner.queued.contains(&job.sync_id) {
            let items: Vec<Queued> = inner
                .queue
                .drain()
                .map(|mut q| {
                    if q.sync_id == job.sync_id {
                        q.full |= full;
                        q.asked = q.asked.max(asked);
                    }
                    q
                })
                .collect();
            inner.queue.extend(items);
            return false;
        }
        inner.seq += 1;
        let seq = inner.seq;
        inner.queued.insert(job.sync_id.clone());
        inner.queue.push(Queued {
            priority: job.priority,
            seq,
            sync_id: job.sync_id.clone(),
            reason,
            full,
            platforms: Default::default(),
            asked,
        });
        true
    }

    /// Shutting down: from now on nothing leaves the queue. Under the
    /// queue's lock, so no run can start after it returns.
    pub fn close(&self) {
        self.inner.lock().closed = true;
    }

    /// The highest-priority queued job that may start now, marked running.
    /// `platforms` gives a job's two platforms.
    pub fn next(&self, platforms: &dyn Fn(&str) -> Option<(String, String)>) -> Option<Queued> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return None;
        }
        let mut held = Vec::new();
        let mut found = None;
        while let Some(q) = inner.queue.pop() {
            let Some((a, b)) = platforms(&q.sync_id) else {
                // The job was deleted while it waited.
                inner.queued.remove(&q.sync_id);
                continue;
            };
            let free = |p: &str| inner.busy.get(p).copied().unwrap_or(0) < self.per_platform;
            if !inner.running.contains(&q.sync_id) && free(&a) && free(&b) {
                inner.queued.remove(&q.sync_id);
                inner.running.insert(q.sync_id.clone());
                *inner.busy.entry(a.clone()).or_default() += 1;
                if b != a {
                    *inner.busy.entry(b.clone()).or_default() += 1;
                }
                found = Some(Queued {
                    platforms: (a, b),
                    ..q
                });
                break;
            }
            held.push(q);
        }
        inner.queue.extend(held);
        found
    }

    /// A run of `sync_id` on platforms `a` and `b` ended.
    pub fn finished(&self, sync_id: &str, a: &str, b: &str) {
        let mut inner = self.inner.lock();
        inner.running.remove(sync_id);
        for p in if a == b { vec![a] } else { vec![a, b] } {
            if let Some(n) = inner.busy.get_mut(p) {
                *n = n.saturating_sub(1);
            }
        }
    }

    pub fn running(&self) -> Vec<String> {
        self.inner.lock().running.iter().cloned().collect()
    }

    pub fn queued(&self) -> Vec<String> {
        let inner = self.inner.lock();
        let mut q: Vec<&Queued> = inner.queue.iter().collect();
        q.sort_by(|a, b| b.cmp(a));
        q.into_iter().map(|q| q.sync_id.clone()).collect()
    }

    /// Whether `sync_id` is queued or running here.
    pub fn holds(&self, sync_id: &str) -> bool {
        let inner = self.inner.lock();
        inner.queued.contains(sync_id) || inner.running.contains(sync_id)
    }

    pub fn is_idle(&self) -> bool {
        self.inner.lock().running.is_empty()
    }
}

/// When `schedule` fires next after `after`, as RFC 3339.
pub fn next_fire(job: &Job, after: DateTime<Utc>) -> Option<String> {
    job.schedule
        .next_after(after)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, priority: &str, source: &str) -> Job {
        Job::from_value(serde_json::json!({
            "sync_id": id, "mode": "pull", "priority": priority,
            "source": {"platform": source, "connector": "x", "entity": "e"},
            "target": {"platform": "App", "connector": "y", "entity": "e"}
        }))
        .unwrap()
    }

    #[test]
    fn critical_jobs_leave_a_busy_platforms_queue_first() {
        let s = Scheduler::new(1);
        let (low, critical, other) = (
            job("low", "low", "Notion"),
            job("crit", "critical", "Notion"),
            job("other", "normal", "Airtable"),
        );
        let platforms = |id: &str| {
            Some((
                (if id == "other" { "Airtable" } else { "Notion" }).to_string(),
                format!("App-{id}"),
            ))
        };
        let busy = job("busy", "normal", "Notion");
        s.enqueue(&busy, Reason::Manual, false);
        assert_eq!(s.next(&platforms).unwrap().sync_id, "busy");
        s.enqueue(&low, Reason::Schedule, false);
        s.enqueue(&critical, Reason::Schedule, false);
        s.enqueue(&other, Reason::Schedule, false);
        // Notion is busy: the Airtable job goes ahead, the Notion ones wait.
        assert_eq!(s.next(&platforms).unwrap().sync_id, "other");
        assert!(s.next(&platforms).is_none());
        s.finished("busy", "Notion", "App-busy");
        assert_eq!(s.next(&platforms).unwrap().sync_id, "crit");
        s.finished("crit", "Notion", "App-crit");
        assert_eq!(s.next(&platforms).unwrap().sync_id, "low");
    }

    #[test]
    fn a_job_is_never_queued_or_run_twice_at_once() {
        let s = Scheduler::new(4);
        let j = job("j", "normal", "Notion");
        let platforms = |_: &str| Some(("Notion".to_string(), "App".to_string()));
        assert!(s.enqueue(&j, Reason::Manual, false));
        assert!(!s.enqueue(&j, Reason::Schedule, false), "already queued");
        assert!(s.next(&platforms).is_some());
        assert!(
            s.enqueue(&j, Reason::Schedule, false),
            "queued again while it runs"
        );
        assert!(s.next(&platforms).is_none(), "but not started twice");
        s.finished("j", "Notion", "App");
        assert!(s.next(&platforms).is_some());
    }

    #[test]
    fn a_closed_queue_starts_nothing() {
        let s = Scheduler::new(4);
        let j = job("j", "normal", "Notion");
        let platforms = |_: &str| Some(("Notion".to_string(), "App".to_string()));
        s.enqueue(&j, Reason::Manual, false);
        s.close();
        assert!(s.next(&platforms).is_none());
        assert_eq!(s.queued(), ["j"], "still queued, for the next start");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) >= Duration::from_secs(2) && backoff(0) < Duration::from_secs(3));
        assert!(backoff(3) >= Duration::from_secs(16));
        assert!(backoff(30) <= Duration::from_secs(750));
    }
}
