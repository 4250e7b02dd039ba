//! Delivery: ships the outbox's events to their sinks, in order per meeting
//! and per sink, at least once.
//!
//! The unit of delivery is a stream: one (sink, target, meeting). A worker
//! leases due streams in one short write transaction
//! ([`crate::store::Tx::claim_streams`]): a stream is due when it has events
//! past its cursor, its retry time has come, and its lease is free or has
//! expired. The lease names this node and an expiry, so when several nodes
//! share one database each stream is delivered by one node at a time
//! (PostgreSQL claims with `SELECT … FOR UPDATE SKIP LOCKED`; SQLite has one
//! writer). While it holds the lease the node sends the stream's events one
//! after another, each only once the sink acknowledged the one before, and
//! moves the cursor forward in the database every few events (renewing the
//! lease). Every write is fenced by the lease: a node that lost its lease
//! stops. A node that dies leaves its leases to expire; the events past the
//! cursor are sent again by whoever takes the stream next, with the same id
//! (receivers deduplicate on it). At-least-once, never lost, never reordered.
//!
//! A failed send ends the round: the stream's tries counter goes up, its next
//! try is set with exponential backoff and full jitter, and the lease is
//! released. After `max_attempts` tries the event is written to the
//! dead-letter table and the stream moves on to the next event.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::outbox::Outbox;
use super::sinks::Sink;
use crate::store::{
    self, DeadLetter, Store, StoreError, StoredEvent, StreamClaim, StreamKey, StreamUpdate,
};

/// How delivery behaves.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// This node's name in leases (unique per node sharing a database).
    pub node_id: String,
    /// Tries of one event before it is dead-lettered.
    pub max_attempts: u32,
    /// Backoff before the second try; doubles each try, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a lease lasts without being renewed.
    pub lease: Duration,
    /// Streams delivered at once by this node.
    pub concurrency: usize,
    /// How often the database is checked for due streams besides wake-ups.
    pub poll: Duration,
    /// How long events are kept in the log once delivered.
    pub retention: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            node_id: "node".into(),
            max_attempts: 25,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(300),
            lease: Duration::from_secs(30),
            concurrency: 32,
            poll: Duration::from_millis(500),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Events sent per round before the cursor is saved.
const BATCH: u32 = 64;

/// The backoff before try `attempts + 1`: `base * 2^(attempts-1)`, capped,
/// with full jitter over its upper half.
pub fn backoff(cfg: &DeliveryConfig, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let full = cfg
        .retry_base
        .saturating_mul(1u32 << exp.min(20))
        .min(cfg.retry_max);
    let ms = full.as_millis() as u64;
    let jittered = rand::thread_rng().gen_range(ms / 2..=ms.max(1));
    Duration::from_millis(jittered)
}

#[derive(Clone)]
pub struct Delivery {
    store: Arc<dyn Store>,
    sinks: Arc<HashMap<String, Arc<dyn Sink>>>,
    cfg: Arc<DeliveryConfig>,
    outbox: Outbox,
    /// Streams this node is delivering now.
    busy: Arc<AtomicUsize>,
}

impl Delivery {
    pub fn new(
        store: Arc<dyn Store>,
        outbox: Outbox,
        sinks: Vec<Arc<dyn Sink>>,
        cfg: DeliveryConfig,
    ) -> Self {
        let sinks = sinks
            .into_iter()
            .map(|s| (s.kind().to_string(), s))
            .collect();
        Delivery {
            store,
            sinks: Arc::new(sinks),
            cfg: Arc::new(cfg),
            outbox,
            busy: Arc::default(),
        }
    }

    /// Runs until the runtime stops.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        let holder = self.cfg.node_id.clone();
        // Leases this node held before a restart are its own: take them back now
        // rather than waiting for them to expire.
        if let Err(e) = store::write::<_, StoreError, _>(&*self.store, move |tx| {
            let holder = holder.clone();
            Box::pin(async move { tx.release_leases(&holder).await })
        })
        .await
        {
            tracing::warn!(error = %e, "could not release this node's old leases");
        }
        let mut wake = self.outbox.watch();
        let mut last_prune: Option<std::time::Instant> = None;
        let sink_kinds: Vec<String> = self.sinks.keys().cloned().collect();
        loop {
            if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                last_prune = Some(std::time::Instant::now());
                self.prune().await;
            }
            let free = self
                .cfg
                .concurrency
                .saturating_sub(self.busy.load(Ordering::SeqCst));
            if free > 0 && !sink_kinds.is_empty() {
                match self.claim(&sink_kinds, free as u32).await {
                    Ok(claims) => {
                        // A claimed stream is always delivered: its lease is
                        // ours until the task releases it (its last write).
                        for c in claims {
                            self.busy.fetch_add(1, Ordering::SeqCst);
                            let this = self.clone();
                            tokio::spawn(async move {
                                this.deliver_stream(c).await;
                                this.busy.fetch_sub(1, Ordering::SeqCst);
                                // Another round may be due at once.
                                this.outbox.wake();
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not claim event streams"),
                }
            }
            tokio::select! {
                _ = wake.changed() => {}
                () = tokio::time::sleep(self.cfg.poll) => {}
            }
        }
    }

    async fn prune(&self) {
        let before = crate::now_ms() - self.cfg.retention.as_millis() as i64;
        match store::write::<_, StoreError, _>(&*self.store, move |tx| {
            Box::pin(async move { tx.prune_events(before).await })
        })
        .await
        {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "forgot events past the retention time"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not prune events"),
        }
    }

    async fn claim(&self, sinks: &[String], limit: u32) -> Result<Vec<StreamClaim>, StoreError> {
        let sinks = sinks.to_vec();
        let holder = self.cfg.node_id.clone();
        let lease = self.cfg.lease.as_millis() as i64;
        store::write::<_, StoreError, _>(&*self.store, move |tx| {
            let (sinks, holder) = (sinks.clone(), holder.clone());
            Box::pin(async move {
                let now = crate::now_ms();
                tx.claim_streams(&sinks, &holder, now, now + lease, limit)
                    .await
            })
        })
        .await
    }

    async fn save(&self, key: &StreamKey, update: StreamUpdate) -> bool {
        let key = key.clone();
        let holder = self.cfg.node_id.clone();
        match store::write::<_, StoreError, _>(&*self.store, move |tx| {
            let (key, holder, update) = (key.clone(), holder.clone(), update.clone());
            Box::pin(async move { tx.update_stream(&key, &holder, &update).await })
        })
        .await
        {
            Ok(kept) => kept,
            Err(e) => {
                tracing::warn!(error = %e, "could not save a stream's cursor");
                false
            }
        }
    }

    /// One round on a leased stream: send its events in order until it is
    /// caught up or a send fails.
    async fn deliver_stream(&self, claim: StreamClaim) {
        let key = claim.key;
        let Some(sink) = self.sinks.get(&key.sink).cloned() else {
            return;
        };
        let lease = self.cfg.lease.as_millis() as i64;
        let mut cursor = Cursor {
            delivered: claim.delivered_seq,
            attempts: claim.attempts,
        };
        loop {
            let (mid, after) = (key.meeting_id.clone(), cursor.delivered);
            let events = match store::read::<_, StoreError, _>(&*self.store, move |tx| {
                let mid = mid.clone();
                Box::pin(async move { tx.meeting_events(&mid, after, BATCH).await })
            })
            .await
            {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read events");
                    let update = release(cursor.delivered, cursor.attempts, None, crate::now_ms());
                    let _ = self.save(&key, update).await;
                    return;
                }
            };
            if events.is_empty() {
                let _ = self.save(&key, release(cursor.delivered, 0, None, 0)).await;
                return;
            }
            for ev in events {
                if !self.send_one(&*sink, &key, &ev, &mut cursor).await {
                    return;
                }
            }
            // Save the cursor and renew the lease; stop if it was lost.
            let update = StreamUpdate {
                delivered_seq: cursor.delivered,
                attempts: 0,
                next_attempt_ms: 0,
                last_error: None,
                lease_expires_ms: Some(crate::now_ms() + lease),
            };
            if !self.save(&key, update).await {
                return;
            }
        }
    }

    /// Sends one event and moves the cursor past it when it was acknowledged
    /// (or dead-lettered). False ends the round: the send failed and its
    /// retry is scheduled, or the dead letter could not be written.
    async fn send_one(
        &self,
        sink: &dyn Sink,
        key: &StreamKey,
        ev: &StoredEvent,
        cursor: &mut Cursor,
    ) -> bool {
        let started = std::time::Instant::now();
        let outcome = sink.deliver(&key.target, ev).await;
        metrics::histogram!("convene_event_delivery_seconds", "sink" => key.sink.clone())
            .record(started.elapsed().as_secs_f64());
        let error = match outcome {
            Ok(()) => {
                metrics::counter!("convene_events_sent_total", "sink" => key.sink.clone())
                    .increment(1);
                cursor.delivered = ev.seq;
                cursor.attempts = 0;
                return true;
            }
            Err(error) => error,
        };
        cursor.attempts += 1;
        let attempts = cursor.attempts;
        metrics::counter!("convene_event_send_failures_total", "sink" => key.sink.clone())
            .increment(1);
        if attempts >= self.cfg.max_attempts {
            tracing::error!(sink = %key.sink, target = %key.target, meeting_id = %key.meeting_id,
                event_id = %ev.id, attempts, %error, "event dead-lettered");
            if !self.dead_letter(key, ev, attempts, error).await {
                return false;
            }
            cursor.delivered = ev.seq;
            cursor.attempts = 0;
            return true;
        }
        let wait = backoff(&self.cfg, attempts);
        tracing::warn!(sink = %key.sink, target = %key.target, meeting_id = %key.meeting_id,
            event_id = %ev.id, attempts, retry_in_ms = wait.as_millis() as u64, %error,
            "event delivery failed; will retry");
        let next = crate::now_ms() + wait.as_millis() as i64;
        let _ = self
            .save(key, release(cursor.delivered, attempts, Some(error), next))
            .await;
        false
    }

    /// Writes the event to the dead-letter table and moves the stream's cursor
    /// past it, in one transaction fenced by the lease. False if that failed.
    async fn dead_letter(
        &self,
        key: &StreamKey,
        ev: &StoredEvent,
        attempts: u32,
        error: String,
    ) -> bool {
        let lease = self.cfg.lease.as_millis() as i64;
        let dead = DeadLetter {
            key: key.clone(),
            event_seq: ev.seq,
            event_id: ev.id.clone(),
            attempts,
            last_error: error,
            dead_at_ms: crate::now_ms(),
        };
        let holder = self.cfg.node_id.clone();
        store::write::<_, StoreError, _>(&*self.store, move |tx| {
            let (dead, holder) = (dead.clone(), holder.clone());
            Box::pin(async move {
                let now = crate::now_ms();
                tx.record_dead_letter(&dead).await?;
                let update = StreamUpdate {
                    delivered_seq: dead.event_seq,
                    attempts: 0,
                    next_attempt_ms: 0,
                    last_error: Some(dead.last_error.clone()),
                    lease_expires_ms: Some(now + lease),
                };
                if !tx.update_stream(&dead.key, &holder, &update).await? {
                    return Err(StoreError::Backend("lease lost".into()));
                }
                Ok(())
            })
        })
        .await
        .is_ok()
    }
}

/// Where a stream's round stands: the last event acknowledged, and the tries
/// of the next one.
struct Cursor {
    delivered: i64,
    attempts: u32,
}

fn release(delivered: i64, attempts: u32, error: Option<String>, next: i64) -> StreamUpdate {
    StreamUpdate {
        delivered_seq: delivered,
        attempts,
        next_attempt_ms: next,
        last_error: error,
        lease_expires_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let cfg = DeliveryConfig {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            ..DeliveryConfig::default()
        };
        for _ in 0..50 {
            let b1 = backoff(&cfg, 1).as_millis();
            assert!((50..=100).contains(&b1), "{b1}");
            let b3 = backoff(&cfg, 3).as_millis();
            assert!((200..=400).contains(&b3), "{b3}");
            let b9 = backoff(&cfg, 9).as_millis();
            assert!((500..=1000).contains(&b9), "{b9}");
        }
    }
}
