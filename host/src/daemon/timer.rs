//! What is due: schedules, retries, and at start every run the daemon owed
//! when it stopped (due, queued or running, however it stopped).
//!
//! A job's schedule state lives in its stored record and changes only in
//! one atomic update per tick: the update that moves `next_run_at` on is
//! the one that counts the ask (`queued += 1`), so however many ticks run
//! at once, and whatever a finishing run writes meanwhile, one tick makes
//! one run. An ask is durable before it is queued in memory, so a daemon
//! killed with a full queue owes those runs when it comes back.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::scheduler::{self, parse_time, Reason, Scheduler};
use crate::state::{State, StoredJob};

/// Queues what is due at `now`; at `starting`, also what was owed. Returns
/// how many runs it queued. `unusable` hears of stored jobs that do not parse.
///
/// On a state several daemons share, `claimed` holds the jobs some daemon
/// has a live claim on. A job that owes a run and that no daemon holds is
/// then queued here, at every tick, without a new ask (the ask it owes was
/// counted where it was made): so a job whose daemon was killed is taken
/// over once its claim expires, and an ask one daemon could not serve (its
/// platform's slots taken elsewhere) is served by whichever can. Owed runs
/// are not caught up at start there: another daemon may be running them.
pub fn tick(
    state: &State,
    queue: &Scheduler,
    now: DateTime<Utc>,
    starting: bool,
    claimed: Option<&HashSet<String>>,
    unusable: &dyn Fn(&StoredJob, &str),
) -> usize {
    let Ok(jobs) = state.jobs() else { return 0 };
    let mut queued = 0;
    for stored in jobs {
        let job = match super::job_of(&stored) {
            Ok(job) => job,
            Err(e) => {
                unusable(&stored, &e.to_string());
                continue;
            }
        };
        let mut why: Option<Reason> = None;
        let mut asked = 0;
        let updated = state.update_job(&stored.sync_id, |j| {
            why = None;
            // Owed from before the daemon stopped: once, now.
            if starting && claimed.is_none() && j.owes_a_run() {
                why = Some(Reason::CatchUp);
            }
            if j.retry_at
                .as_deref()
                .and_then(parse_time)
                .is_some_and(|at| at <= now)
            {
                j.retry_at = None;
                why = why.or(Some(Reason::Retry));
            }
            if !job.schedule.is_manual() {
                match j.next_run_at.as_deref().and_then(parse_time) {
                    // Missed while down: once, not once per missed tick.
                    Some(at) if at <= now => {
                        j.next_run_at = scheduler::next_fire(&job, now);
                        why = why.or(Some(if starting {
                            Reason::CatchUp
                        } else {
                            Reason::Schedule
                        }));
                    }
                    None => j.next_run_at = scheduler::next_fire(&job, now),
                    _ => {}
                }
            }
            if why.is_some() {
                j.queued += 1;
            }
            asked = j.queued;
        });
        match (updated, why) {
            (Ok(Some(_)), Some(reason)) => {
                queue.enqueue_asked(&job, reason, false, asked);
                queued += 1;
            }
            (Ok(Some(j)), None)
                if j.owes_a_run()
                    && claimed.is_some_and(|c| !c.contains(&j.sync_id))
                    && !queue.holds(&j.sync_id) =>
            {
                queue.enqueue_asked(&job, Reason::Takeover, false, j.queued);
                queued += 1;
            }
            _ => {}
        }
    }
    queued
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn stored(id: &str, due: DateTime<Utc>) -> StoredJob {
        serde_json::from_value(serde_json::json!({
            "sync_id": id,
            "spec": {
                "sync_id": id, "mode": "pull", "schedule": "every_minute",
                "source": {"platform": "A", "connector": "a", "entity": "e"},
                "target": {"platform": "B", "connector": "b", "entity": "e"}
            },
            "created_at": "2026-01-01T00:00:00Z",
            "next_run_at": due.to_rfc3339(),
            "retry_at": null, "retries": 0, "last_status": null
        }))
        .unwrap()
    }

    /// Many ticks at once, while finishing runs write the same job: one
    /// minute's schedule makes one run.
    #[test]
    fn one_tick_one_run_however_many_ticks_race() {
        let dir = std::env::temp_dir().join(format!("synchost-timer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = State::open(&dir).unwrap();
        let now = Utc::now();
        state
            .put_job(&stored("j", now - chrono::Duration::seconds(1)))
            .unwrap();
        let queue = Scheduler::new(4);
        let (state, queue) = (Arc::new(state), Arc::new(queue));
        let ticks: Vec<_> = (0..16)
            .map(|_| {
                let (state, queue) = (state.clone(), queue.clone());
                std::thread::spawn(move || tick(&state, &queue, now, false, None, &|_, _| {}))
            })
            .collect();
        // A run finishing meanwhile writes its outcome to the same record.
        for _ in 0..16 {
            state
                .update_job("j", |j| j.last_status = Some("success".into()))
                .unwrap();
        }
        let made: usize = ticks.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(made, 1, "one tick, one run");
        assert_eq!(queue.queued(), ["j"]);
        let j = state.job("j").unwrap().unwrap();
        assert_eq!(j.queued, 1);
        assert!(parse_time(j.next_run_at.as_deref().unwrap()).unwrap() > now);
        // The next tick in the same minute makes nothing more.
        assert_eq!(tick(&state, &queue, now, false, None, &|_, _| {}), 0);
        std::fs::remove_dir_all(&dir).ok();
    }

    /// What was owed when the daemon stopped runs once at start.
    #[test]
    fn a_run_owed_at_stop_runs_once_at_start() {
        let dir = std::env::temp_dir().join(format!("synchost-owed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = State::open(&dir).unwrap();
        let later = Utc::now() + chrono::Duration::minutes(5);
        let mut job = stored("owed", later);
        job.queued = 3;
        job.done = 2;
        state.put_job(&job).unwrap();
        let queue = Scheduler::new(4);
        assert_eq!(tick(&state, &queue, Utc::now(), true, None, &|_, _| {}), 1);
        assert_eq!(queue.queued(), ["owed"]);
        assert_eq!(
            tick(&state, &queue, Utc::now(), false, None, &|_, _| {}),
            0,
            "not owed twice"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
