//! `/metrics`: Prometheus text exposition format, version 0.0.4.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::runtime::Runtime;
use crate::sync::Status;

#[derive(Default)]
pub struct Metrics {
    runs: Mutex<BTreeMap<String, u64>>,
    records: AtomicU64,
    conflicts: AtomicU64,
    /// webhook deliveries by job (or `unknown`) and outcome
    webhooks: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// API calls refused, by why
    refused: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// One webhook delivery to `job` (an existing job, or `unknown`) and what became of it.
    pub fn webhook(&self, job: &str, outcome: &'static str) {
        *self
            .webhooks
            .lock()
            .entry((job.to_string(), outcome))
            .or_default() += 1;
    }

    /// One API call refused: `unauthenticated`, `forbidden`, `out_of_scope`.
    pub fn refused(&self, why: &'static str) {
        *self.refused.lock().entry(why).or_default() += 1;
    }

    pub fn record_run(&self, status: Status, report: &Value) {
        *self
            .runs
            .lock()
            .entry(format!("{status:?}").to_lowercase())
            .or_default() += 1;
        self.records.fetch_add(
            report["synced_items"].as_u64().unwrap_or(0),
            Ordering::Relaxed,
        );
        self.conflicts.fetch_add(
            report["conflicts_detected"].as_u64().unwrap_or(0),
            Ordering::Relaxed,
        );
    }

    pub fn render(&self, runtime: &Runtime) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            "synchost_runs_total",
            "counter",
            "Sync runs finished, by status.",
        );
        let runs = self.runs.lock().clone();
        let mut body = String::new();
        for status in ["success", "partial", "queued", "failed"] {
            let _ = writeln!(
                body,
                "synchost_runs_total{{status=\"{status}\"}} {}",
                runs.get(status).copied().unwrap_or(0)
            );
        }
        out.push_str(&body);
        let simple = |name: &str, help: &str, value: u64, out: &mut String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        simple(
            "synchost_records_synced_total",
            "Writes confirmed by the platforms.",
            self.records.load(Ordering::Relaxed),
            &mut out,
        );
        simple(
            "synchost_conflicts_total",
            "Conflicts detected.",
            self.conflicts.load(Ordering::Relaxed),
            &mut out,
        );
        let _ = writeln!(out, "# HELP synchost_http_calls_total Outbound HTTP calls of connectors, by connector and status (0: no response).\n# TYPE synchost_http_calls_total counter");
        for ((connector, status), n) in runtime.stats().http_counts() {
            let _ = writeln!(
                out,
                "synchost_http_calls_total{{connector=\"{}\",status=\"{status}\"}} {n}",
                escape(&connector)
            );
        }
        let rate = runtime.rate_limiter().stats();
        simple(
            "synchost_rate_limit_waits_total",
            "Requests that waited for the rate limit.",
            rate.waits,
            &mut out,
        );
        let _ = writeln!(out, "# HELP synchost_rate_limit_wait_seconds_total Time spent waiting for rate limits.\n# TYPE synchost_rate_limit_wait_seconds_total counter\nsynchost_rate_limit_wait_seconds_total {}", rate.waited.as_secs_f64());
        simple(
            "synchost_rate_limited_responses_total",
            "429 answers from platforms.",
            rate.throttled,
            &mut out,
        );
        let _ = writeln!(out, "# HELP synchost_connector_call_seconds Time of calls into connectors, by connector and export.\n# TYPE synchost_connector_call_seconds summary");
        for ((connector, call), (count, sum)) in runtime.stats().call_latency() {
            let labels = format!("connector=\"{}\",call=\"{call}\"", escape(&connector));
            let _ = writeln!(out, "synchost_connector_call_seconds_sum{{{labels}}} {sum}\nsynchost_connector_call_seconds_count{{{labels}}} {count}");
        }
        let _ = writeln!(out, "# HELP synchost_webhooks_total Webhook deliveries, by job and outcome (accepted, no_change, refused, replayed, rate_limited, too_large, unknown_job).\n# TYPE synchost_webhooks_total counter");
        for ((job, outcome), n) in self.webhooks.lock().iter() {
            let _ = writeln!(
                out,
                "synchost_webhooks_total{{job=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(job)
            );
        }
        let _ = writeln!(out, "# HELP synchost_api_refused_total API calls refused, by why (unauthenticated, forbidden, out_of_scope).\n# TYPE synchost_api_refused_total counter");
        for (why, n) in self.refused.lock().iter() {
            let _ = writeln!(out, "synchost_api_refused_total{{why=\"{why}\"}} {n}");
        }
        out
    }
}

pub fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
