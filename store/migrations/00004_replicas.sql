-- +goose Up
-- Leases: who runs the controller loop when several servers share a store.
-- epoch grows every time a lease changes hands (the fencing token).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    expires_at TEXT NOT NULL
);

-- When each attempt's agent last reported, whichever server received it.
CREATE TABLE heartbeats (
    run_id  TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at      TEXT NOT NULL,
    PRIMARY KEY (run_id, attempt)
);

-- API tokens, stored as SHA-256 hashes of the secret. admin tokens manage
-- tenants and rules.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    admin      INTEGER NOT NULL DEFAULT 0,
    note       TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX tokens_tenant ON tokens (tenant);

-- +goose Down
DROP TABLE tokens;
DROP TABLE heartbeats;
DROP TABLE leases;
