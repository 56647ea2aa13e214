//! History, bounded: the audit log (one entry per run, conflict decision,
//! job change, connector swap and refusal, in sled and as a JSON log line)
//! keeps `--audit-days` and at most `--audit-max-entries`, refusals anyone
//! can cause throttled to one entry a minute; runs keep `--runs-days` and at
//! most `--runs-per-job` per job. Defaults keep a month.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Core;
use crate::state::AuditEntry;
use crate::sync;

impl Core {
    /// An audit entry in sled and a JSON log line.
    pub fn audit(&self, kind: &str, job: &str, detail: Value) {
        tracing::info!(target: "synchost::audit", kind, job, detail = %detail, "audit");
        let entry = AuditEntry {
            at: sync::now(),
            job: job.into(),
            kind: kind.into(),
            detail,
        };
        if let Err(e) = self.state.audit(&entry) {
            tracing::error!("audit entry not saved: {e}");
        }
        // Prune by size as soon as the log outgrows its bound by a tenth.
        let slack = (self.config.audit_max_entries / 10).max(100);
        if self.audit_writes.fetch_add(1, Ordering::Relaxed) + 1 >= slack {
            self.audit_writes.store(0, Ordering::Relaxed);
            self.prune_audit();
        }
    }

    /// An audit entry for a refusal that anyone can cause (bad webhooks,
    /// bad tokens): at most one a minute per kind and job, saying how many
    /// there were. Each is counted in metrics as well.
    pub fn audit_throttled(&self, kind: &str, job: &str) {
        let now = Instant::now();
        let key = (kind.to_string(), job.to_string());
        let count = {
            let mut throttled = self.throttled.lock();
            if throttled.len() > 10_000 {
                throttled.retain(|_, (at, _)| now.duration_since(*at) < Duration::from_secs(60));
            }
            match throttled.get_mut(&key) {
                Some((at, left_out)) if now.duration_since(*at) < Duration::from_secs(60) => {
                    *left_out += 1;
                    return;
                }
                Some((at, left_out)) => {
                    let count = *left_out + 1;
                    *at = now;
                    *left_out = 0;
                    count
                }
                None => {
                    throttled.insert(key, (now, 0));
                    1
                }
            }
        };
        self.audit(
            kind,
            job,
            json!({"count": count, "note": "one entry a minute at most; see /metrics"}),
        );
    }

    /// Drops runs and audit entries past their age or beyond the count kept.
    pub(super) fn prune_history(&self) {
        self.prune_audit();
        let before = (chrono::Utc::now() - chrono::Duration::days(self.config.runs_days.into()))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match self.state.prune_runs(&before, self.config.runs_per_job) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "run history pruned"),
            Err(e) => tracing::error!("run history not pruned: {e}"),
        }
        if self.state.is_shared() {
            if let Err(e) = self.state.prune_deliveries(super::hooks::REPLAY_WINDOW) {
                tracing::error!("webhook deliveries not pruned: {e}");
            }
        }
    }

    /// Drops audit entries past their age or beyond the count kept.
    fn prune_audit(&self) {
        let before = (chrono::Utc::now() - chrono::Duration::days(self.config.audit_days.into()))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match self
            .state
            .prune_audit(&before, self.config.audit_max_entries)
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "audit log pruned"),
            Err(e) => tracing::error!("audit log not pruned: {e}"),
        }
    }
}
