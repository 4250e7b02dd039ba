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
//! writer). While it holds the lease the node sends the stream's events in
//! order, in batches as large as the sink takes in one call (up to 10 for
//! EventBridge, SQS and SNS; one for webhooks and Lambda), each batch only
//! once the sink acknowledged the one before, and moves the cursor forward in
//! the database every few batches (renewing the lease). Every write is fenced by the lease: a node that lost its lease
//! stops. A node that dies leaves its leases to expire; the events past the
//! cursor are sent again by whoever takes the stream next, with the same id
//! (receivers deduplicate on it). At-least-once, never lost, never reordered.
//!
//! A sink answers how many events of a batch, from the first, were
//! acknowledged; the cursor moves past those only. The first event that was
//! not is a failed send, and so is a batch call that failed as a whole. A
//! failed send ends the round: the stream's tries counter goes up, its next
//! try is set with exponential backoff and full jitter, and the lease is
//! released. The next round starts at the failed event and sends everything
//! after it again, including events of the failed batch the sink may have
//! taken (same ids), so each meeting's events go out in order once more from
//! there. After `max_attempts` tries the event is written to the dead-letter
//! table and the stream moves on to the next event.

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
            let mut rest = &events[..];
            while !rest.is_empty() {
                let n = sink.max_batch().clamp(1, rest.len());
                match self.send_batch(&*sink, &key, &rest[..n], &mut cursor).await {
                    Some(done) => rest = &rest[done..],
                    None => return,
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

    /// Sends the stream's next events in one batch and moves the cursor past
    /// those acknowledged, from the first (and past a dead-lettered one).
    /// Answers how many of them are behind the cursor now; `None` ends the
    /// round: a send failed and its retry is scheduled, or the dead letter
    /// could not be written. The events after a refused one are sent again in
    /// a later batch, after it, even if the sink took them (same ids).
    async fn send_batch(
        &self,
        sink: &dyn Sink,
        key: &StreamKey,
        batch: &[StoredEvent],
        cursor: &mut Cursor,
    ) -> Option<usize> {
        let started = std::time::Instant::now();
        let acked = sink.deliver_batch(&key.target, batch).await;
        metrics::histogram!("convene_event_delivery_seconds", "sink" => key.sink.clone())
            .record(started.elapsed().as_secs_f64());
        let count = acked.count.min(batch.len());
        if count > 0 {
            metrics::counter!("convene_events_sent_total", "sink" => key.sink.clone())
                .increment(count as u64);
            cursor.delivered = batch[count - 1].seq;
            cursor.attempts = 0;
        }
        let error = match acked.error {
            None if count > 0 => return Some(count),
            None => "the sink sent none of the events".to_string(),
            Some(error) => error,
        };
        // A refusal with every event acknowledged says nothing about the next.
        let Some(ev) = batch.get(count) else {
            return Some(count);
        };
        if self.failed(key, ev, error, cursor).await {
            Some(count + 1)
        } else {
            None
        }
    }

    /// The sink refused `ev`, the stream's next event: count the try, and
    /// either dead-letter it (true: the stream moves on) or schedule the retry
    /// and release the lease (false).
    async fn failed(
        &self,
        key: &StreamKey,
        ev: &StoredEvent,
        error: String,
        cursor: &mut Cursor,
    ) -> bool {
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
    use std::sync::Mutex;

    use super::*;
    use crate::events::sinks::Acked;
    use crate::store::{NewEvent, StreamKey};

    /// A sink that takes batches of up to four events and refuses one event
    /// (by id) its first `refusals` times, while still taking the entries
    /// around it, as the AWS batch APIs do. It records each call's ids.
    struct Flaky {
        refuse: String,
        refusals: Mutex<u32>,
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl Sink for Flaky {
        fn kind(&self) -> &'static str {
            "sqs"
        }

        fn deliver<'a>(
            &'a self,
            _target: &'a str,
            _event: &'a StoredEvent,
        ) -> store::BoxFuture<'a, Result<(), String>> {
            Box::pin(async { Err("this sink only takes batches".to_string()) })
        }

        fn max_batch(&self) -> usize {
            4
        }

        fn deliver_batch<'a>(
            &'a self,
            _target: &'a str,
            events: &'a [StoredEvent],
        ) -> store::BoxFuture<'a, Acked> {
            Box::pin(async move {
                let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
                self.calls.lock().unwrap().push(ids.clone());
                let mut refusals = self.refusals.lock().unwrap();
                match ids.iter().position(|id| *id == self.refuse) {
                    Some(i) if *refusals > 0 => {
                        *refusals -= 1;
                        Acked::failed(i, format!("{} refused", self.refuse))
                    }
                    _ => Acked::all(events.len()),
                }
            })
        }
    }

    /// Ten events of meeting `m` on one stream of `sink`, delivered until the
    /// sink was called `calls` times; the calls' ids and the dead letters.
    async fn deliver_ten(
        sink: Arc<Flaky>,
        max_attempts: u32,
        calls: usize,
    ) -> (Vec<Vec<String>>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(store::sqlite::SqliteStore::open(dir.path()).unwrap());
        let key = StreamKey {
            sink: "sqs".into(),
            target: "arn:aws:sqs:us-east-1:111122223333:q".into(),
            meeting_id: "m".into(),
        };
        for i in 1..=10 {
            let (key, ev) = (
                key.clone(),
                NewEvent {
                    id: format!("e{i}"),
                    account_id: "a".into(),
                    meeting_id: "m".into(),
                    event_type: "chime:AttendeeAdded".into(),
                    created_at_ms: crate::now_ms(),
                    body: "{}".into(),
                },
            );
            store::write::<_, StoreError, _>(&*store, move |tx| {
                let (key, ev) = (key.clone(), ev.clone());
                Box::pin(async move { tx.append_event(&ev, &[key]).await })
            })
            .await
            .unwrap();
        }
        let cfg = DeliveryConfig {
            max_attempts,
            retry_base: Duration::from_millis(10),
            retry_max: Duration::from_millis(20),
            poll: Duration::from_millis(10),
            ..DeliveryConfig::default()
        };
        let task = Delivery::new(store.clone(), Outbox::default(), vec![sink.clone()], cfg).spawn();
        for _ in 0..500 {
            if sink.calls.lock().unwrap().len() >= calls {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Time for a call too many, if delivery were to make one.
        tokio::time::sleep(Duration::from_millis(200)).await;
        task.abort();
        let dead = store::read::<_, StoreError, _>(&*store, |tx| {
            Box::pin(async move { tx.dead_letters("m").await })
        })
        .await
        .unwrap();
        let calls = sink.calls.lock().unwrap().clone();
        (calls, dead.into_iter().map(|d| d.event_id).collect())
    }

    fn ids(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
        range.map(|i| format!("e{i}")).collect()
    }

    #[tokio::test]
    async fn a_refused_entry_and_those_after_it_are_sent_again_in_order() {
        let sink = Arc::new(Flaky {
            refuse: "e3".into(),
            refusals: Mutex::new(2),
            calls: Mutex::default(),
        });
        let (calls, dead) = deliver_ten(sink, 25, 4).await;
        assert_eq!(
            calls,
            [ids(1..=4), ids(3..=6), ids(3..=6), ids(7..=10)],
            "e1 and e2 acknowledged; e3 refused twice, then e3.. again from it"
        );
        assert!(dead.is_empty(), "{dead:?}");
    }

    #[tokio::test]
    async fn an_entry_refused_to_the_last_try_is_dead_lettered_and_the_batch_goes_on() {
        let sink = Arc::new(Flaky {
            refuse: "e3".into(),
            refusals: Mutex::new(u32::MAX),
            calls: Mutex::default(),
        });
        let (calls, dead) = deliver_ten(sink, 2, 4).await;
        assert_eq!(
            calls,
            [ids(1..=4), ids(3..=6), ids(4..=7), ids(8..=10)],
            "e3 dead-lettered at its second try; the stream goes on from e4"
        );
        assert_eq!(dead, ["e3"]);
    }

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
