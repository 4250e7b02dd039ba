//! Request-rate limits: one token bucket per (account, operation).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Rate and burst of one bucket. A rate of zero turns throttling off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Buckets kept at most; when full, the idle ones are dropped (a full bucket
/// behaves as a new one).
const MAX_BUCKETS: usize = 100_000;

pub struct Throttle {
    rate: Rate,
    buckets: Mutex<HashMap<(String, &'static str), Bucket>>,
    shared: std::sync::OnceLock<std::sync::Arc<dyn SharedBuckets>>,
}

/// Buckets kept outside this process (in the database several nodes share),
/// so that an account gets its rate once across the nodes, not once per node.
pub trait SharedBuckets: Send + Sync {
    /// Takes one token: `Some(allowed)`, or `None` when the shared buckets
    /// cannot be reached (the node then counts on its own).
    fn take<'a>(
        &'a self,
        account: &'a str,
        operation: &'static str,
        rate: Rate,
    ) -> crate::store::BoxFuture<'a, Option<bool>>;
}

impl Throttle {
    pub fn new(rate: Rate) -> Self {
        Throttle {
            rate,
            buckets: Mutex::new(HashMap::new()),
            shared: std::sync::OnceLock::new(),
        }
    }

    /// Counts in `shared` buckets from now on (set once, at start).
    pub fn share(&self, shared: std::sync::Arc<dyn SharedBuckets>) {
        let _ = self.shared.set(shared);
    }

    /// Takes one token, from the shared buckets when there are some (and
    /// they answer), else from this node's own.
    pub async fn check(&self, account: &str, operation: &'static str) -> bool {
        if self.rate.per_second <= 0.0 {
            return true;
        }
        if let Some(shared) = self.shared.get() {
            if let Some(allowed) = shared.take(account, operation, self.rate).await {
                return allowed;
            }
        }
        self.allow(account, operation)
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes one token for `account` calling `operation`; false when none is left.
    pub fn allow(&self, account: &str, operation: &'static str) -> bool {
        self.allow_at(account, operation, Instant::now())
    }

    fn allow_at(&self, account: &str, operation: &'static str, now: Instant) -> bool {
        if self.rate.per_second <= 0.0 {
            return true;
        }
        let Rate { per_second, burst } = self.rate;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.last).as_secs_f64() * per_second < burst
            });
        }
        let bucket = buckets
            .entry((account.to_string(), operation))
            .or_insert(Bucket {
                tokens: burst,
                last: now,
            });
        let refill = now.duration_since(bucket.last).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn buckets_refill_and_are_separate() {
        let t = Throttle::new(Rate {
            per_second: 10.0,
            burst: 10.0,
        });
        let start = Instant::now();
        for _ in 0..10 {
            assert!(t.allow_at("a", "GetMeeting", start));
        }
        assert!(!t.allow_at("a", "GetMeeting", start));
        assert!(t.allow_at("a", "ListAttendees", start), "per operation");
        assert!(t.allow_at("b", "GetMeeting", start), "per account");
        assert!(t.allow_at("a", "GetMeeting", start + Duration::from_millis(100)));
        assert!(!t.allow_at("a", "GetMeeting", start + Duration::from_millis(100)));
        let off = Throttle::new(Rate {
            per_second: 0.0,
            burst: 0.0,
        });
        assert!((0..10_000).all(|_| off.allow_at("a", "GetMeeting", start)));
    }
}
