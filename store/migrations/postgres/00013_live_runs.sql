-- +goose Up
-- A submission counts its tenant's runs not yet ended, against the most a
-- tenant may have (Limit.Live): the partial index holds only those runs,
-- so the count reads them and not the tenant's whole history.
CREATE INDEX runs_tenant_live ON runs (tenant) WHERE state NOT IN ('succeeded', 'failed', 'cancelled');

-- +goose Down
DROP INDEX runs_tenant_live;
