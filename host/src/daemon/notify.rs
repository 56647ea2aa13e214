//! The Feedback Loop: when a run parks a conflict for a person, ends
//! `failed` or `partial`, or a first run waits for its plan, the daemon
//! POSTs a JSON notice to `--notify-url`, signed so that the receiver can
//! tell it came from this daemon, with a link to the console's page of it.
//!
//! Signature (as Stripe's webhooks do it): `X-Synchost-Signature:
//! t=UNIX_SECONDS,v1=HEX` where HEX is HMAC-SHA256 over `"{t}.{body}"` with
//! the secret in `DATA/notify-secret` (made at first use, 0600) or
//! `SYNCHOST_NOTIFY_SECRET`. The time lets a receiver refuse replays.
//! `X-Synchost-Delivery` is the notice's id: the same on every retry.
//!
//! Notices are kept in the state until the receiver answers 2xx, so a daemon
//! restarted meanwhile still sends them; retried with exponential backoff
//! (and `Retry-After`), given up after [`ATTEMPTS`] or on a 4xx other than
//! 408 and 429. Each outcome is audited.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::{watch, Notify};

use super::Core;
use crate::sync::Status;

/// Tries of one notice before it is given up (about 18 minutes).
const ATTEMPTS: u32 = 12;
const FIRST_WAIT: Duration = Duration::from_millis(500);
const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// Where notices go, and how they are signed.
pub struct Notifier {
    url: String,
    secret: Vec<u8>,
    /// the console's address, for links (`--public-url`)
    public_url: String,
    wake: Notify,
}

impl Notifier {
    /// `url` is checked here, so that a typo stops the daemon at start.
    pub fn new(url: &str, data: &Path, public_url: &str) -> anyhow::Result<Notifier> {
        let parsed = url::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("--notify-url {url}: not a URL ({e})"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https"),
            "--notify-url {url}: only http and https URLs are notified"
        );
        Ok(Notifier {
            url: url.to_string(),
            secret: secret(data)?,
            public_url: public_url.trim_end_matches('/').to_string(),
            wake: Notify::new(),
        })
    }
}

/// The signing secret: `SYNCHOST_NOTIFY_SECRET`, else `DATA/notify-secret`,
/// made at first use.
fn secret(data: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = std::env::var_os("SYNCHOST_NOTIFY_SECRET").filter(|s| !s.is_empty()) {
        return Ok(s.to_string_lossy().trim().as_bytes().to_vec());
    }
    let path = data.join("notify-secret");
    if !path.exists() {
        let made = hex::encode(rand::random::<[u8; 32]>());
        super::files::create_secret(&path, made.as_bytes())?;
        eprintln!(
            "notifications are signed with the secret in {}",
            path.display()
        );
    }
    super::files::keep_private(&path)?;
    Ok(std::fs::read_to_string(&path)?.trim().as_bytes().to_vec())
}

/// `t=AT,v1=HEX`: HMAC-SHA256 of `"{at}.{body}"`.
pub fn sign(secret: &[u8], at: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{at}.").as_bytes());
    mac.update(body);
    format!("t={at},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Core {
    /// Keeps a notice of `kind` about `job` and wakes the sender; nothing
    /// without `--notify-url`. `link` is a console path (`/ui/...`).
    pub(super) fn notify(&self, kind: &str, job: &str, link: &str, mut body: Value) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        body["kind"] = json!(kind);
        body["job"] = json!(job);
        body["at"] = json!(crate::sync::now());
        body["link"] = json!(format!("{}{link}", notifier.public_url));
        match self.state.put_notice(&body) {
            Ok(_) => notifier.wake.notify_one(),
            Err(e) => tracing::error!(job, kind, "notice not kept: {e}"),
        }
    }

    /// The ids of `job`'s parked conflicts (to tell which a run parks).
    pub(super) fn parked_ids(&self, job: &str) -> HashSet<String> {
        if self.notifier.is_none() {
            return HashSet::new();
        }
        self.state
            .conflicts()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.job == job)
            .map(|c| c.id)
            .collect()
    }

    /// After a run: a notice per conflict it parked, and one when it ends
    /// `failed` or `partial` and the run before did not end so (a job that
    /// stays failing is not announced at every retry; `/healthz` shows it).
    pub(super) fn notify_run(
        &self,
        job: &str,
        parked_before: &HashSet<String>,
        previous: Option<&str>,
        status: Status,
        report: &Value,
    ) {
        if self.notifier.is_none() {
            return;
        }
        for c in self.state.conflicts().unwrap_or_default() {
            if c.job != job || parked_before.contains(&c.id) || c.resolution.is_some() {
                continue;
            }
            let link = format!("/ui/conflicts/{}", c.id);
            self.notify(
                "conflict_parked",
                job,
                &link,
                json!({"conflict": {
                    "id": c.id, "source_id": c.source_id, "target_id": c.target_id,
                    "fields": c.fields, "source": c.source, "target": c.target,
                    "base": {"source": c.base_source, "target": c.base_target},
                    "parked_at": c.parked_at,
                }}),
            );
        }
        let name = format!("{status:?}").to_lowercase();
        if matches!(status, Status::Failed | Status::Partial) && previous != Some(name.as_str()) {
            let run = self
                .state
                .runs_page(Some(job), None, 1)
                .ok()
                .and_then(|runs| runs.into_iter().next())
                .map(|r| r.id);
            self.notify(
                &format!("run_{name}"),
                job,
                &format!("/ui/runs?job={job}"),
                json!({"run": {
                    "id": run, "status": name,
                    "synced_items": report["synced_items"],
                    "conflicts_detected": report["conflicts_detected"],
                    "error": report["details"]["error"].as_str().or(report["error"].as_str()),
                }}),
            );
        }
    }
}

/// Sends kept notices in order until the daemon stops.
pub async fn deliver(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let Some(notifier) = &core.notifier else {
        return;
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    loop {
        let pending = core.state.notices().unwrap_or_else(|e| {
            tracing::error!("notices not read: {e}");
            Vec::new()
        });
        if pending.is_empty() {
            tokio::select! {
                _ = notifier.wake.notified() => continue,
                _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                _ = stop.changed() => return,
            }
        }
        for (id, body) in pending {
            // Daemons sharing a state share its notices: one sends each.
            let claim = format!("notice:{id}");
            let ttl = LONGEST_WAIT * ATTEMPTS;
            if !core
                .state
                .claim(
                    &claim,
                    &core.daemon_id,
                    ttl,
                    crate::state::leases::Slots::NONE,
                )
                .unwrap_or(false)
            {
                continue;
            }
            // Sent and removed by another daemon since it was listed.
            if !core
                .state
                .notices()
                .is_ok_and(|left| left.iter().any(|(n, _)| *n == id))
            {
                let _ = core.state.release(&claim, &core.daemon_id);
                continue;
            }
            let mut attempt = 0;
            let outcome = loop {
                attempt += 1;
                let wait = match send(&http, notifier, id, &body).await {
                    Ok(status) => break Ok(status),
                    Err(Failure::Final(why)) => break Err(why),
                    Err(Failure::Retry(_, _)) if attempt >= ATTEMPTS => {
                        break Err(format!("no 2xx answer in {ATTEMPTS} tries"))
                    }
                    Err(Failure::Retry(why, after)) => {
                        let backoff = FIRST_WAIT * 2u32.saturating_pow(attempt - 1);
                        let wait = after.unwrap_or_default().max(backoff).min(LONGEST_WAIT);
                        tracing::warn!(
                            notice = id,
                            attempt,
                            wait_s = wait.as_secs_f64(),
                            "--notify-url: {why}; retrying"
                        );
                        wait
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    // Kept: sent after the restart.
                    _ = stop.changed() => return,
                }
            };
            let job = body["job"].as_str().unwrap_or_default();
            let kind = body["kind"].clone();
            match outcome {
                Ok(status) => core.audit(
                    "notify_sent",
                    job,
                    json!({"notice": id, "kind": kind, "attempts": attempt, "status": status}),
                ),
                Err(why) => {
                    tracing::error!(notice = id, "--notify-url: given up: {why}");
                    core.audit(
                        "notify_failed",
                        job,
                        json!({"notice": id, "kind": kind, "attempts": attempt, "error": why}),
                    );
                }
            }
            if let Err(e) = core.state.remove_notice(id) {
                tracing::error!(notice = id, "notice not removed: {e}");
            }
            let _ = core.state.release(&claim, &core.daemon_id);
        }
        if core.state.is_shared() {
            // Notices another daemon holds: look again in a while.
            tokio::select! {
                _ = notifier.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

enum Failure {
    /// worth another try (after at least this long, if the receiver said)
    Retry(String, Option<Duration>),
    Final(String),
}

async fn send(
    http: &reqwest::Client,
    notifier: &Notifier,
    id: u64,
    body: &Value,
) -> Result<u16, Failure> {
    let bytes = serde_json::to_vec(body).expect("JSON");
    let at = chrono::Utc::now().timestamp();
    let resp = http
        .post(&notifier.url)
        .header("content-type", "application/json")
        .header("x-synchost-signature", sign(&notifier.secret, at, &bytes))
        .header("x-synchost-delivery", id.to_string())
        .header(
            "x-synchost-event",
            body["kind"].as_str().unwrap_or_default(),
        )
        .body(bytes)
        .send()
        .await
        .map_err(|e| Failure::Retry(e.to_string(), None))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let why = format!("the receiver answered {status}");
    if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
        Err(Failure::Retry(why, after))
    } else {
        Err(Failure::Final(why))
    }
}

#[cfg(test)]
mod tests {
    /// A receiver recomputes the signature from the raw body and the time.
    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        let signed = super::sign(b"secret", 1_700_000_000, br#"{"a":1}"#);
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signed,
            "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }
}
