//! The transactional outbox: how an operation records an event.
//!
//! An operation calls [`Outbox::emit`] inside the very transaction that makes
//! the change the event reports. The event row (its envelope, with a fresh
//! id) and the streams that must carry it are written by that transaction, so
//! the change and its event are committed together or not at all: a crash
//! after the commit loses nothing, since delivery ([`super::delivery`]) works
//! from the database, never from memory.

use std::sync::Arc;

use tokio::sync::watch;

use super::envelope::{envelope, EventFacts};
use crate::domain::ids::uuid_text;
use crate::domain::types::Meeting;
use crate::store::{NewEvent, StoreResult, StreamKey, Tx};

/// Sink kinds.
pub const WEBHOOK: &str = "webhook";
pub const EVENTBRIDGE: &str = "eventbridge";
pub const SQS: &str = "sqs";
pub const SNS: &str = "sns";
pub const LAMBDA: &str = "lambda";

/// An event ready to be appended (see [`Outbox::prepare`]).
pub struct Prepared {
    event: NewEvent,
    streams: Vec<StreamKey>,
    event_type: &'static str,
}

/// Records events; cloning shares it.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    /// Server-wide sinks that get every event of every meeting.
    global: Vec<&'static str>,
    /// Whether the meetings' own NotificationsConfiguration targets get events.
    meeting_targets: bool,
    /// Bumped after each append; delivery and live streams watch it.
    appended: watch::Sender<u64>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::new(Vec::new(), false)
    }
}

impl Outbox {
    pub fn new(global: Vec<&'static str>, meeting_targets: bool) -> Self {
        let (appended, _) = watch::channel(0);
        Outbox {
            inner: Arc::new(Inner {
                global,
                meeting_targets,
                appended,
            }),
        }
    }

    /// The sink kinds events are recorded for.
    pub fn sinks(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.global.iter().map(ToString::to_string).collect();
        if self.inner.meeting_targets {
            v.extend([SQS, SNS, LAMBDA].map(String::from));
        }
        v
    }

    /// Changes each time an event is appended (possibly before its commit:
    /// readers check the store).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.inner.appended.subscribe()
    }

    /// Wakes the readers (after a commit that appended events).
    pub fn wake(&self) {
        self.inner.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The streams an event of `meeting` goes to.
    pub fn streams(&self, meeting: &Meeting) -> Vec<StreamKey> {
        let key = |sink: &str, target: &str| StreamKey {
            sink: sink.to_string(),
            target: target.to_string(),
            meeting_id: meeting.meeting_id.to_string(),
        };
        let mut out: Vec<StreamKey> = self.inner.global.iter().map(|s| key(s, "")).collect();
        if let (true, Some(n)) = (self.inner.meeting_targets, &meeting.notifications) {
            for (sink, arn) in [
                (SQS, &n.sqs_queue_arn),
                (SNS, &n.sns_topic_arn),
                (LAMBDA, &n.lambda_function_arn),
            ] {
                if let Some(arn) = arn {
                    out.push(key(sink, arn));
                }
            }
        }
        out
    }

    /// Appends the event, in AWS's envelope, inside the caller's transaction.
    pub async fn emit(
        &self,
        tx: &mut dyn Tx,
        meeting: &Meeting,
        facts: EventFacts,
        at_ms: i64,
    ) -> StoreResult<()> {
        let event = self.prepare(meeting, &facts, at_ms);
        self.append(tx, &event).await
    }

    /// The event's row (a fresh id, the envelope) and its streams, made
    /// outside any transaction: an operation that knows its event before it
    /// writes builds it before its write is queued, so that the single
    /// writer only appends it ([`Outbox::append`]).
    pub fn prepare(&self, meeting: &Meeting, facts: &EventFacts, at_ms: i64) -> Prepared {
        // Time-ordered (UUID version 7): the store's unique index on event ids
        // then grows at its end, where a random id changed a page of its own
        // in every write transaction (BENCHMARKS.md, "CreateAttendee").
        let id = uuid_text(uuid::Uuid::now_v7());
        // Written from the envelope's structs: no map of members is built.
        let body = serde_json::to_string(&envelope(&id, meeting, facts, at_ms))
            .expect("an envelope serializes");
        let event_type = facts.event_type.name();
        Prepared {
            event: NewEvent {
                id,
                account_id: meeting.account_id.to_string(),
                meeting_id: meeting.meeting_id.to_string(),
                event_type: event_type.to_string(),
                created_at_ms: at_ms,
                body,
            },
            streams: self.streams(meeting),
            event_type,
        }
    }

    /// Appends a prepared event inside the caller's transaction.
    pub async fn append(&self, tx: &mut dyn Tx, p: &Prepared) -> StoreResult<()> {
        tx.append_event(&p.event, &p.streams).await?;
        metrics::counter!("convene_meeting_events_total", "event" => p.event_type).increment(1);
        self.wake();
        Ok(())
    }
}
