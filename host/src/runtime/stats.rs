//! Counters the runtime keeps for monitoring: outbound HTTP calls by
//! connector and status, and the latency of calls into connectors.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Default)]
pub struct Stats {
    http: Mutex<BTreeMap<(String, u16), u64>>,
    calls: Mutex<BTreeMap<(String, String), (u64, f64)>>,
}

impl Stats {
    /// One outbound call of `connector`; status 0 when no response came.
    pub fn http(&self, connector: &str, status: u16) {
        *self
            .http
            .lock()
            .entry((connector.to_string(), status))
            .or_default() += 1;
    }

    /// One call into `connector`'s export `call`, and how long it took.
    pub fn call(&self, connector: &str, call: &str, took: Duration) {
        let mut calls = self.calls.lock();
        let entry = calls
            .entry((connector.to_string(), call.to_string()))
            .or_default();
        entry.0 += 1;
        entry.1 += took.as_secs_f64();
    }

    pub fn http_counts(&self) -> BTreeMap<(String, u16), u64> {
        self.http.lock().clone()
    }

    /// (connector, call) -> (count, total seconds)
    pub fn call_latency(&self) -> BTreeMap<(String, String), (u64, f64)> {
        self.calls.lock().clone()
    }
}
