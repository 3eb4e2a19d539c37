package rules

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// TestHistoryMarksRevisionsNoRecordVouchesFor: a revision row written
// outside Meridian (added by hand, or its hash changed) is never loaded,
// but the history listed it as genuine, with whatever author and reason
// it claims. It is marked now, saying why; the revisions Meridian applied
// are marked witnessed, and a state that checks no log marks none.
func TestHistoryMarksRevisionsNoRecordVouchesFor(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	here, err := OpenWitnessed(ctx, st, nil, audit.NewChain([]byte("test key 0123456")), st)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"XA", "XB"} {
		if _, _, err := here.Apply(ctx, Change{Files: []policy.File{pack("org.yaml", "org-deny-"+strings.ToLower(c), c, "2024-01-01")}}, "admin", "deny "+c, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DB().ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) VALUES (3, ?, 'admin', 'routine update', '2026-12-05T00:00:00Z', '[]', '{}')`,
		Hash(map[string]string{})); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE rule_revisions SET hash = ? WHERE rev = 2`, strings.Repeat("ab", 32)); err != nil {
		t.Fatal(err)
	}
	h, err := here.History(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 {
		t.Fatalf("history: %d revisions, want 3", len(h))
	}
	if !h[0].Witnessed || h[0].Unwitnessed != "" {
		t.Errorf("revision 1, applied: %+v, want witnessed", h[0])
	}
	if h[1].Witnessed || !strings.Contains(h[1].Unwitnessed, "audit record names hash") {
		t.Errorf("revision 2, its hash changed by hand: witnessed %v (%q), want not, saying its record names another hash", h[1].Witnessed, h[1].Unwitnessed)
	}
	if h[2].Witnessed || !strings.Contains(h[2].Unwitnessed, "no sealed audit record") {
		t.Errorf("revision 3, added by hand: witnessed %v (%q), want not, saying no record names it", h[2].Witnessed, h[2].Unwitnessed)
	}
	plain, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, err = plain.History(ctx, 0, 10); err != nil || len(h) != 3 {
		t.Fatalf("history of a state that checks no log: %d revisions, %v", len(h), err)
	}
	for _, r := range h {
		if r.Witnessed || r.Unwitnessed != "" {
			t.Errorf("revision %d of a state that checks no log: marked %v %q", r.Rev, r.Witnessed, r.Unwitnessed)
		}
	}
}

// TestHistoryMarksRevisionRewrittenByHand: a genuine revision's author
// and reason rewritten in the database were listed as vouched for: the
// history named someone else as having changed the law, for another
// reason. Its record says who and why, and the row is marked where they
// differ; a record that says neither (written before they were kept)
// vouches for the row's hash alone.
func TestHistoryMarksRevisionRewrittenByHand(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	here, err := OpenWitnessed(ctx, st, nil, audit.NewChain([]byte("test key 0123456")), st)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"XA", "XB", "XC"} {
		if _, _, err := here.Apply(ctx, Change{Files: []policy.File{pack("org.yaml", "org-deny-"+strings.ToLower(c), c, "2024-01-01")}}, "admin", "deny "+c, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE rule_revisions SET who = 'auditor', reason = 'as the regulator required' WHERE rev = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE rule_revisions SET listing = '[{"name":"harmless.yaml","bytes":10}]' WHERE rev = 3`); err != nil {
		t.Fatal(err)
	}
	h, err := here.History(ctx, 0, 10)
	if err != nil || len(h) != 3 {
		t.Fatalf("history: %d revisions, %v", len(h), err)
	}
	if h[0].Witnessed || !strings.Contains(h[0].Unwitnessed, "who applied it, its reason") {
		t.Errorf("revision 1, its author and reason rewritten: witnessed %v (%q), want not, naming both", h[0].Witnessed, h[0].Unwitnessed)
	}
	if !h[1].Witnessed || h[1].Unwitnessed != "" {
		t.Errorf("revision 2, as applied: witnessed %v (%q)", h[1].Witnessed, h[1].Unwitnessed)
	}
	if fmt.Sprint(h[2].Files) != "[{harmless.yaml 10}]" || h[2].Witnessed || !strings.Contains(h[2].Unwitnessed, "its files' names") {
		t.Errorf("revision 3, its files listed as another: %v witnessed %v (%q), want not, naming the files", h[2].Files, h[2].Witnessed, h[2].Unwitnessed)
	}

	// A record that names only the revision and its hash.
	st2 := openStore(t, t.TempDir())
	f := pack("org.yaml", "org-deny-xa", "XA", "2024-01-01")
	files := map[string]string{f.Name: string(f.Data)}
	rec, err := audit.NewRecord(KindRevision, "", map[string]any{"revision": 1, "sha256": Hash(files)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st2.PutRuleRevision(ctx, &store.RuleRevision{Hash: Hash(files), Files: files, Who: "ops", Reason: "older"}, 0, rec); err != nil {
		t.Fatal(err)
	}
	older, err := OpenWitnessed(ctx, st2, nil, audit.NewChain([]byte("test key 0123456")), st2)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := older.History(ctx, 0, 10); err != nil || len(h) != 1 || !h[0].Witnessed {
		t.Errorf("a revision whose record names only its hash: %v, want witnessed", err)
	}
}

// TestHistoryListsRecordsTime: the time on a revision's row is the
// database's to change, and the history listed a revision backdated
// there as applied then, witnessed. A witnessed revision is listed at the
// time of its sealed record.
func TestHistoryListsRecordsTime(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	here, err := OpenWitnessed(ctx, st, nil, audit.NewChain([]byte("test key 0123456")), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := here.Apply(ctx, Change{Files: []policy.File{pack("org.yaml", "org-deny-xa", "XA", "2024-01-01")}}, "admin", "deny XA", time.Now()); err != nil {
		t.Fatal(err)
	}
	recs, err := st.AuditSelect(ctx, store.AuditQuery{AllTenants: true, Kinds: []string{KindRevision}})
	if err != nil || len(recs) != 1 {
		t.Fatalf("the revision's record: %d, %v", len(recs), err)
	}
	applied, err := time.Parse(audit.TimeLayout, recs[0].Time)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE rule_revisions SET created_at = '2001-01-01T00:00:00.000000000Z' WHERE rev = 1`); err != nil {
		t.Fatal(err)
	}
	h, err := here.History(ctx, 0, 10)
	if err != nil || len(h) != 1 {
		t.Fatalf("history: %d revisions, %v", len(h), err)
	}
	if !h[0].Witnessed || !h[0].CreatedAt.Equal(applied) {
		t.Errorf("revision 1, backdated in the database: listed at %v (witnessed %v), want its record's %v", h[0].CreatedAt, h[0].Witnessed, applied)
	}
}
