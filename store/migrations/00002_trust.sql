-- +goose Up
-- Audit entries name their tenant, and say which hash format they were sealed
-- with (1: before tenants were hashed; 2: tenant included).
ALTER TABLE audit ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- Resources a tenant registered (Organization, Dataset): the first request that
-- carries one registers it; later requests must carry an equal copy, and only
-- an audited update by the owner changes it. Names are per tenant.
CREATE TABLE resources (
    tenant     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    doc        TEXT NOT NULL,
    hash       TEXT NOT NULL,
    -- A dataset's home store and name, unique across tenants, so that no
    -- tenant can register another's data as its own. Empty for other kinds.
    store_key  TEXT NOT NULL DEFAULT '',
    version    BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, name)
);
CREATE UNIQUE INDEX resources_store ON resources (store_key) WHERE store_key <> '';

-- Tenants and the user id their workloads run as when the server is root.
CREATE TABLE tenants (
    name       TEXT PRIMARY KEY,
    uid        INTEGER NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE tenants;
DROP INDEX resources_store;
DROP TABLE resources;
ALTER TABLE audit DROP COLUMN version;
ALTER TABLE audit DROP COLUMN tenant;
