// Package store persists runs, their events, idempotency keys and the audit
// chain. SQLite (pure Go driver, WAL) is the embedded default; the Store
// interface is what a PostgreSQL implementation would satisfy, and the SQL
// is kept portable where that costs nothing. Every change to a run, with its
// events and audit entries, is one transaction.
package store
