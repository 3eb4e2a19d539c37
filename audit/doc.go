// Package audit is Meridian's tamper-evident log: append-only entries for
// every plan, decision, state change, checkpoint move and data transfer, each
// linked to the one before by a keyed hash, and Verify, which names the first
// entry that was modified, deleted or reordered.
//
// # Threat model
//
// Each entry's hash is HMAC-SHA-256, keyed with a secret kept in a file that
// only the server's user may read (mode 0600, see LoadKey), over the entry's
// canonical fields and the previous entry's hash. Someone who can write the
// database but cannot read the key file cannot edit, drop or reorder entries
// and then recompute the chain: Verify finds the first break. Someone with
// both the database and the key can rewrite history; keep the key on other
// storage, or anchor the head hash (printed by Verify) somewhere they cannot
// reach, to detect that too. Dropping entries from the end of the log leaves
// a valid, shorter chain; compare the count and head hash with an anchored
// copy to detect truncation.
package audit
