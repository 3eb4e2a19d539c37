-- +goose Up
-- What each run holds of a site's capacity (pool index, accelerator and
-- count; 0 when it holds nothing), so that the sum per pool, tenant or
-- accelerator can be checked in the transaction that changes it (the same
-- columns as ../00005_capacity.sql).
ALTER TABLE runs ADD COLUMN hold_site TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN hold_pool INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN hold_accelerator TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN hold_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_holds ON runs (hold_site, hold_pool) WHERE hold_count > 0;
-- Every plan sums the holds by tenant and pool (Holds): from this index
-- alone, not from the run rows, whose documents make a scan of thousands
-- of runs read megabytes.
CREATE INDEX runs_held ON runs (tenant, hold_site, hold_pool, hold_accelerator, hold_count) WHERE hold_count > 0;

-- +goose Down
DROP INDEX runs_held;
DROP INDEX runs_holds;
ALTER TABLE runs DROP COLUMN hold_count;
ALTER TABLE runs DROP COLUMN hold_accelerator;
ALTER TABLE runs DROP COLUMN hold_pool;
ALTER TABLE runs DROP COLUMN hold_site;
