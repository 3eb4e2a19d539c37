-- +goose Up
-- A run whose tenant, hold_site or hold_accelerator is stored as bytes (a
-- BLOB), or whose hold_pool or hold_count is not an integer (a row written
-- outside Meridian), matches none of the limits' comparisons with text and
-- integers: what it held was left out of every quota and pool sum. This
-- index holds only such rows (none, as Meridian writes its runs): a change
-- with limits looks into it once, and is refused while it is not empty.
CREATE INDEX runs_hold_type ON runs (id) WHERE typeof(tenant) <> 'text' OR typeof(hold_site) <> 'text'
	OR typeof(hold_accelerator) <> 'text' OR typeof(hold_pool) <> 'integer' OR typeof(hold_count) <> 'integer';

-- +goose Down
DROP INDEX runs_hold_type;
