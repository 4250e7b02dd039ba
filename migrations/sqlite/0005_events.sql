-- Meeting events: a transactional outbox and the event log.
--
-- `events` holds every event in AWS's envelope, appended in the same
-- transaction as the state change it reports; `seq` orders them. Each
-- (sink, target, meeting) pair that must receive a meeting's events has a row
-- in `event_streams`: its cursor (`delivered_seq`), the newest event appended
-- for it (`last_seq`), its retry state, and a lease (holder and expiry) so that
-- one node at a time delivers a stream's events, in order.

CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL,
    meeting_id    TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX events_by_meeting ON events (meeting_id, seq);
CREATE INDEX events_by_account ON events (account_id, seq);
CREATE INDEX events_by_time ON events (created_at_ms);

CREATE TABLE event_streams (
    sink             TEXT NOT NULL,
    target           TEXT NOT NULL,
    meeting_id       TEXT NOT NULL,
    last_seq         BIGINT NOT NULL,
    delivered_seq    BIGINT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT,
    lease_holder     TEXT,
    lease_expires_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (sink, target, meeting_id)
);
CREATE INDEX event_streams_due ON event_streams (next_attempt_ms)
    WHERE delivered_seq < last_seq;

CREATE TABLE event_dead_letters (
    sink        TEXT NOT NULL,
    target      TEXT NOT NULL,
    meeting_id  TEXT NOT NULL,
    event_seq   BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    last_error  TEXT NOT NULL,
    dead_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (sink, target, event_seq)
);
