//! Where events go. Each sink sends events and answers which of them the
//! other side acknowledged; ordering, retries and leases are delivery's job.

#[cfg(feature = "aws-sinks")]
pub mod aws;
pub mod webhook;

use crate::store::{BoxFuture, StoredEvent};

/// What the other side made of a batch of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    /// How many of the events, counted from the first, were acknowledged.
    pub count: usize,
    /// Why the event right after them was not. `None` with `count` short of
    /// the batch: the sink took only the first `count` (its call's limits)
    /// and the rest are sent in a next call.
    pub error: Option<String>,
}

impl Acked {
    pub fn all(count: usize) -> Self {
        Acked { count, error: None }
    }

    pub fn failed(count: usize, error: String) -> Self {
        Acked {
            count,
            error: Some(error),
        }
    }
}

pub trait Sink: Send + Sync + 'static {
    /// The sink kind, as in the outbox's streams (`webhook`, `sqs`, …).
    fn kind(&self) -> &'static str;
    /// Sends one event to `target` (an ARN, or empty for server-wide sinks).
    /// `Ok` only once the receiver acknowledged it.
    fn deliver<'a>(
        &'a self,
        target: &'a str,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), String>>;
    /// Most events one [`Sink::deliver_batch`] call is given.
    fn max_batch(&self) -> usize {
        1
    }
    /// Sends these events, the next ones of one stream in order, in as few
    /// calls as the sink's API allows, and answers how many of them, from the
    /// first, were acknowledged. Events past the first refused one may have
    /// gone through too; delivery sends them again after it, with the same ids.
    /// By default, one [`Sink::deliver`] after another.
    fn deliver_batch<'a>(
        &'a self,
        target: &'a str,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Acked> {
        Box::pin(async move {
            for (i, ev) in events.iter().enumerate() {
                if let Err(e) = self.deliver(target, ev).await {
                    return Acked::failed(i, e);
                }
            }
            Acked::all(events.len())
        })
    }
}

/// How many of `sizes` (each entry's size in bytes), from the first, fit one
/// call that takes at most `max_entries` entries and `max_bytes` in all.
/// Always at least one: an entry too large on its own is sent alone, and the
/// service's refusal of it is retried and dead-lettered like any other.
pub fn fitting(
    sizes: impl IntoIterator<Item = usize>,
    max_entries: usize,
    max_bytes: usize,
) -> usize {
    let mut total = 0;
    let mut n = 0;
    for size in sizes.into_iter().take(max_entries) {
        total += size;
        if n > 0 && total > max_bytes {
            break;
        }
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_fit_the_limits() {
        assert_eq!(fitting([100; 25], 10, 262_144), 10);
        assert_eq!(fitting([100; 3], 10, 262_144), 3);
        assert_eq!(fitting([100_000; 5], 10, 262_144), 2);
        assert_eq!(fitting([300_000, 1], 10, 262_144), 1, "too large: alone");
        assert_eq!(fitting([1, 300_000], 10, 262_144), 1);
        assert_eq!(fitting([262_144], 10, 262_144), 1);
        assert_eq!(fitting([131_072, 131_072, 1], 10, 262_144), 2);
        assert_eq!(fitting(Vec::<usize>::new(), 10, 262_144), 0);
    }
}
