//! HubSpot's rate limits, measured in the simulator's clock.
//!
//! Reference: "API usage guidelines and limits"
//! (https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines)
//! and the changelog "Increasing our API limits":
//! - privately distributed (private) apps: a burst limit of 100 requests per
//!   10 seconds on Free and Starter accounts, 190 on Professional and
//!   Enterprise; a daily limit per account (250,000 on Free and Starter);
//! - the CRM search endpoints, a limit of their own: "four requests per
//!   second and per authentication token" (changelog "CRM Search API Rate
//!   Limit Increase", https://developers.hubspot.com/changelog/crm-search-api-rate-limit-increase);
//!   "The search endpoints are rate limited to five requests per second per
//!   account" in the current "Search the CRM"
//!   (https://developers.hubspot.com/docs/api-reference/latest/crm/search-the-crm).
//!   The simulator enforces the stricter four by default;
//! - the daily limit resets at the account's midnight, not UTC's: "The daily
//!   limits reset at midnight based on the time zone setting of the HubSpot
//!   account" (https://developers.hubspot.com/apisbytier);
//! - every response carries `X-HubSpot-RateLimit-Daily`, `-Daily-Remaining`,
//!   `-Interval-Milliseconds`, `-Max`, `-Remaining`, `-Secondly` and
//!   `-Secondly-Remaining`. The secondly pair is informational: "the limit
//!   referenced by these headers is no longer enforced".
//! - Over a limit: 429 with `{"status":"error","message":"You have reached your
//!   ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":..,
//!   "policyName":"TEN_SECONDLY_ROLLING"}` (`SECONDLY` for search, `DAILY` for
//!   the daily limit). HubSpot documents no `Retry-After`, and sends none: a
//!   client "may try the request again after waiting 1 second"
//!   (integrate.hubspot.com/t/hubspot-api-secondly-limit/313, HubSpot staff).

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use std::collections::VecDeque;

/// The burst limit: `max` requests in any rolling `interval_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub interval_ms: u64,
}

impl RateLimit {
    /// Free and Starter accounts: 100 requests per 10 seconds.
    pub const STARTER: RateLimit = RateLimit {
        max: 100,
        interval_ms: 10_000,
    };
    /// Professional and Enterprise accounts: 190 requests per 10 seconds.
    pub const PROFESSIONAL: RateLimit = RateLimit {
        max: 190,
        interval_ms: 10_000,
    };
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::STARTER
    }
}

/// Which limit a request ran into: the `policyName` of the 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Daily,
    TenSecondlyRolling,
    Secondly,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Daily => "DAILY",
            Policy::TenSecondlyRolling => "TEN_SECONDLY_ROLLING",
            Policy::Secondly => "SECONDLY",
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            Policy::Daily => "You have reached your daily limit.",
            Policy::TenSecondlyRolling => "You have reached your ten_secondly_rolling limit.",
            Policy::Secondly => "You have reached your secondly limit.",
        }
    }
}

pub(crate) struct Limiter {
    pub limit: Option<RateLimit>,
    pub search_per_second: Option<u32>,
    pub daily_budget: Option<u64>,
    /// admitted requests within the burst interval
    window: VecDeque<DateTime<Utc>>,
    /// admitted searches within the last second
    searches: VecDeque<DateTime<Utc>>,
    /// the account's time zone, whose midnight renews the daily limit
    pub time_zone: FixedOffset,
    /// the account's day being counted, and requests admitted on it
    day: NaiveDate,
    spent: u64,
}

impl Limiter {
    pub fn new(
        limit: Option<RateLimit>,
        search_per_second: Option<u32>,
        daily_budget: Option<u64>,
        now: DateTime<Utc>,
    ) -> Self {
        Limiter {
            limit,
            search_per_second,
            daily_budget,
            window: VecDeque::new(),
            searches: VecDeque::new(),
            time_zone: FixedOffset::east_opt(0).expect("UTC"),
            day: now.date_naive(),
            spent: 0,
        }
    }

    /// The account's day at `now`.
    fn day_of(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.time_zone).date_naive()
    }

    /// Counts the daily limit by the days of `time_zone` from now on.
    pub fn set_time_zone(&mut self, time_zone: FixedOffset, now: DateTime<Utc>) {
        self.time_zone = time_zone;
        self.day = self.day_of(now);
    }

    fn prune(&mut self, now: DateTime<Utc>) {
        let today = self.day_of(now);
        if today != self.day {
            self.day = today;
            self.spent = 0;
        }
        if let Some(l) = self.limit {
            let from = now - Duration::milliseconds(l.interval_ms as i64);
            while self.window.front().is_some_and(|t| *t <= from) {
                self.window.pop_front();
            }
        } else {
            self.window.clear();
        }
        let second = now - Duration::seconds(1);
        while self.searches.front().is_some_and(|t| *t <= second) {
            self.searches.pop_front();
        }
    }

    /// Admits one request, or names the limit it ran into. A refused request
    /// is not counted against any limit.
    pub fn admit(&mut self, now: DateTime<Utc>, search: bool) -> Result<(), Policy> {
        self.prune(now);
        if self.daily_budget.is_some_and(|b| self.spent >= b) {
            return Err(Policy::Daily);
        }
        if self
            .limit
            .is_some_and(|l| self.window.len() >= l.max as usize)
        {
            return Err(Policy::TenSecondlyRolling);
        }
        if search
            && self
                .search_per_second
                .is_some_and(|n| self.searches.len() >= n as usize)
        {
            return Err(Policy::Secondly);
        }
        self.spent += 1;
        if self.limit.is_some() {
            self.window.push_back(now);
        }
        if search {
            self.searches.push_back(now);
        }
        Ok(())
    }

    /// The `X-HubSpot-RateLimit-*` headers as they stand after this request.
    pub fn headers(&mut self, now: DateTime<Utc>) -> Vec<(&'static str, String)> {
        self.prune(now);
        let mut out = Vec::new();
        if let Some(budget) = self.daily_budget {
            out.push(("x-hubspot-ratelimit-daily", budget.to_string()));
            out.push((
                "x-hubspot-ratelimit-daily-remaining",
                budget.saturating_sub(self.spent).to_string(),
            ));
        }
        if let Some(l) = self.limit {
            let remaining = (l.max as usize).saturating_sub(self.window.len());
            out.push((
                "x-hubspot-ratelimit-interval-milliseconds",
                l.interval_ms.to_string(),
            ));
            out.push(("x-hubspot-ratelimit-max", l.max.to_string()));
            out.push(("x-hubspot-ratelimit-remaining", remaining.to_string()));
            // Informational: the burst limit spread over its interval.
            let secondly = ((l.max as u64 * 1000) / l.interval_ms.max(1)).max(1);
            let last_second = now - Duration::seconds(1);
            let used = self.window.iter().filter(|t| **t > last_second).count() as u64;
            out.push(("x-hubspot-ratelimit-secondly", secondly.to_string()));
            out.push((
                "x-hubspot-ratelimit-secondly-remaining",
                secondly.saturating_sub(used).to_string(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_window_search_and_daily() {
        let t0 = Utc::now();
        let mut l = Limiter::new(
            Some(RateLimit {
                max: 3,
                interval_ms: 10_000,
            }),
            Some(2),
            Some(5),
            t0,
        );
        assert!(l.admit(t0, true).is_ok());
        assert!(l.admit(t0, true).is_ok());
        assert_eq!(l.admit(t0, true), Err(Policy::Secondly));
        assert!(l.admit(t0, false).is_ok());
        assert_eq!(l.admit(t0, false), Err(Policy::TenSecondlyRolling));
        let later = t0 + Duration::seconds(11);
        assert!(l.admit(later, false).is_ok());
        assert!(l.admit(later, false).is_ok());
        assert_eq!(l.admit(later, false), Err(Policy::Daily));
        let next_day = t0 + Duration::days(1);
        assert!(l.admit(next_day, false).is_ok());
    }

    #[test]
    fn the_daily_limit_renews_at_midnight_of_the_accounts_time_zone() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let t0 = at("2026-03-10T12:00:00Z");
        let mut l = Limiter::new(None, None, Some(1), t0);
        // US Eastern (standard time): its midnight is 05:00 UTC.
        l.set_time_zone(FixedOffset::west_opt(5 * 3600).unwrap(), t0);
        assert!(l.admit(t0, false).is_ok());
        assert_eq!(
            l.admit(at("2026-03-11T00:30:00Z"), false),
            Err(Policy::Daily)
        );
        assert!(l.admit(at("2026-03-11T05:00:00Z"), false).is_ok());
    }
}
