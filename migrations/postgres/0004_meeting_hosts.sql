-- Which node hosts each meeting's media (mixes its audio, forwards its video):
-- one node at a time, so that attendees whose signaling lands on different
-- nodes still meet in one place. A node takes a meeting when no row names a
-- live node (a heartbeat in `nodes` within the node TTL); the other nodes relay
-- the meeting's signaling connections to it.

CREATE TABLE meeting_hosts (
    meeting_id TEXT PRIMARY KEY,
    node_id    TEXT NOT NULL,
    since_ms   BIGINT NOT NULL
);

CREATE INDEX meeting_hosts_by_node ON meeting_hosts (node_id);
