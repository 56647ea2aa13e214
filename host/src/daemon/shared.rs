//! Daemons sharing a PostgreSQL state share their connectors and their
//! platforms' rates and budgets too. A connector uploaded to one
//! (`PUT /connectors/NAME`, the console) is kept in the state; every daemon
//! looks there as often as it rescans its folder, and swaps in any version
//! it does not serve yet, checked as an upload is. Rates and daily budgets
//! are counted in the state ([`crate::runtime::rate::Ledger`]).

use std::sync::Arc;
use std::time::Duration;

use super::registry::Swap;
use super::Core;

impl Core {
    /// From now on, this daemon's requests count against the rates and
    /// budgets every daemon on the state shares.
    pub(super) fn share_rates(&self) {
        if self.state.is_shared() {
            self.runtime
                .rate_limiter()
                .share(Arc::new(self.state.clone()));
        }
    }

    /// Keeps an uploaded connector for the other daemons (only where the
    /// state is shared).
    pub(super) fn publish_connector(&self, name: &str, wasm: &[u8]) {
        if !self.state.is_shared() {
            return;
        }
        if let Err(e) = self.state.put_connector(name, wasm) {
            tracing::error!(connector = %name, "keeping the connector for the other daemons: {e}");
        }
    }

    /// Swaps in every connector the state keeps in a version this daemon
    /// does not serve.
    pub(super) async fn adopt_connectors(&self) {
        let kept = match self.state.connector_hashes() {
            Ok(kept) => kept,
            Err(e) => {
                tracing::error!("reading the shared connectors: {e}");
                return;
            }
        };
        let serving = self.registry.list();
        for (name, sha) in kept {
            if serving.iter().any(|c| c.name == name && c.sha256 == sha) {
                continue;
            }
            // A version this daemon refused already is not tried again.
            if self.refused_shared.lock().contains(&sha) {
                continue;
            }
            let Ok(Some(wasm)) = self.state.connector(&name) else {
                continue;
            };
            let swap = self.registry.install(&name, wasm, None, true).await;
            if let Swap::Rejected { .. } = &swap {
                self.refused_shared.lock().insert(sha);
            }
            self.on_swap(swap);
        }
    }

    /// [`Core::adopt_connectors`] every `every` until `stop` fires.
    pub(super) async fn watch_shared(
        self: Arc<Self>,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        if !self.state.is_shared() {
            return;
        }
        loop {
            self.adopt_connectors().await;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
