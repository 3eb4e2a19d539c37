// Package run carries a plan out: the durable lifecycle of a run from
// planned through staging, queued, running and checkpointed to succeeded,
// failed or cancelled, with recovery by migration when a site is lost.
//
// Every step records its intent in the store before it acts and acts through
// idempotent calls (backend Submit is keyed by run id and attempt), so a
// controller killed at any moment resumes on restart with no run lost and
// none launched twice. Every state change, plan, decision and checkpoint
// move is appended to the audit chain in the same transaction.
//
// In the staging state, before every attempt, the job's stored datasets go
// to the attempt's site through transfer.Stager (Config.Stager): the law is
// asked again, a refusal fails the run with the denying rules recorded, and
// each staging appends a transfer entry to the audit log. A controller
// killed after staging but before recording it stages again on restart;
// that sends no chunk and appends a second ledger entry with zero bytes
// sent. Keys reach the job as 0600 files whose paths are in its environment
// (EnvKeyFilePrefix); the attempt's scratch with any key file and the
// plaintext the job unsealed is removed when the attempt ends.
package run
