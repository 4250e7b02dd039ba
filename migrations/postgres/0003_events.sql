-- Meeting events: the transactional outbox and the event log, as in
-- ../sqlite/0005_events.sql. `events.seq` comes from a sequence; because
-- every write transaction holds the cluster-wide writer lock from before its
-- first insert until its commit, events commit in `seq` order, so a reader
-- that has seen `seq` N never later finds a committed event below N.

CREATE TABLE events (
    seq           BIGSERIAL PRIMARY KEY,
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
