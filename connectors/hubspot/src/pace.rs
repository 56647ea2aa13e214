//! Keeping searches within HubSpot's search limit.
//!
//! The search endpoints have a limit of their own, apart from the burst limit
//! the connector's rate hint declares: "The search endpoints are rate limited
//! to five requests per second per account" ("Search the CRM", Limits,
//! https://developers.hubspot.com/docs/api-reference/latest/crm/search-the-crm),
//! four "per second and per authentication token" in the changelog that set
//! it ("CRM Search API Rate Limit Increase",
//! https://developers.hubspot.com/changelog/crm-search-api-rate-limit-increase).
//! The host paces every request of a credential with one token bucket, at
//! 90% of the declared 10 per second; a run of searches at that pace meets
//! HubSpot's 429 `SECONDLY`, which the host retries after a second (HubSpot
//! sends no `Retry-After`), pausing every request of the credential. So the
//! connector spaces its own searches: at most [`SEARCHES`] in any
//! [`WINDOW`], the stricter of the two figures with room for the request's
//! travel time. Searches of other sessions on the same token are not seen
//! here; a `SECONDLY` 429 that still reaches the connector is retried
//! ([`RETRIES`] times) before it fails the read.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Searches allowed in one [`WINDOW`].
pub const SEARCHES: usize = 4;
/// A second, and a tenth for the time a request travels.
pub const WINDOW: Duration = Duration::from_millis(1_100);
/// Times a search refused with `SECONDLY` is tried again by the connector
/// (each after the host's own retries).
pub const RETRIES: u32 = 3;

/// When this session's recent searches were sent.
#[derive(Debug, Default)]
pub struct Pacer {
    sent: VecDeque<Instant>,
}

impl Pacer {
    /// How long to wait at `now` before the next search may go.
    pub fn wait(&mut self, now: Instant) -> Duration {
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < SEARCHES {
            return Duration::ZERO;
        }
        let oldest = self.sent[self.sent.len() - SEARCHES];
        (oldest + WINDOW).saturating_duration_since(now)
    }

    /// Notes a search sent at `at`.
    pub fn sent(&mut self, at: Instant) {
        self.sent.push_back(at);
        while self.sent.len() > SEARCHES {
            self.sent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_more_than_four_searches_go_in_any_window() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        for i in 0..4 {
            let at = t0 + Duration::from_millis(i * 10);
            assert_eq!(p.wait(at), Duration::ZERO);
            p.sent(at);
        }
        let fifth = t0 + Duration::from_millis(40);
        assert_eq!(p.wait(fifth), Duration::from_millis(1_060));
        let later = t0 + WINDOW;
        assert_eq!(p.wait(later), Duration::ZERO);
        p.sent(later);
        assert_eq!(p.wait(later), Duration::from_millis(10));
    }
}
