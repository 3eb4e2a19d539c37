-- +goose Up
-- A tenant's entries of some kinds (its transfer ledger, a page at a
-- time) are read from this index: from the tenant's (audit_tenant), each
-- page read every entry of the tenant after the page's start to find the
-- few of those kinds, and any tenant may ask again and again.
CREATE INDEX audit_tenant_kind ON audit (tenant, kind, seq);

-- +goose Down
DROP INDEX audit_tenant_kind;
