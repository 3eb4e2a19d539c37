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
// both the database and the key can recompute the chain; the anchor below
// still catches a rewrite of anchored entries, unless they can also remove
// or replace the anchor. Keep the key, and the anchor, on other storage.
//
// # Anchors
//
// Dropping entries from the end leaves a valid, shorter chain, which the
// chain alone cannot tell from an intact one. An anchor (Anchors) is a
// signed statement of the chain's length and head hash, kept in its own
// directory with its own Ed25519 key and moved only forward, onto a history
// that still holds the entry it anchored. VerifyAnchored reads it and fails
// a log that holds fewer entries than it records (Truncated) or another
// entry at its position (Diverged). The log also names the key that guards
// it, in a KindAnchored entry written once the first anchor exists; a log
// that names a key fails when its anchor directory holds no anchor
// (AnchorMissing: anchor.json or the whole directory removed, then the tail
// cut) or another key's (AnchorReplaced).
//
// Still not detected: a log that names no key yet (written before its first
// anchoring, or cut back to before its KindAnchored entry), with its anchor
// removed or replaced by one of the cutter's own, reads as a log never
// anchored; VerifyAnchored passes its chain but says, in Result.Unproven,
// that its tail cannot be vouched for. Whoever holds the audit key and can
// remove anchor.json can rewrite the chain without its KindAnchored entries
// and get the same. Nor is an older anchor.json put back, which takes no
// key (any copy the directory once held, signed by its own key, is a valid
// anchor), with the log cut back to the entry it names: the log and its
// anchor then read as they were, consistent. Only storage where the anchor
// cannot be rolled back keeps that out. Entries appended after the last
// anchor update and before a crash are covered only by the next anchoring.
// Without the audit key (NewUnkeyedChain) only order, links and the anchor
// are checked.
//
// A break accepted by the operator (KindBrokenAccepted) is verified past
// only when the acceptance is sealed and, checked against an anchor, the
// anchor covers it: whoever holds the audit key but not the anchor's
// cannot accept the break a rewrite of anchored entries leaves by
// appending an acceptance: no anchor update moves over one (only the start
// that writes it anchors it, Reset), and one past the anchor fails
// verification (UnanchoredAcceptance) until the operator accepts it.
package audit
