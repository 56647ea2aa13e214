//! A queued job's run on the daemon: started on the connector runtime,
//! parked when its first plan waits for a person, notified and booked in the
//! job (status, retries with backoff) when it ends.

use std::sync::Arc;

use serde_json::json;

use super::scheduler::{self, Queued};
use super::Core;
use crate::sync::{self, Status};

impl Core {
    /// Starts `queued` on the connector runtime. If the run panics, the job
    /// is still marked finished (it would otherwise stay "running" for ever)
    /// and the failure booked.
    pub(super) fn start(self: &Arc<Self>, queued: Queued) {
        let core = self.clone();
        let (sync_id, ended) = (queued.sync_id.clone(), queued.clone());
        let run = self.work.spawn(self.clone().run(queued));
        tokio::spawn(async move {
            if let Err(e) = run.await {
                let message = format!("the run stopped unexpectedly: {e}");
                tracing::error!(job = %sync_id, "{message}");
                core.audit("run_error", &sync_id, json!({"error": message}));
                core.metrics.record_run(Status::Failed, &json!({}));
                core.finished(&ended);
                core.wake();
            }
        });
    }

    /// Runs one queued job to its end and books the outcome.
    async fn run(self: Arc<Self>, queued: Queued) {
        let sync_id = queued.sync_id.clone();
        let job = match self.load_job(&sync_id) {
            Ok(Some(job)) => job,
            outcome => {
                // Changed or deleted since it was queued: nothing to run.
                if let Err(e) = outcome {
                    tracing::error!(job = %sync_id, "stored job does not parse: {e}");
                }
                self.finished(&queued);
                return;
            }
        };
        // Another daemon sharing the state ran it since it was asked for
        // here, and answered this ask: running again would run it twice.
        let stored = self.state.job(&sync_id).ok().flatten();
        if queued.asked > 0 && stored.as_ref().is_some_and(|j| j.done >= queued.asked) {
            tracing::info!(job = %sync_id, "already run by another daemon");
            self.finished(&queued);
            self.wake();
            return;
        }
        let parked_before = self.parked_ids(&sync_id);
        let previous = stored.and_then(|j| j.last_status);
        let outcome = match sync::preview::waits_for_plan(&job, &self.state) {
            Ok(true) => match self.park_first_run(&job).await {
                Ok(()) => {
                    self.booked(&sync_id, "awaiting_plan", queued.asked, false);
                    self.finished(&queued);
                    self.wake();
                    return;
                }
                Err(e) => Err(e.context("previewing the first run")),
            },
            Ok(false) => {
                tracing::info!(job = %sync_id, reason = ?queued.reason, "run starting");
                sync::run(&job, &self.runtime, &self.state, &self.options(queued.full)).await
            }
            Err(e) => Err(e.into()),
        };
        let (status, report) = match outcome {
            Ok(report) => (
                report.status,
                serde_json::to_value(&report).unwrap_or_default(),
            ),
            Err(e) => {
                let message = format!("{e:#}");
                tracing::error!(job = %sync_id, "run could not start: {message}");
                self.audit("run_error", &sync_id, json!({"error": message}));
                let report = json!({"status": "failed", "error": message});
                // It shows among the job's runs, like any other outcome.
                let recorded = self.state.next_run_id().and_then(|id| {
                    self.state.put_run(&crate::state::RunRecord {
                        id,
                        job: sync_id.clone(),
                        started_at: sync::now(),
                        report: report.clone(),
                    })
                });
                if let Err(e) = recorded {
                    tracing::error!(job = %sync_id, "run not recorded: {e}");
                }
                (Status::Failed, report)
            }
        };
        self.metrics.record_run(status, &report);
        self.note_outcome(&sync_id, status, &report);
        if let Err(e) = self
            .state
            .prune_job_runs(&sync_id, self.config.runs_per_job)
        {
            tracing::error!(job = %sync_id, "run history not pruned: {e}");
        }
        self.notify_run(
            &sync_id,
            &parked_before,
            previous.as_deref(),
            status,
            &report,
        );
        let failed = matches!(status, Status::Queued | Status::Failed);
        self.booked(
            &sync_id,
            &format!("{status:?}").to_lowercase(),
            queued.asked,
            failed,
        );
        if let Some(url) = &self.config.monitor_url {
            if let Err(e) = self
                .http
                .post(url)
                .json(&json!({"job": sync_id, "report": report}))
                .send()
                .await
            {
                tracing::warn!("monitoring URL {url}: {e}");
            }
        }
        self.finished(&queued);
        self.wake();
    }

    /// Books a run's outcome in its job: its status, the asks it answered,
    /// and a retry with backoff when it `failed`.
    fn booked(&self, sync_id: &str, status: &str, asked: u64, failed: bool) {
        let mut wait = None;
        let booked = self.state.update_job(sync_id, |stored| {
            stored.last_status = Some(status.to_string());
            // Every ask up to the one this run answered is answered.
            stored.done = stored.done.max(asked);
            if failed {
                let w = *wait.get_or_insert_with(|| scheduler::backoff(stored.retries));
                stored.retries += 1;
                stored.retry_at = Some(
                    (chrono::Utc::now() + chrono::Duration::from_std(w).unwrap_or_default())
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                );
            } else {
                stored.retries = 0;
                stored.retry_at = None;
            }
        });
        if let Err(e) = booked {
            tracing::error!(job = %sync_id, "the run's outcome is not saved in the job: {e}");
        }
        if let Some(w) = wait {
            tracing::warn!(job = %sync_id, retry_in_s = w.as_secs_f64(), "run {status}; retrying with backoff");
        }
    }
}
