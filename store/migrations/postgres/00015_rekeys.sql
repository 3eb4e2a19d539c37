-- +goose Up
-- The store key format each kind of resource was last re-keyed to: a
-- start re-keys a kind's rows (every row read, the table's writes held
-- for it) only when the format it brings is not the one recorded here.
CREATE TABLE rekeys (
    kind   TEXT NOT NULL PRIMARY KEY,
    format TEXT NOT NULL
);
-- The keys that rows of a clash would all hold once re-keyed (a store
-- registered by tenants under several spellings), which none of them may
-- take and no other registration either, until an operator settles the
-- clash and a start re-keys: else a third tenant registered the data
-- under today's key, which neither row of the clash held.
CREATE TABLE rekey_clashes (
    kind      TEXT NOT NULL,
    store_key TEXT NOT NULL
);
CREATE INDEX rekey_clashes_key ON rekey_clashes (meridian_store_key_digest(store_key));

-- +goose Down
DROP TABLE rekey_clashes;
DROP TABLE rekeys;
