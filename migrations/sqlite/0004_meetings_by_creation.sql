-- Meetings past their maximum duration are found by creation time.

CREATE INDEX meetings_by_creation ON meetings (created_at_ms);
