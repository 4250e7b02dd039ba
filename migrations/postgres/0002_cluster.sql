-- What the nodes of one cluster share besides the data: who is alive (and
-- where its media endpoint is), and the request-rate buckets of each
-- (account, operation), so that an account gets its rate once, not once per node.

CREATE TABLE nodes (
    node_id        TEXT PRIMARY KEY,
    media_addr     TEXT NOT NULL,
    http_addr      TEXT NOT NULL,
    started_at_ms  BIGINT NOT NULL,
    heartbeat_ms   BIGINT NOT NULL
);

CREATE TABLE throttle_buckets (
    account_id TEXT NOT NULL,
    operation  TEXT NOT NULL,
    tokens     DOUBLE PRECISION NOT NULL,
    updated_us BIGINT NOT NULL,
    PRIMARY KEY (account_id, operation)
);
