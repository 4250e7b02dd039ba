//! The outbox and the event log on PostgreSQL (the tables of
//! `migrations/postgres/0003_events.sql`).
//!
//! Streams are claimed with `SELECT … FOR UPDATE SKIP LOCKED`: nodes claiming
//! at once each get streams no other node holds, without waiting on each
//! other's row locks; the lease columns keep a stream with its holder after
//! the claiming transaction commits.

use tokio_postgres::Row;

use super::PgTx;
use crate::domain::ids::{AccountId, MeetingId};
use crate::domain::types::Meeting;
use crate::store::{
    DeadLetter, NewEvent, StoreError, StoreResult, StoredEvent, StreamClaim, StreamKey,
    StreamUpdate,
};

const EVENT_COLUMNS: &str = "seq, id, account_id, meeting_id, event_type, created_at_ms, body";

fn event_from_row(r: &Row) -> StoredEvent {
    StoredEvent {
        seq: r.get(0),
        id: r.get(1),
        account_id: r.get(2),
        meeting_id: r.get(3),
        event_type: r.get(4),
        created_at_ms: r.get(5),
        body: r.get(6),
    }
}

fn attempts_from(r: &Row, i: usize) -> u32 {
    u32::try_from(r.get::<_, i32>(i)).unwrap_or(0)
}

fn attempts_to(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn key_from_row(r: &Row) -> StreamKey {
    StreamKey {
        sink: r.get(0),
        target: r.get(1),
        meeting_id: r.get(2),
    }
}

impl PgTx<'_> {
    pub(super) async fn append_event_now(
        &self,
        e: &NewEvent,
        streams: &[StreamKey],
    ) -> StoreResult<i64> {
        let rows = self
            .query(
                "INSERT INTO events (id, account_id, meeting_id, event_type, created_at_ms, body) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
                &[
                    &e.id,
                    &e.account_id,
                    &e.meeting_id,
                    &e.event_type,
                    &e.created_at_ms,
                    &e.body,
                ],
            )
            .await?;
        let seq: i64 = rows
            .first()
            .map(|r| r.get(0))
            .ok_or_else(|| StoreError::Backend("the event insert returned no seq".into()))?;
        for k in streams {
            // A new stream starts just before this event: it carries the
            // meeting's events from now on.
            self.exec(
                "INSERT INTO event_streams (sink, target, meeting_id, last_seq, delivered_seq) \
                 VALUES ($1, $2, $3, $4::BIGINT, $4::BIGINT - 1) \
                 ON CONFLICT (sink, target, meeting_id) DO UPDATE SET last_seq = excluded.last_seq",
                &[&k.sink, &k.target, &k.meeting_id, &seq],
            )
            .await?;
        }
        Ok(seq)
    }

    pub(super) async fn claim_streams_now(
        &self,
        sinks: &[String],
        holder: &str,
        now_ms: i64,
        lease_expires_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<StreamClaim>> {
        let limit = i64::from(limit);
        let rows = self
            .query(
                "UPDATE event_streams s SET lease_holder = $1, lease_expires_ms = $2 \
                 FROM (SELECT sink, target, meeting_id FROM event_streams \
                       WHERE delivered_seq < last_seq AND next_attempt_ms <= $3 \
                         AND (lease_holder IS NULL OR lease_expires_ms <= $3) \
                         AND sink = ANY($4) \
                       ORDER BY next_attempt_ms LIMIT $5 \
                       FOR UPDATE SKIP LOCKED) due \
                 WHERE s.sink = due.sink AND s.target = due.target AND s.meeting_id = due.meeting_id \
                 RETURNING s.sink, s.target, s.meeting_id, s.delivered_seq, s.attempts",
                &[&holder, &lease_expires_ms, &now_ms, &sinks, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| StreamClaim {
                key: key_from_row(r),
                delivered_seq: r.get(3),
                attempts: attempts_from(r, 4),
            })
            .collect())
    }

    pub(super) async fn events_after(
        &self,
        column: &str,
        value: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE {column} = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        let limit = i64::from(limit);
        let rows = self.query(&sql, &[&value, &after_seq, &limit]).await?;
        Ok(rows.iter().map(event_from_row).collect())
    }

    /// The account's newest events, newest first.
    pub(super) async fn latest_events_now(
        &self,
        account_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE account_id = $1 ORDER BY seq DESC LIMIT $2"
        );
        let limit = i64::from(limit);
        let rows = self.query(&sql, &[&account_id, &limit]).await?;
        Ok(rows.iter().map(event_from_row).collect())
    }

    pub(super) async fn update_stream_now(
        &self,
        k: &StreamKey,
        holder: &str,
        u: &StreamUpdate,
    ) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE event_streams SET delivered_seq = GREATEST(delivered_seq, $5), attempts = $6, \
                     next_attempt_ms = $7, last_error = $8, \
                     lease_holder = CASE WHEN $9::BIGINT IS NULL THEN NULL ELSE lease_holder END, \
                     lease_expires_ms = COALESCE($9::BIGINT, 0) \
                 WHERE sink = $1 AND target = $2 AND meeting_id = $3 AND lease_holder = $4",
                &[
                    &k.sink,
                    &k.target,
                    &k.meeting_id,
                    &holder,
                    &u.delivered_seq,
                    &attempts_to(u.attempts),
                    &u.next_attempt_ms,
                    &u.last_error,
                    &u.lease_expires_ms,
                ],
            )
            .await?;
        Ok(n > 0)
    }

    pub(super) async fn release_leases_now(&self, holder: &str) -> StoreResult<u64> {
        self.exec(
            "UPDATE event_streams SET lease_holder = NULL, lease_expires_ms = 0 WHERE lease_holder = $1",
            &[&holder],
        )
        .await
    }

    pub(super) async fn record_dead_letter_now(&self, d: &DeadLetter) -> StoreResult<()> {
        self.exec(
            "INSERT INTO event_dead_letters \
                 (sink, target, meeting_id, event_seq, event_id, attempts, last_error, dead_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (sink, target, event_seq) DO UPDATE SET meeting_id = excluded.meeting_id, \
                 event_id = excluded.event_id, attempts = excluded.attempts, \
                 last_error = excluded.last_error, dead_at_ms = excluded.dead_at_ms",
            &[
                &d.key.sink,
                &d.key.target,
                &d.key.meeting_id,
                &d.event_seq,
                &d.event_id,
                &attempts_to(d.attempts),
                &d.last_error,
                &d.dead_at_ms,
            ],
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn dead_letters_now(&self, meeting_id: &str) -> StoreResult<Vec<DeadLetter>> {
        let rows = self
            .query(
                "SELECT sink, target, meeting_id, event_seq, event_id, attempts, last_error, dead_at_ms \
                 FROM event_dead_letters WHERE meeting_id = $1 ORDER BY event_seq",
                &[&meeting_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| DeadLetter {
                key: key_from_row(r),
                event_seq: r.get(3),
                event_id: r.get(4),
                attempts: attempts_from(r, 5),
                last_error: r.get(6),
                dead_at_ms: r.get(7),
            })
            .collect())
    }

    pub(super) async fn prune_events_now(&self, before_ms: i64) -> StoreResult<u64> {
        let n = self
            .exec(
                "DELETE FROM events WHERE created_at_ms < $1 AND NOT EXISTS ( \
                     SELECT 1 FROM event_streams s \
                     WHERE s.meeting_id = events.meeting_id AND s.delivered_seq < events.seq)",
                &[&before_ms],
            )
            .await?;
        self.exec(
            "DELETE FROM event_streams WHERE delivered_seq >= last_seq AND NOT EXISTS ( \
                 SELECT 1 FROM events e WHERE e.meeting_id = event_streams.meeting_id)",
            &[],
        )
        .await?;
        self.exec(
            "DELETE FROM event_dead_letters WHERE dead_at_ms < $1",
            &[&before_ms],
        )
        .await?;
        Ok(n)
    }

    pub(super) async fn replica_meetings_now(
        &self,
        account: &AccountId,
        primary: &MeetingId,
    ) -> StoreResult<Vec<Meeting>> {
        let sql = format!(
            "SELECT {} FROM meetings WHERE account_id = $1 AND primary_meeting_id = $2 \
             ORDER BY created_at_ms, meeting_id",
            super::MEETING_COLUMNS
        );
        let rows = self
            .query(&sql, &[&account.as_str(), &primary.as_str()])
            .await?;
        rows.iter().map(super::meeting_from_row).collect()
    }
}
