-- +goose Up
-- Readers of the audit log select by kind (the transfer ledger, export
-- volumes, staged copies) and by tenant (a tenant's own entries, a page at a
-- time): from these indexes, not from a scan of every entry, whose plan
-- payloads make a log of thousands of runs hundreds of megabytes.
CREATE INDEX audit_kind ON audit (kind, seq);
CREATE INDEX audit_tenant ON audit (tenant, seq);

-- +goose Down
DROP INDEX audit_tenant;
DROP INDEX audit_kind;
