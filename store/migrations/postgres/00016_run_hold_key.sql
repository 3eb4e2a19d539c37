-- +goose Up
-- The dataset whose key a held run waits for (the SQLite migration of
-- the same name says why and what each value means; its expression and
-- this function read the hold alike, keys exactly as written, but for a
-- key written twice, the last of which this function reads): generated from the row's state and data, so no writer can
-- give it a value that disagrees with them, and computed for every row
-- already there as the column is added, in this migration's transaction. Only a held run's data is read
-- (as jsonb, its error caught as in meridian_list_data); a write of any
-- other row costs nothing more.
-- +goose StatementBegin
CREATE FUNCTION meridian_hold_key(data TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL UNSAFE AS $$
DECLARE
    j JSONB;
    k JSONB;
    r JSONB;
    reason TEXT;
    ds TEXT;
    p INTEGER;
    q INTEGER;
BEGIN
    BEGIN
        j := data::jsonb;
    EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
        RETURN '*';
    END;
    IF jsonb_typeof(j) <> 'object' OR jsonb_typeof(j -> 'hold') NOT IN ('object', 'null') THEN
        RETURN '*';
    END IF;
    k := j #> '{hold,keyDataset}';
    IF jsonb_typeof(k) = 'string' AND k #>> '{}' <> '' THEN
        RETURN k #>> '{}';
    END IF;
    IF jsonb_typeof(k) NOT IN ('string', 'null') THEN
        RETURN '*';
    END IF;
    r := j #> '{hold,reason}';
    IF jsonb_typeof(r) NOT IN ('string', 'null') THEN
        RETURN '*';
    END IF;
    reason := r #>> '{}';
    p := strpos(reason, 'send the key of dataset ');
    IF jsonb_typeof(r) IS DISTINCT FROM 'string' OR p = 0 THEN
        RETURN NULL;
    END IF;
    q := strpos(reason, ' again (meridian dataset send-key ');
    IF q <= p + 24 OR strpos(substr(reason, p + 1), 'send the key of dataset ') > 0 THEN
        RETURN '*';
    END IF;
    ds := substr(reason, p + 24, q - p - 24);
    IF strpos(reason, 'send the key of dataset ' || ds || ' again (meridian dataset send-key ' || ds || '): ') <> p THEN
        RETURN '*';
    END IF;
    RETURN ds;
END
$$;
-- +goose StatementEnd
ALTER TABLE runs ADD COLUMN hold_key TEXT GENERATED ALWAYS AS (CASE WHEN state = 'held' THEN meridian_hold_key(data) END) STORED;
CREATE INDEX runs_hold_key ON runs (tenant, hold_key) WHERE hold_key IS NOT NULL;

-- +goose Down
DROP INDEX runs_hold_key;
ALTER TABLE runs DROP COLUMN hold_key;
DROP FUNCTION meridian_hold_key(TEXT);
