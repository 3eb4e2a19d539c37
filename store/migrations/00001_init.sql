-- +goose Up
-- Runs: the queryable columns plus an opaque JSON document owned by the run package.
CREATE TABLE runs (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    job        TEXT NOT NULL,
    state      TEXT NOT NULL,
    site       TEXT NOT NULL DEFAULT '',
    attempt    INTEGER NOT NULL DEFAULT 0,
    handle     TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX runs_tenant_created ON runs (tenant, created_at);
CREATE INDEX runs_state ON runs (state);

-- Events: the timeline of one run; seq counts from 1 per run.
CREATE TABLE events (
    run_id     TEXT NOT NULL REFERENCES runs (id),
    seq        BIGINT NOT NULL,
    time       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    from_state TEXT NOT NULL DEFAULT '',
    to_state   TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, seq)
);

-- Idempotency keys: a client's retry of one submission maps to the same run.
CREATE TABLE idempotency_keys (
    tenant     TEXT NOT NULL,
    key        TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- Audit: append-only, hash-chained; seq counts from 1 with no gaps.
CREATE TABLE audit (
    seq       BIGINT PRIMARY KEY,
    time      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    run_id    TEXT NOT NULL DEFAULT '',
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_run ON audit (run_id, seq);

-- +goose Down
DROP TABLE audit;
DROP TABLE idempotency_keys;
DROP TABLE events;
DROP TABLE runs;
