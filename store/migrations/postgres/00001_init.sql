-- +goose Up
-- The same tables as the SQLite store (../00001_init.sql onwards), in
-- PostgreSQL's types. Run data and audit payloads are text, not jsonb: the
-- audit hash covers their exact bytes.
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
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX runs_tenant_created ON runs (tenant, created_at);
CREATE INDEX runs_state ON runs (state);

CREATE TABLE events (
    run_id     TEXT NOT NULL REFERENCES runs (id),
    seq        BIGINT NOT NULL,
    time       TIMESTAMPTZ NOT NULL,
    kind       TEXT NOT NULL,
    from_state TEXT NOT NULL DEFAULT '',
    to_state   TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE idempotency_keys (
    tenant     TEXT NOT NULL,
    key        TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- Audit: append-only, hash-chained; seq counts from 1 with no gaps. time is
-- the text the hash covers.
CREATE TABLE audit (
    seq       BIGINT PRIMARY KEY,
    time      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    run_id    TEXT NOT NULL DEFAULT '',
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    tenant    TEXT NOT NULL DEFAULT '',
    version   INTEGER NOT NULL DEFAULT 2
);
CREATE INDEX audit_run ON audit (run_id, seq);

-- The chain's head, one row. Every append locks it (SELECT ... FOR UPDATE)
-- first, so appends from any number of servers are serialised by the
-- database and the chain stays linear.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE resources (
    tenant     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    doc        TEXT NOT NULL,
    hash       TEXT NOT NULL,
    store_key  TEXT NOT NULL DEFAULT '',
    version    BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, kind, name)
);
CREATE UNIQUE INDEX resources_store ON resources (store_key) WHERE store_key <> '';

CREATE TABLE tenants (
    name       TEXT PRIMARY KEY,
    uid        INTEGER NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE heartbeats (
    run_id  TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, attempt)
);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    admin      BOOLEAN NOT NULL DEFAULT false,
    note       TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX tokens_tenant ON tokens (tenant);

-- Rules as server state (issue 11): each accepted change to the operator's
-- rule packs, and the controller's last law check.
CREATE TABLE rule_revisions (
    rev        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    files      TEXT NOT NULL,
    who        TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE law_checks (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    rev        BIGINT NOT NULL,
    day        TEXT NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE law_checks;
DROP TABLE rule_revisions;
DROP TABLE tokens;
DROP TABLE heartbeats;
DROP TABLE leases;
DROP TABLE tenants;
DROP TABLE resources;
DROP TABLE audit_head;
DROP TABLE audit;
DROP TABLE idempotency_keys;
DROP TABLE events;
DROP TABLE runs;
