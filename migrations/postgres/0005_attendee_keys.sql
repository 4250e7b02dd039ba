-- The same keys as SQLite's migration 7 (../sqlite/0007_attendee_keys.sql):
-- no unique index on join_token (a token carries its attendee's id, and no
-- query looks an attendee up by it), and attendee ids unique within their
-- meeting, where every query finds them (they are unique across meetings by
-- how they are made). Two random-keyed indexes fewer for every insert.

ALTER TABLE attendees DROP CONSTRAINT attendees_join_token_key;
ALTER TABLE attendees DROP CONSTRAINT attendees_attendee_id_key;
ALTER TABLE attendees ADD CONSTRAINT attendees_meeting_attendee_key UNIQUE (meeting_id, attendee_id);
