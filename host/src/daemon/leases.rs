//! Several daemons on one PostgreSQL state (see [`crate::state::leases`]):
//! a job is claimed before it runs and released after its outcome is
//! booked; the claims a daemon holds are renewed every third of their
//! lifetime; a job that owes a run and that no daemon holds is queued by
//! whichever daemon's timer sees it first (a job a killed daemon held, once
//! its claim expires). On a state one daemon holds alone every claim is
//! granted and nothing here does any work.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::scheduler::Queued;
use super::Core;

/// How long a claim lasts unless renewed, by default: a daemon killed
/// mid-run leaves its jobs to the others after this.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15);

/// This daemon's name among those sharing a state: the host's name and the
/// process id, unless `--daemon-id` names it.
pub fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "synchost".into());
    format!("{host}-{}", std::process::id())
}

impl Core {
    /// Claims `queued`'s job for this daemon, with a slot on each of its
    /// platforms. `false` when another daemon holds it or a platform's
    /// slots are all taken: the job stays owed in its stored state, and a
    /// timer (here or elsewhere) queues it again.
    pub(super) fn claim(&self, queued: &Queued) -> bool {
        let (a, b) = &queued.platforms;
        let platforms: Vec<String> = if a == b {
            vec![a.clone()]
        } else {
            vec![a.clone(), b.clone()]
        };
        let slots = crate::state::leases::Slots {
            platforms: &platforms,
            per_platform: self.scheduler.per_platform,
            priority: queued.priority as i32,
        };
        match self
            .state
            .claim(&queued.sync_id, &self.daemon_id, self.lease_ttl, slots)
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::error!(job = %queued.sync_id, "claiming the job: {e}");
                false
            }
        }
    }

    /// The run of `queued` is over (its outcome booked, or it never
    /// started): its platforms' slots and its claim go.
    pub(super) fn finished(&self, queued: &Queued) {
        let (a, b) = &queued.platforms;
        self.scheduler.finished(&queued.sync_id, a, b);
        if let Err(e) = self.state.release(&queued.sync_id, &self.daemon_id) {
            tracing::error!(job = %queued.sync_id, "releasing the job's claim: {e}");
        }
    }

    /// Jobs some daemon holds a live claim on; `None` on a state this
    /// daemon holds alone.
    pub(super) fn claimed_anywhere(&self) -> Option<HashSet<String>> {
        if !self.state.is_shared() {
            return None;
        }
        match self.state.leases() {
            Ok(all) => Some(all.into_iter().filter(|l| l.live).map(|l| l.job).collect()),
            Err(e) => {
                tracing::error!("reading the claims: {e}");
                // Taking nothing over is safe; taking over a held job is not.
                Some(self.state.jobs().map_or_else(
                    |_| HashSet::new(),
                    |jobs| jobs.into_iter().map(|j| j.sync_id).collect(),
                ))
            }
        }
    }

    /// The live claims this daemon holds (none on a state it holds alone).
    pub fn held_leases(&self) -> Vec<crate::state::leases::Lease> {
        match self.state.leases() {
            Ok(all) => all
                .into_iter()
                .filter(|l| l.live && l.daemon == self.daemon_id)
                .collect(),
            Err(e) => {
                tracing::error!("reading the claims: {e}");
                Vec::new()
            }
        }
    }

    /// Renews this daemon's claims every third of their lifetime, so that
    /// a run longer than the lifetime keeps its job.
    pub(super) async fn heartbeat(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        if !self.state.is_shared() {
            return;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.lease_ttl / 3) => {}
                _ = stop.changed() => return,
            }
            let running = self.scheduler.running();
            if running.is_empty() {
                continue;
            }
            match self.state.renew(&self.daemon_id, &running, self.lease_ttl) {
                Ok(held) => {
                    for job in running.iter().filter(|j| !held.contains(j)) {
                        tracing::error!(
                            job = %job,
                            "this daemon's claim on the job expired while it ran: another \
                             daemon may take it over"
                        );
                    }
                }
                Err(e) => tracing::error!("renewing this daemon's claims: {e}"),
            }
        }
    }
}
