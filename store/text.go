package store

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"meridian.dev/meridian/audit"
)

// ErrNotText refuses a write of a field that holds a NUL or bytes that
// are not UTF-8, which PostgreSQL's text cannot hold: every store refuses
// it, naming the field, and writes nothing. A write that one store kept
// and the other failed on, with the database's message naming neither the
// field nor the value, would make a change's answer depend on the store.
var ErrNotText = errors.New("holds a NUL or bytes that are not UTF-8")

// ErrIntRange refuses a write of a number that PostgreSQL's INTEGER
// column cannot hold (past 32 bits): every store refuses it, naming the
// field, and writes nothing, where SQLite kept it and PostgreSQL's driver
// failed naming only the statement's argument.
var ErrIntRange = errors.New("is past the range of a 32-bit integer, which the store keeps")

// fieldInt32 checks fields, name and value in turn.
func fieldInt32(fields ...any) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if v := fields[i+1].(int); v < math.MinInt32 || v > math.MaxInt32 {
			return fmt.Errorf("%s %d: %w", fields[i], v, ErrIntRange)
		}
	}
	return nil
}

// fieldText checks fields, name and value in turn.
func fieldText(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if !pgText(fields[i+1]) {
			return fmt.Errorf("%s %q: %w", fields[i], fields[i+1], ErrNotText)
		}
	}
	return nil
}

// bytesText is fieldText for a document.
func bytesText(name string, b []byte) error {
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return fmt.Errorf("%s: %w", name, ErrNotText)
	}
	return nil
}

// runText checks the text a run's row and change write.
func runText(r *Run, ch Change) error {
	if err := fieldText("run id", r.ID, "run tenant", r.Tenant, "run job", r.Job, "run state", r.State, "run site", r.Site, "run handle", r.Handle,
		"run hold site", r.Hold.Site, "run hold accelerator", r.Hold.Accelerator); err != nil {
		return err
	}
	if err := fieldInt32("run attempt", r.Attempt, "run hold pool", r.Hold.Pool, "run hold count", r.Hold.Count); err != nil {
		return err
	}
	if err := bytesText("run data", r.Data); err != nil {
		return err
	}
	for _, e := range ch.Events {
		if err := fieldText("event kind", e.Kind, "event from", e.From, "event to", e.To, "event reason", e.Reason, "event data", e.Data); err != nil {
			return err
		}
	}
	for i := range ch.Register {
		if err := resourceText(&ch.Register[i]); err != nil {
			return err
		}
	}
	return auditText(ch.Audit...)
}

// resourceText checks the text a resource's row writes.
func resourceText(r *Resource) error {
	if err := fieldText("resource tenant", r.Tenant, "resource kind", r.Kind, "resource name", r.Name, "resource hash", r.Hash, "resource store key", r.StoreKey); err != nil {
		return err
	}
	return bytesText("resource document", r.Doc)
}

// MaxAuditPayloadBytes bounds an audit entry's payload: every append
// refuses a longer one (ErrAuditPayloadTooLarge), and the readers of the
// log refuse one longer as written outside Meridian (the gap checks'
// read of an entry, a tenant's pages of the log). Nothing bounded the
// write: one entry Meridian itself wrote past it (a plan embeds the whole
// plan, a transfer record names what a site chose) failed every
// gap-checked read of the ledger, for every tenant, for good.
const MaxAuditPayloadBytes = 16 << 20

// ErrAuditPayloadTooLarge refuses an append of an audit entry whose
// payload is longer than MaxAuditPayloadBytes: nothing is written.
var ErrAuditPayloadTooLarge = fmt.Errorf("is longer than the %d bytes every reader of the audit log takes", MaxAuditPayloadBytes)

// auditBounded checks that no payload of recs is longer than
// MaxAuditPayloadBytes, naming the entry's kind and the field. Every
// append checks it (appendAudit), in its transaction.
func auditBounded(recs []audit.Record) error {
	for _, rec := range recs {
		if n := len(rec.Payload); n > MaxAuditPayloadBytes {
			return fmt.Errorf("append audit: the payload of a %s entry, %d bytes, %w", shownField(rec.Kind), n, ErrAuditPayloadTooLarge)
		}
	}
	return nil
}

// auditText checks the text audit entries write.
func auditText(recs ...audit.Record) error {
	for _, rec := range recs {
		if err := fieldText("audit kind", rec.Kind, "audit run id", rec.RunID, "audit tenant", rec.Tenant); err != nil {
			return err
		}
		if err := bytesText("audit payload", rec.Payload); err != nil {
			return err
		}
	}
	return nil
}

// putsText checks the text PutResources writes.
func putsText(puts []ResourcePut) error {
	for _, p := range puts {
		if err := resourceText(p.Resource); err != nil {
			return err
		}
		if err := auditText(p.Audit); err != nil {
			return err
		}
	}
	return nil
}

// tokensText checks the text PutTokens writes: a token's tenant and note
// (an administrator's request), its hash, and each audit record.
func tokensText(ts []*Token, recs []audit.Record) error {
	for _, t := range ts {
		if err := fieldText("token tenant", t.Tenant, "token hash", t.Hash, "token note", t.Note); err != nil {
			return err
		}
	}
	return auditText(recs...)
}

// ruleRevisionText checks the text PutRuleRevision writes: the revision's
// hash, author and reason, each file's name and content, and its record.
func ruleRevisionText(r *RuleRevision, rec audit.Record) error {
	if err := fieldText("rules revision hash", r.Hash, "rules revision who", r.Who, "rules revision reason", r.Reason); err != nil {
		return err
	}
	for name, content := range r.Files {
		if err := fieldText("rules file name", name); err != nil {
			return err
		}
		if !pgText(content) {
			return fmt.Errorf("rules file %q: %w", name, ErrNotText)
		}
	}
	return auditText(rec)
}
