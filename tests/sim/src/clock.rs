//! A clock the tests can move forward, so that behaviour that depends on time
//! (Notion's minute-rounded timestamps, Airtable's expiring offsets, rate-limit
//! windows measured in platform time) is testable without sleeping.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

/// Wall time plus an offset that only grows.
#[derive(Clone, Default)]
pub struct Clock {
    offset: Arc<Mutex<Duration>>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.offset.lock().unwrap()
    }

    /// Moves this clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }
}
