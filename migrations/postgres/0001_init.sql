-- Meetings, attendees, tags, transcription state, ended meetings and the
-- shared secrets: the same tables and constraints as ../sqlite/0001-0004, in
-- PostgreSQL's dialect (BIGSERIAL, BYTEA).

CREATE TABLE meetings (
    meeting_id           TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL,
    control_region       TEXT NOT NULL,
    media_region         TEXT NOT NULL,
    external_meeting_id  TEXT NOT NULL,
    meeting_host_id      TEXT,
    primary_meeting_id   TEXT,
    features             TEXT,
    tenant_ids           TEXT NOT NULL,
    notifications        TEXT,
    network_type         TEXT,
    client_request_token TEXT NOT NULL,
    created_at_ms        BIGINT NOT NULL,
    UNIQUE (account_id, client_request_token)
);

CREATE INDEX meetings_by_account ON meetings (account_id);
CREATE INDEX meetings_by_primary ON meetings (primary_meeting_id);

CREATE TABLE attendees (
    seq              BIGSERIAL PRIMARY KEY,
    meeting_id       TEXT NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    attendee_id      TEXT NOT NULL UNIQUE,
    external_user_id TEXT NOT NULL,
    join_token       TEXT NOT NULL UNIQUE,
    audio            TEXT NOT NULL,
    video            TEXT NOT NULL,
    content          TEXT NOT NULL,
    UNIQUE (meeting_id, external_user_id)
);

CREATE INDEX attendees_by_meeting ON attendees (meeting_id, seq);

CREATE TABLE meeting_tags (
    meeting_id TEXT NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    tag_key    TEXT NOT NULL,
    tag_value  TEXT NOT NULL,
    position   BIGINT NOT NULL,
    PRIMARY KEY (meeting_id, tag_key)
);

CREATE TABLE transcriptions (
    meeting_id    TEXT PRIMARY KEY REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    configuration TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL
);

CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE ended_meetings (
    meeting_id  TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    ended_at_ms BIGINT NOT NULL
);

CREATE INDEX ended_meetings_by_time ON ended_meetings (ended_at_ms);
CREATE INDEX meetings_by_creation ON meetings (created_at_ms);
