//! `POST /hooks/{sync_id}`: platforms' webhook deliveries. Anyone can send
//! one, so everything is bounded before any work is done for it:
//!
//! - the body is capped before it is read (`--webhook-max-bytes`, 1 MiB);
//! - each job takes [`PER_SECOND`] deliveries a second (bursts of [`BURST`]),
//!   unknown jobs share one such budget; beyond it, 429 with `Retry-After`;
//! - at most [`VERIFYING`] deliveries are verified at once, on the threads
//!   that run connectors, never on those that serve the API;
//! - a verified delivery accepted once is refused when it comes again within
//!   [`REPLAY_WINDOW`] (a replay: same job, same bytes);
//! - a verified delivery that names no change (Notion's verification
//!   handshake) queues nothing;
//! - refusals are counted in metrics; the audit log gets at most one entry a
//!   minute per job saying how many there were, not one per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parking_lot::Mutex;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::api::error;
use super::scheduler::Reason;
use super::Core;
use crate::job::Job;
use crate::runtime::{ChangeEvent, WebhookRequest};

/// Deliveries a second each job takes, and the burst above that.
pub const PER_SECOND: f64 = 10.0;
pub const BURST: f64 = 20.0;
/// Deliveries verified at once, across all jobs.
pub const VERIFYING: usize = 4;
/// How long an accepted delivery is remembered, to refuse its replays: longer
/// than any platform's signature window (HubSpot's is 5 minutes).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Most deliveries remembered; the oldest are forgotten first.
const REMEMBERED: usize = 100_000;
/// Budget key shared by deliveries to jobs that do not exist.
const UNKNOWN: &str = "\u{0}unknown";

/// What the daemon keeps to bound webhook traffic.
pub struct Intake {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    accepted: Mutex<HashMap<[u8; 32], Instant>>,
    verifying: tokio::sync::Semaphore,
}

impl Default for Intake {
    fn default() -> Self {
        Intake {
            buckets: Mutex::default(),
            accepted: Mutex::default(),
            verifying: tokio::sync::Semaphore::new(VERIFYING),
        }
    }
}

impl Intake {
    /// Takes one delivery from `key`'s budget, or says how long until one is free.
    fn admit(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        if buckets.len() > 10_000 {
            buckets.retain(|_, (tokens, at)| {
                *tokens < BURST || now.duration_since(*at) < Duration::from_secs(60)
            });
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * PER_SECOND).min(BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / PER_SECOND))
        }
    }

    fn fingerprint(sync_id: &str, body: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(sync_id.as_bytes());
        h.update([0]);
        h.update(body);
        h.finalize().into()
    }

    /// Whether this delivery was accepted before, within the window.
    fn seen(&self, fingerprint: &[u8; 32]) -> bool {
        self.accepted
            .lock()
            .get(fingerprint)
            .is_some_and(|at| at.elapsed() < REPLAY_WINDOW)
    }

    fn remember(&self, fingerprint: [u8; 32]) {
        let mut accepted = self.accepted.lock();
        if accepted.len() >= REMEMBERED {
            accepted.retain(|_, at| at.elapsed() < REPLAY_WINDOW);
            while accepted.len() >= REMEMBERED {
                let oldest = accepted.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k);
                match oldest {
                    Some(k) => accepted.remove(&k),
                    None => break,
                };
            }
        }
        accepted.insert(fingerprint, Instant::now());
    }
}

/// A platform's webhook delivery: each side's connector that takes webhooks
/// verifies the signature; a verified delivery naming changes queues an
/// incremental run.
pub async fn hook(
    State(core): State<Arc<Core>>,
    Path(sync_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let job = core.load_job(&sync_id).ok().flatten();
    let budget = if job.is_some() {
        sync_id.as_str()
    } else {
        UNKNOWN
    };
    if let Err(wait) = core.hooks.admit(budget) {
        core.metrics
            .webhook(budget_label(&job, &sync_id), "rate_limited");
        let secs = wait.as_secs().max(1).to_string();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", secs)],
            Json(json!({"error": "too many webhook deliveries for this job; retry later"})),
        )
            .into_response();
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            core.metrics
                .webhook(budget_label(&job, &sync_id), "too_large");
            return error(rejection.status(), rejection.body_text());
        }
    };
    let Some(job) = job else {
        core.metrics.webhook("unknown", "unknown_job");
        return error(
            StatusCode::NOT_FOUND,
            format!("no job {}", crate::runtime::policy::clip(&sync_id, 100)),
        );
    };
    let fingerprint = Intake::fingerprint(&sync_id, &body);
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let verified = {
        let Ok(_permit) = core.hooks.verifying.acquire().await else {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the daemon is shutting down",
            );
        };
        let (core, job, path) = (core.clone(), job.clone(), format!("/hooks/{sync_id}"));
        let body = body.to_vec();
        match core
            .work
            .clone()
            .spawn(async move { core.webhook(&job, path, headers, body).await })
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => Err(format!("the verification failed: {e}")),
        }
    };
    match verified {
        // Verified, but these very bytes were accepted before: a replay.
        Ok(_) if !core.first_delivery(fingerprint) => {
            core.metrics.webhook(&sync_id, "replayed");
            core.audit_throttled("webhook_replayed", &sync_id);
            error(
                StatusCode::CONFLICT,
                "this delivery was accepted before: a replay is not run again",
            )
        }
        Ok(events) => {
            if events.is_empty() {
                core.metrics.webhook(&sync_id, "no_change");
                return (
                    StatusCode::OK,
                    Json(json!({"events": [], "queued": false, "note": "the delivery names no change (a verification handshake, say): nothing is queued"})),
                )
                    .into_response();
            }
            core.metrics.webhook(&sync_id, "accepted");
            let queued = core.ask(&job, Reason::Webhook, false);
            core.wake();
            (
                StatusCode::ACCEPTED,
                Json(json!({"events": events, "queued": queued})),
            )
                .into_response()
        }
        Err(message) => {
            core.metrics.webhook(&sync_id, "refused");
            core.audit_throttled("webhook_refused", &sync_id);
            tracing::warn!(job = %sync_id, "webhook refused: {message}");
            error(StatusCode::UNAUTHORIZED, message)
        }
    }
}

impl Core {
    /// Whether a verified delivery is new, remembering it: here, or in the
    /// state where daemons share one (so that a delivery sent to several
    /// is accepted by one, and its job runs once).
    fn first_delivery(&self, fingerprint: [u8; 32]) -> bool {
        if self.state.is_shared() {
            match self
                .state
                .first_delivery(&hex::encode(fingerprint), REPLAY_WINDOW)
            {
                Ok(first) => return first,
                Err(e) => tracing::error!("webhook replays, shared: {e}"),
            }
        }
        if self.hooks.seen(&fingerprint) {
            return false;
        }
        self.hooks.remember(fingerprint);
        true
    }

    /// Hands a delivery to each side's connector that takes webhooks; the
    /// first that verifies it gives the events. `Err` says why none did.
    pub async fn webhook(
        &self,
        job: &Job,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Vec<Value>, String> {
        let req = WebhookRequest {
            method: "POST".into(),
            path,
            headers,
            body,
        };
        let mut reasons = Vec::new();
        for side in [&job.source, &job.target] {
            let options = self.options(false);
            let connector = match options.connectors.connector(side, &self.runtime).await {
                Ok(c) => c,
                Err(e) => {
                    reasons.push(format!("{}: {e}", side.platform));
                    continue;
                }
            };
            if !connector
                .descriptor
                .capabilities
                .contains(crate::runtime::Capabilities::WEBHOOKS)
            {
                continue;
            }
            let mut session = match self.runtime.session(&connector, &side.connection).await {
                Ok(s) => s,
                Err(e) => {
                    reasons.push(format!("{}: {e}", side.platform));
                    continue;
                }
            };
            match session.webhook(&req).await {
                Ok(events) => return Ok(events.iter().map(event_json).collect()),
                Err(e) => reasons.push(format!("{}: {e}", side.platform)),
            }
        }
        if reasons.is_empty() {
            reasons.push("neither side's connector takes webhooks".into());
        }
        Err(format!("webhook refused: {}", reasons.join("; ")))
    }
}

fn event_json(e: &ChangeEvent) -> Value {
    json!({"entity": e.entity, "id": e.id, "kind": format!("{:?}", e.kind).to_lowercase(), "at": e.at})
}

fn budget_label<'a>(job: &Option<crate::job::Job>, sync_id: &'a str) -> &'a str {
    if job.is_some() {
        sync_id
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_takes_a_burst_then_its_rate() {
        let intake = Intake::default();
        for _ in 0..BURST as usize {
            assert!(intake.admit("j").is_ok());
        }
        let wait = intake.admit("j").unwrap_err();
        assert!(wait <= Duration::from_secs_f64(1.0 / PER_SECOND) + Duration::from_millis(5));
        assert!(intake.admit("other").is_ok(), "budgets are per job");
    }

    #[test]
    fn an_accepted_delivery_is_recognised_when_replayed() {
        let intake = Intake::default();
        let a = Intake::fingerprint("j", b"body");
        assert!(!intake.seen(&a));
        intake.remember(a);
        assert!(intake.seen(&a));
        assert!(!intake.seen(&Intake::fingerprint("k", b"body")));
        assert!(!intake.seen(&Intake::fingerprint("j", b"body2")));
    }
}
