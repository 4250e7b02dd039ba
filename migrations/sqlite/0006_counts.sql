-- How many attendees each meeting holds and how many meetings each account
-- holds, so that CreateAttendee and CreateMeeting check their limits with one
-- lookup instead of counting rows in the single writer's transaction (a
-- meeting's roster is up to 250 index entries; an account's meetings have no
-- bound but the quota, so CreateMeeting's cost grew with them). The store's
-- inserts raise the counts themselves (store/sqlite.rs: a trigger on INSERT
-- would make every insert keep a statement journal, a copy of each page it
-- changes); deletes, rarer, are counted by triggers. Derived tables of this
-- store only: `convene migrate` does not copy them, and PostgreSQL counts.

CREATE TABLE attendee_counts (
    meeting_id TEXT PRIMARY KEY,
    n          INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO attendee_counts (meeting_id, n)
    SELECT meeting_id, COUNT(*) FROM attendees GROUP BY meeting_id;

CREATE TABLE meeting_counts (
    account_id TEXT PRIMARY KEY,
    n          INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO meeting_counts (account_id, n)
    SELECT account_id, COUNT(*) FROM meetings GROUP BY account_id;

CREATE TRIGGER meeting_counts_removed AFTER DELETE ON meetings BEGIN
    UPDATE meeting_counts SET n = n - 1 WHERE account_id = OLD.account_id;
END;

CREATE TRIGGER attendee_counts_removed AFTER DELETE ON attendees BEGIN
    UPDATE attendee_counts SET n = n - 1 WHERE meeting_id = OLD.meeting_id;
END;

CREATE TRIGGER attendee_counts_meeting_deleted AFTER DELETE ON meetings BEGIN
    DELETE FROM attendee_counts WHERE meeting_id = OLD.meeting_id;
END;
