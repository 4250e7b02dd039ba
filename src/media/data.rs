//! Realtime data messages (DATA_MESSAGE): the limits AWS documents for them,
//! per-connection rate limiting, and the messages a meeting keeps for
//! attendees who join later.
//!
//! The figures (sources in the README):
//! - data at most 2 KiB ([`MAX_DATA_BYTES`]) and a topic of 1 to 36 characters
//!   of `[a-zA-Z0-9_-]`, as the SDKs check before sending;
//! - a lifetime of at most 5 minutes ([`MAX_LIFETIME_MS`]), with up to 1024
//!   messages kept ([`MAX_RETAINED`]);
//! - throttling: a soft limit of 100 messages/s with bursts of 200, past which
//!   a message is returned to its sender marked throttled (ingest time 0), and
//!   a hard limit of 500/s with bursts of 10,000.
//!
//! What the real service does past the hard limit is not documented; Convene
//! closes the connection (code 4429).

use std::collections::VecDeque;
use std::time::Instant;

use super::protocol::SdkDataMessagePayload;

/// The most data one message may carry.
pub const MAX_DATA_BYTES: usize = 2048;
/// The longest topic.
pub const MAX_TOPIC_LEN: usize = 36;
/// The longest a message is kept for attendees who join later.
pub const MAX_LIFETIME_MS: u32 = 300_000;
/// Messages a meeting keeps at most (the oldest go first).
pub const MAX_RETAINED: usize = 1024;
/// Messages per second a connection may send before they come back throttled.
pub const SOFT_RATE: f64 = 100.0;
pub const SOFT_BURST: f64 = 200.0;
/// Messages per second (throttled ones included) past which the connection is closed.
pub const HARD_RATE: f64 = 500.0;
pub const HARD_BURST: f64 = 10_000.0;

/// `^[a-zA-Z0-9_-]{1,36}$`
pub fn valid_topic(topic: &str) -> bool {
    (1..=MAX_TOPIC_LEN).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A token bucket.
#[derive(Debug, Clone)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What becomes of one message a client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Stamp it and deliver it to the meeting's other attendees.
    Deliver,
    /// Return it to its sender, marked throttled: over the rate or invalid.
    Refuse,
    /// Over the hard limit: close the connection.
    Close,
}

/// The rate limits of one connection.
#[derive(Debug, Clone)]
pub struct Limiter {
    soft: Bucket,
    hard: Bucket,
}

impl Limiter {
    pub fn new(now: Instant) -> Self {
        Limiter {
            soft: Bucket::new(SOFT_RATE, SOFT_BURST, now),
            hard: Bucket::new(HARD_RATE, HARD_BURST, now),
        }
    }

    pub fn check(&mut self, now: Instant, m: &SdkDataMessagePayload) -> Verdict {
        if !self.hard.take(now) {
            return Verdict::Close;
        }
        let topic_ok = m.topic.as_deref().is_some_and(valid_topic);
        let size_ok = m.data.as_ref().map_or(0, Vec::len) <= MAX_DATA_BYTES;
        if !topic_ok || !size_ok {
            return Verdict::Refuse;
        }
        if !self.soft.take(now) {
            return Verdict::Refuse;
        }
        Verdict::Deliver
    }
}

/// The messages of a meeting that are still within their lifetime.
#[derive(Debug, Default)]
pub struct Retained {
    entries: VecDeque<(Instant, SdkDataMessagePayload)>,
}

impl Retained {
    /// Keeps a stamped message until `lifetime_ms` (capped) has passed.
    pub fn keep(&mut self, now: Instant, m: &SdkDataMessagePayload) {
        let life = m.lifetime_ms.unwrap_or(0).min(MAX_LIFETIME_MS);
        if life == 0 {
            return;
        }
        self.prune(now);
        if self.entries.len() >= MAX_RETAINED {
            self.entries.pop_front();
        }
        let until = now + std::time::Duration::from_millis(life.into());
        self.entries.push_back((until, m.clone()));
    }

    /// The unexpired messages, oldest first.
    pub fn live(&mut self, now: Instant) -> Vec<SdkDataMessagePayload> {
        self.prune(now);
        self.entries.iter().map(|(_, m)| m.clone()).collect()
    }

    fn prune(&mut self, now: Instant) {
        self.entries.retain(|(until, _)| *until > now);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn msg(topic: &str, len: usize, life: u32) -> SdkDataMessagePayload {
        SdkDataMessagePayload {
            topic: Some(topic.into()),
            data: Some(vec![7; len]),
            lifetime_ms: Some(life),
            ..Default::default()
        }
    }

    #[test]
    fn topics() {
        assert!(valid_topic("chat"));
        assert!(valid_topic("a-b_C9"));
        assert!(valid_topic(&"x".repeat(36)));
        assert!(!valid_topic(&"x".repeat(37)));
        assert!(!valid_topic(""));
        assert!(!valid_topic("a b"));
        assert!(!valid_topic("é"));
    }

    #[test]
    fn sizes_and_rates() {
        let t = Instant::now();
        let mut l = Limiter::new(t);
        assert_eq!(l.check(t, &msg("t", 2048, 0)), Verdict::Deliver);
        assert_eq!(l.check(t, &msg("t", 2049, 0)), Verdict::Refuse);
        assert_eq!(l.check(t, &msg("bad topic", 1, 0)), Verdict::Refuse);
        // The soft burst is 200 (two used above that counted, one refused early).
        let delivered = (0..300)
            .filter(|_| l.check(t, &msg("t", 1, 0)) == Verdict::Deliver)
            .count();
        assert_eq!(delivered, 199);
        // A second later, 100 more.
        let t1 = t + Duration::from_secs(1);
        let delivered = (0..300)
            .filter(|_| l.check(t1, &msg("t", 1, 0)) == Verdict::Deliver)
            .count();
        assert_eq!(delivered, 100);
        // The hard burst: 10,000 attempts in all.
        let mut l = Limiter::new(t);
        let closed = (0..10_001)
            .map(|_| l.check(t, &msg("t", 1, 0)))
            .position(|v| v == Verdict::Close);
        assert_eq!(closed, Some(10_000));
    }

    #[test]
    fn retention() {
        let t = Instant::now();
        let mut r = Retained::default();
        r.keep(t, &msg("a", 1, 0));
        r.keep(t, &msg("b", 1, 1000));
        r.keep(t, &msg("c", 1, 900_000));
        assert_eq!(r.live(t).len(), 2);
        assert_eq!(r.live(t + Duration::from_millis(1500)).len(), 1);
        // Capped at five minutes.
        assert!(r.live(t + Duration::from_secs(301)).is_empty());
        for i in 0..1500 {
            r.keep(t, &msg(&format!("m{i}"), 1, 1000));
        }
        let live = r.live(t);
        assert_eq!(live.len(), MAX_RETAINED);
        assert_eq!(live[0].topic.as_deref(), Some("m476"));
    }
}
