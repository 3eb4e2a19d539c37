-- +goose Up
-- A dataset's store key is its store's address as the tenant wrote it,
-- of any length. The unique index on the key itself refused an entry over
-- 2,704 bytes: a registration of a longer key failed with the database's
-- error (and the same registration succeeded on SQLite). The index is on
-- the key's SHA-256 instead; the store's lookups of a key compare the
-- digest, from the index, and then the key.
--
-- convert_to is stable only because a database's encoding could differ;
-- one database's never changes, so the digest of a key is immutable, as
-- an index's expression must be.
CREATE FUNCTION meridian_store_key_digest(key TEXT) RETURNS BYTEA
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS 'SELECT sha256(convert_to(key, ''UTF8''))';

DROP INDEX resources_store;
CREATE UNIQUE INDEX resources_store ON resources (meridian_store_key_digest(store_key)) WHERE store_key <> '';

-- +goose Down
DROP INDEX resources_store;
CREATE UNIQUE INDEX resources_store ON resources (store_key) WHERE store_key <> '';
DROP FUNCTION meridian_store_key_digest(TEXT);
