//! Rate limits per platform and credential, shared by every session that uses
//! that credential: a token bucket filled at the platform's documented rate,
//! paused as a whole when the platform answers 429 with `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A sustained rate and a burst.
#[derive(
    Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
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

    /// Takes a token, or says how long to wait for one.
    fn take(&mut self, now: Instant) -> Option<Duration> {
        if let Some(until) = self.paused_until {
            if until > now {
                return Some(until - now);
            }
            self.paused_until = None;
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
            Some(Duration::from_secs_f64(
                missing / self.rate.per_second.max(1e-6),
            ))
        }
    }
}

/// All buckets of one host, keyed by platform and credential fingerprint.
#[derive(Clone, Default)]
pub struct RateLimiter {
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
    stats: Arc<Mutex<RateStats>>,
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
    /// Waits until `key` may send one request. `rate` is applied the first
    /// time a key is seen and whenever it changes.
    pub async fn acquire(&self, key: &str, rate: Rate) {
        let mut waited = Duration::ZERO;
        loop {
            let wait = {
                let mut buckets = self.buckets.lock().unwrap();
                let now = Instant::now();
                let bucket = buckets
                    .entry(key.to_string())
                    .or_insert_with(|| Bucket::new(rate, now));
                if bucket.rate != rate {
                    bucket.rate = rate;
                }
                bucket.take(now)
            };
            match wait {
                None => break,
                Some(d) => {
                    waited += d;
                    tokio::time::sleep(d).await;
                }
            }
        }
        if !waited.is_zero() {
            let mut stats = self.stats.lock().unwrap();
            stats.waits += 1;
            stats.waited += waited;
        }
    }

    /// The platform answered 429: nobody using `key` sends before `retry_after` has passed.
    pub fn pause(&self, key: &str, rate: Rate, retry_after: Duration) {
        let mut buckets = self.buckets.lock().unwrap();
        let now = Instant::now();
        let bucket = buckets
            .entry(key.to_string())
            .or_insert_with(|| Bucket::new(rate, now));
        let until = now + retry_after;
        bucket.paused_until = Some(bucket.paused_until.map_or(until, |u| u.max(until)));
        bucket.tokens = 0.0;
        self.stats.lock().unwrap().throttled += 1;
    }

    pub fn stats(&self) -> RateStats {
        *self.stats.lock().unwrap()
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
    fn a_pause_holds_every_request_until_it_ends() {
        let start = Instant::now();
        let mut b = Bucket::new(
            Rate {
                per_second: 100.0,
                burst: 10,
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
