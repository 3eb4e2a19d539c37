// Package run carries a plan out: the durable lifecycle of a run from
// planned through staging, queued, running and checkpointed to succeeded,
// failed or cancelled, with recovery by migration when a site is lost.
//
// Every step records its intent in the store before it acts and acts through
// idempotent calls (backend Submit is keyed by run id and attempt), so a
// controller killed at any moment resumes on restart with no run lost and
// none launched twice. Every state change, plan, decision and checkpoint
// move is appended to the audit chain in the same transaction.
package run
