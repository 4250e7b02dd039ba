-- Meetings that were deleted (ended), so that a client joining one later is
-- told "meeting ended" rather than "unknown". Only the ids are kept.

CREATE TABLE ended_meetings (
    meeting_id  TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    ended_at_ms BIGINT NOT NULL
);
