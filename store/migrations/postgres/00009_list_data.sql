-- +goose Up
-- A list of runs without their documents drops them in the database. A
-- row whose data is not a JSON object (written with the database's own
-- tools) made that fail, and with it every list the run was in: a
-- tenant's, the sweep's, the capacity order's. This reads such data as
-- NULL, which marks that run alone. Only errors of the data are caught
-- (a cancelled or timed-out statement still ends the list).
-- +goose StatementBegin
CREATE FUNCTION meridian_list_data(data TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    j JSONB;
BEGIN
    BEGIN
        j := data::jsonb;
    EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
        RETURN NULL;
    END;
    IF jsonb_typeof(j) <> 'object' THEN
        RETURN NULL;
    END IF;
    RETURN (j - 'documents')::text;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION meridian_list_data(TEXT);
