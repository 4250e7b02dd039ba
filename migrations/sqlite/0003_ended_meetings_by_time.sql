-- Ended meetings are forgotten after a retention time: find old ones quickly.

CREATE INDEX ended_meetings_by_time ON ended_meetings (ended_at_ms);
