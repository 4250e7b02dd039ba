//! Where events go. Each sink sends one event and answers whether the other
//! side acknowledged it; ordering, retries and leases are delivery's job.

#[cfg(feature = "aws-sinks")]
pub mod aws;
pub mod webhook;

use crate::store::{BoxFuture, StoredEvent};

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
}
