-- How many attendees each meeting holds, kept up to date by triggers, so
-- that CreateAttendee checks the meeting's attendee limit with one lookup
-- instead of counting the meeting's roster (up to 250 index entries) in the
-- single writer's transaction. A derived table of this store only:
-- `convene migrate` does not copy it, and PostgreSQL counts.

CREATE TABLE attendee_counts (
    meeting_id TEXT PRIMARY KEY,
    n          INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO attendee_counts (meeting_id, n)
    SELECT meeting_id, COUNT(*) FROM attendees GROUP BY meeting_id;

CREATE TRIGGER attendee_counts_added AFTER INSERT ON attendees BEGIN
    INSERT INTO attendee_counts (meeting_id, n) VALUES (NEW.meeting_id, 1)
        ON CONFLICT (meeting_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER attendee_counts_removed AFTER DELETE ON attendees BEGIN
    UPDATE attendee_counts SET n = n - 1 WHERE meeting_id = OLD.meeting_id;
END;

CREATE TRIGGER attendee_counts_meeting_deleted AFTER DELETE ON meetings BEGIN
    DELETE FROM attendee_counts WHERE meeting_id = OLD.meeting_id;
END;
