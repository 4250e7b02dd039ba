-- The attendees table again, with two random-keyed unique indexes fewer:
--   * join_token was UNIQUE, though no query looks an attendee up by it and a
--     token carries its attendee's id (ids::JoinToken), so two can never be
--     equal. Its index held a 98-byte random key per attendee;
--   * attendee_id was UNIQUE on its own; every query that finds an attendee
--     names its meeting too, so the key is now (meeting_id, attendee_id): a
--     meeting's attendees sit together in it. Attendee ids stay unique
--     across meetings by how they are made (122 random bits, ids::AttendeeId).
-- Each insert changed a page of each random index somewhere in the file: in
-- the single writer's commit, two of about five pages written per attendee
-- (BENCHMARKS.md, "CreateAttendee"). SQLite cannot drop a column's UNIQUE, so
-- the table is copied (a store with 10 million attendees takes minutes, once).
-- Attendee numbers (seq) are kept, and so is the AUTOINCREMENT high-water
-- mark, so a number is never handed out twice (page tokens hold them).

CREATE TABLE attendees_new (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    meeting_id       TEXT NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    attendee_id      TEXT NOT NULL,
    external_user_id TEXT NOT NULL,
    join_token       TEXT NOT NULL,
    audio            TEXT NOT NULL,
    video            TEXT NOT NULL,
    content          TEXT NOT NULL,
    UNIQUE (meeting_id, external_user_id),
    UNIQUE (meeting_id, attendee_id)
);

INSERT INTO attendees_new (seq, meeting_id, attendee_id, external_user_id, join_token,
                           audio, video, content)
    SELECT seq, meeting_id, attendee_id, external_user_id, join_token, audio, video, content
    FROM attendees ORDER BY seq;

-- The old table's high-water mark goes with the new one (DROP TABLE deletes
-- the row named after the dropped table; RENAME renames the new one's).
DELETE FROM sqlite_sequence WHERE name = 'attendees_new';
UPDATE sqlite_sequence SET name = 'attendees_new' WHERE name = 'attendees';

DROP TABLE attendees;
ALTER TABLE attendees_new RENAME TO attendees;

CREATE INDEX attendees_by_meeting ON attendees (meeting_id, seq);

CREATE TRIGGER attendee_counts_removed AFTER DELETE ON attendees BEGIN
    UPDATE attendee_counts SET n = n - 1 WHERE meeting_id = OLD.meeting_id;
END;
