//! Rate limits per platform and credential, shared by every session that uses
//! that credential: a token bucket filled at the platform's documented rate,
//! paused as a whole when the platform answers 429 with `Retry-After`.
//!
//! A pause is capped at [`MAX_PAUSE`], whatever the platform says, and a
//! request never waits longer than its caller can afford: past that it is
//! told how long the wait is, so the run can end `queued` and be retried.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// Longest a platform's `Retry-After` pauses a credential. A platform that
/// asks for more gets this; the runs that meet the pause end `queued`.
pub const MAX_PAUSE: Duration = Duration::from_secs(3600);

/// A sustained rate, a burst, and a daily budget where the platform sets one.
#[derive(
    Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
    /// requests per UTC day; when spent, requests wait for the next day
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_budget: Option<u64>,
}

#[derive(Debug)]
struct Bucket {
    rate: Rate,
    tokens: f64,
    refilled: Instant,
    /// no request before this instant: the platform said so with Retry-After
    paused_until: Option<Instant>,
}

impl Bucket {
    fn new(rate: Rate, now: Instant) -> Self {
        Bucket {
            rate,
            tokens: rate.burst.max(1) as f64,
            refilled: now,
            paused_until: None,
        }
    }

    /// The rest of a pause the platform asked for, if one is on.
    fn paused(&mut self, now: Instant) -> Option<Duration> {
        match self.paused_until {
            Some(until) if until > now => Some(until - now),
            _ => {
                self.paused_until = None;
                None
            }
        }
    }

    /// Takes a token, or says how long to wait for one.
    fn take(&mut self, now: Instant) -> Option<Duration> {
        if let Some(rest) = self.paused(now) {
            return Some(rest);
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst.max(1) as f64);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            let missing = 1.0 - self.tokens;
            let secs = missing / self.rate.per_second.max(1e-6);
            Some(
                Duration::try_from_secs_f64(secs)
                    .unwrap_or(MAX_PAUSE)
                    .min(MAX_PAUSE),
            )
        }
    }
}

/// Where daemons sharing a state keep each key's bucket and daily count,
/// so that a platform's rate and budget hold across all of them: one budget
/// per platform and credential, wherever the request is made.
pub trait Ledger: Send + Sync {
    /// Counts one request of `key` on UTC day `day` if fewer than `budget`
    /// were counted; `false` when the budget is spent.
    fn spend(&self, key: &str, day: &str, budget: u64) -> Result<bool, String>;
    /// Takes a token of `key`'s bucket (filled at `rate`), or says how long
    /// until one is free (or a pause asked for ends).
    fn take(&self, key: &str, rate: Rate) -> Result<Option<Duration>, String>;
    /// The platform answered 429: nobody sends on `key` for `for_`.
    fn pause(&self, key: &str, for_: Duration);
}

/// All buckets of one host, keyed by platform and credential fingerprint.
#[derive(Clone, Default)]
pub struct RateLimiter {
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
    /// requests spent today, by key: (UTC day, count)
    budgets: Arc<Mutex<HashMap<String, (chrono::NaiveDate, u64)>>>,
    stats: Arc<Mutex<RateStats>>,
    /// the buckets and budgets of daemons sharing a state, when it is shared
    shared: Arc<parking_lot::RwLock<Option<Arc<dyn Ledger>>>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RateStats {
    /// times a request waited for a token or a pause
    pub waits: u64,
    pub waited: Duration,
    /// 429 answers seen
    pub throttled: u64,
}

impl RateLimiter {
    /// From now on, buckets and budgets are kept in `ledger`, with every
    /// other daemon that shares it.
    pub fn share(&self, ledger: Arc<dyn Ledger>) {
        *self.shared.write() = Some(ledger);
    }

    fn ledger(&self) -> Option<Arc<dyn Ledger>> {
        self.shared.read().clone()
    }

    /// Waits until `key` may send one request, or, when that would take
    /// longer than `max_wait`, says how long it would take. `rate` is applied
    /// the first time a key is seen and whenever it changes; with no rate,
    /// only a pause the platform asked for holds the request.
    pub async fn acquire(
        &self,
        key: &str,
        rate: Option<Rate>,
        max_wait: Duration,
    ) -> Result<(), Duration> {
        let mut waited = Duration::ZERO;
        loop {
            let shared = match (rate, self.ledger()) {
                (Some(rate), Some(ledger)) => match ledger.take(key, rate) {
                    Ok(wait) => Some(wait),
                    Err(e) => {
                        // The local bucket still holds this daemon to the rate.
                        tracing::error!("the shared rate limit of {key}: {e}");
                        None
                    }
                },
                _ => None,
            };
            let wait = if let Some(wait) = shared {
                wait
            } else {
                let mut buckets = self.buckets.lock();
                let now = Instant::now();
                match rate {
                    Some(rate) => {
                        let bucket = buckets
                            .entry(key.to_string())
                            .or_insert_with(|| Bucket::new(rate, now));
                        if bucket.rate != rate {
                            bucket.rate = rate;
                        }
                        bucket.take(now)
                    }
                    None => buckets.get_mut(key).and_then(|b| b.paused(now)),
                }
            };
            match wait {
                None => break,
                Some(d) if waited + d > max_wait => return Err(d),
                Some(d) => {
                    waited += d;
                    tokio::time::sleep(d).await;
                }
            }
        }
        if !waited.is_zero() {
            let mut stats = self.stats.lock();
            stats.waits += 1;
            stats.waited += waited;
        }
        Ok(())
    }

    /// Spends one request of `key`'s daily budget, or says how long until
    /// the budget renews (midnight UTC).
    pub fn spend(&self, key: &str, budget: u64) -> Result<(), Duration> {
        let now = chrono::Utc::now();
        let today = now.date_naive();
        let until_midnight = || {
            let midnight = today
                .succ_opt()
                .unwrap_or(today)
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc();
            (midnight - now).to_std().unwrap_or(Duration::from_secs(1))
        };
        if let Some(ledger) = self.ledger() {
            match ledger.spend(key, &today.to_string(), budget) {
                Ok(true) => return Ok(()),
                Ok(false) => return Err(until_midnight()),
                // Counted here alone until the shared count answers again.
                Err(e) => tracing::error!("the shared daily budget of {key}: {e}"),
            }
        }
        let mut budgets = self.budgets.lock();
        let spent = budgets.entry(key.to_string()).or_insert((today, 0));
        if spent.0 != today {
            *spent = (today, 0);
        }
        if spent.1 >= budget {
            return Err(until_midnight());
        }
        spent.1 += 1;
        Ok(())
    }

    /// The platform answered 429: nobody using `key` sends before
    /// `retry_after` (at most [`MAX_PAUSE`]) has passed.
    pub fn pause(&self, key: &str, rate: Rate, retry_after: Duration) {
        let mut buckets = self.buckets.lock();
        let now = Instant::now();
        let bucket = buckets
            .entry(key.to_string())
            .or_insert_with(|| Bucket::new(rate, now));
        let until = now.checked_add(retry_after.min(MAX_PAUSE)).unwrap_or(now);
        bucket.paused_until = Some(bucket.paused_until.map_or(until, |u| u.max(until)));
        bucket.tokens = 0.0;
        drop(buckets);
        if let Some(ledger) = self.ledger() {
            ledger.pause(key, retry_after.min(MAX_PAUSE));
        }
        self.stats.lock().throttled += 1;
    }

    pub fn stats(&self) -> RateStats {
        *self.stats.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_sustained_rate() {
        let start = Instant::now();
        let mut b = Bucket::new(
            Rate {
                per_second: 2.0,
                burst: 3,
                daily_budget: None,
            },
            start,
        );
        for _ in 0..3 {
            assert!(b.take(start).is_none());
        }
        let wait = b.take(start).expect("the burst is spent");
        assert!((wait.as_secs_f64() - 0.5).abs() < 0.01, "{wait:?}");
        assert!(b.take(start + Duration::from_millis(500)).is_none());
    }

    #[test]
    fn a_daily_budget_is_spent_then_refused_until_midnight() {
        let limiter = RateLimiter::default();
        for _ in 0..3 {
            assert!(limiter.spend("k", 3).is_ok());
        }
        let wait = limiter.spend("k", 3).unwrap_err();
        assert!(wait <= Duration::from_secs(86_400));
        assert!(limiter.spend("other", 3).is_ok(), "budgets are per key");
    }

    #[tokio::test]
    async fn a_pause_is_capped_and_never_waited_out_past_what_the_caller_affords() {
        let limiter = RateLimiter::default();
        let rate = Rate {
            per_second: 100.0,
            burst: 10,
            daily_budget: None,
        };
        limiter.pause("k", rate, Duration::MAX);
        let told = limiter
            .acquire("k", Some(rate), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            told <= MAX_PAUSE && told > MAX_PAUSE - Duration::from_secs(5),
            "{told:?}"
        );
        // Without a rate of its own, a key still honours the pause.
        let told = limiter
            .acquire("k", None, Duration::ZERO)
            .await
            .unwrap_err();
        assert!(told <= MAX_PAUSE);
        assert!(limiter.acquire("other", None, Duration::ZERO).await.is_ok());
    }

    #[test]
    fn a_pause_holds_every_request_until_it_ends() {
        let start = Instant::now();
        let mut b = Bucket::new(
            Rate {
                per_second: 100.0,
                burst: 10,
                daily_budget: None,
            },
            start,
        );
        b.paused_until = Some(start + Duration::from_secs(2));
        assert_eq!(
            b.take(start + Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        );
        assert!(b.take(start + Duration::from_secs(2)).is_none());
    }
}
