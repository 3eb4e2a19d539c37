-- +goose Up
-- A tenant's entries of some kinds (its transfer ledger, a page at a
-- time) are read from this index: from the tenant's (audit_tenant), each
-- page read every entry of the tenant after the page's start to find the
-- few of those kinds, and any tenant may ask again and again.
CREATE INDEX audit_tenant_kind ON audit (tenant, kind, seq);
-- The planner counts a tenant's entries of a kind as the tenant's share
-- of the log times the kind's, as if the two were unrelated: a tenant with
-- many entries and few transfers, in a log with many transfers of other
-- tenants, had a page of its transfers read in seq order through the
-- whole log after the page's start, expecting to find a page soon. The
-- statistics of the pairs (ANALYZE keeps them) say how many there are.
CREATE STATISTICS audit_tenant_kind_stats (mcv) ON tenant, kind FROM audit;

-- +goose Down
DROP STATISTICS audit_tenant_kind_stats;
DROP INDEX audit_tenant_kind;
