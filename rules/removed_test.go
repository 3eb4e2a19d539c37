package rules

import (
	"context"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/policy"
)

// TestRevisionRemovedOutsideMeridianNotLoaded: whoever could write the
// database, without the audit key, deleted the latest revision's row (or
// every row): each server started next put the revision before it (or no
// applied files at all) in force, every revision it loaded confirmed by
// its record, beside the servers still running under the deleted one. A
// server now starts only on the latest revision the audit log records.
func TestRevisionRemovedOutsideMeridianNotLoaded(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	key := []byte("test key 0123456")
	open := func() (*State, error) { return OpenWitnessed(ctx, st, nil, audit.NewChain(key), st) }
	here, err := open()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"XA", "XB"} {
		f := pack("org-"+strings.ToLower(c)+".yaml", "org-deny-"+strings.ToLower(c), c, "2024-01-01")
		if _, _, err := here.Apply(ctx, Change{Files: []policy.File{f}}, "admin", "deny "+c, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var saved struct {
		hash, who, reason, created, listing, files string
	}
	if err := st.DB().QueryRowContext(ctx, `SELECT hash, who, reason, created_at, listing, files FROM rule_revisions WHERE rev = 2`).
		Scan(&saved.hash, &saved.who, &saved.reason, &saved.created, &saved.listing, &saved.files); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := st.DB().ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}

	exec(`DELETE FROM rule_revisions WHERE rev = 2`)
	if s, err := open(); err == nil {
		t.Errorf("a server opened with revision 2's row deleted: loaded revision %d", s.Current().Rev)
	} else if !strings.Contains(err.Error(), "removed outside Meridian") {
		t.Errorf("refusal %q does not say revisions were removed outside Meridian", err)
	}
	exec(`DELETE FROM rule_revisions`)
	if s, err := open(); err == nil {
		t.Errorf("a server opened with every revision's row deleted: loaded revision %d", s.Current().Rev)
	}

	exec(`INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) VALUES (2, ?, ?, ?, ?, ?, ?)`,
		saved.hash, saved.who, saved.reason, saved.created, saved.listing, saved.files)
	s, err := open()
	if err != nil {
		t.Fatalf("a server opened with revision 2 back (revision 1 still gone): %v", err)
	}
	if s.Current().Rev != 2 {
		t.Errorf("law in force: revision %d, want 2", s.Current().Rev)
	}
}

// staleLast answers the latest revision a step behind the first time it
// is asked, as a refresh that read it just before another server applied
// the next one sees it.
type staleLast struct {
	Store
	asked bool
}

func (s *staleLast) LastRuleRevision(ctx context.Context) (int64, error) {
	n, err := s.Store.LastRuleRevision(ctx)
	if !s.asked {
		s.asked = true
		return n - 1, err
	}
	return n, err
}

// TestRevisionAppliedDuringRefreshNotTakenForRemoved: a revision another
// server applies between a refresh's reading of the latest number and its
// reading of the log is the law in force, not a revision removed.
func TestRevisionAppliedDuringRefreshNotTakenForRemoved(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	key := []byte("test key 0123456")
	here, err := OpenWitnessed(ctx, st, nil, audit.NewChain(key), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := here.Apply(ctx, Change{Files: []policy.File{pack("org.yaml", "org-deny-xa", "XA", "2024-01-01")}}, "admin", "deny XA", time.Now()); err != nil {
		t.Fatal(err)
	}
	s, err := OpenWitnessed(ctx, &staleLast{Store: st}, nil, audit.NewChain(key), st)
	if err != nil {
		t.Fatalf("opening while revision 1 was applied: %v", err)
	}
	if s.Current().Rev != 1 {
		t.Errorf("law in force: revision %d, want 1", s.Current().Rev)
	}
}

// TestUnreadableRevisionLeavesServerBehind: a revision row that does not
// decode (written outside Meridian), newer than the law in force, left
// the server planning under the older revision, the refresh's error only
// logged, where a row that decodes but is not on the record left it
// behind. Either way the law in force is one this server cannot read:
// plans and transfers are refused until it can.
func TestUnreadableRevisionLeavesServerBehind(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	key := []byte("test key 0123456")
	here, err := OpenWitnessed(ctx, st, nil, audit.NewChain(key), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := here.Apply(ctx, Change{Files: []policy.File{pack("org.yaml", "org-deny-xa", "XA", "2024-01-01")}}, "admin", "deny XA", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) VALUES (2, 'x', 'admin', 'by hand', '2026-12-05T00:00:00Z', '[]', 'not json')`); err != nil {
		t.Fatal(err)
	}
	if err := here.Refresh(ctx); err == nil {
		t.Fatalf("Refresh onto a revision that does not decode: no error")
	}
	if here.Behind() == nil {
		t.Errorf("after a revision that does not decode: not behind")
	}
	if _, err := here.Law().Session(policy.Query{}); err == nil {
		t.Errorf("planning while revision 2 cannot be read: allowed")
	}
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM rule_revisions WHERE rev = 2`); err != nil {
		t.Fatal(err)
	}
	if err := here.Refresh(ctx); err != nil || here.Behind() != nil {
		t.Errorf("with the row gone again: refresh %v, behind %v", err, here.Behind())
	}
}
