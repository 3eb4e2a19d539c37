package rules

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// TestRevisionWrittenOutsideMeridianNotLoaded: whoever could write the
// database, without the audit key, changed the law in force: a revision's
// files edited in place (with the hash on its row made to match), or a
// revision row added, loaded on every server, and the audit log still
// verified. A server loads a revision only when a sealed record names it
// with its hash; one it cannot confirm leaves it behind (planning and
// staging refused), and a revision Meridian applied loads as before.
func TestRevisionWrittenOutsideMeridianNotLoaded(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	key := []byte("test key 0123456")
	open := func() (*State, error) { return OpenWitnessed(ctx, st, nil, audit.NewChain(key), st) }
	here, err := open()
	if err != nil {
		t.Fatal(err)
	}
	deny := pack("org.yaml", "org-deny-xa", "XA", "2024-01-01")
	if _, _, err := here.Apply(ctx, Change{Files: []policy.File{deny}}, "admin", "deny XA", time.Now()); err != nil {
		t.Fatal(err)
	}
	second := pack("org2.yaml", "org-deny-xb", "XB", "2024-01-01")
	if _, _, err := here.Apply(ctx, Change{Files: []policy.File{second}}, "admin", "deny XB", time.Now()); err != nil {
		t.Fatal(err)
	}
	// A replica confirms the applied revision.
	if other, err := open(); err != nil || other.Current().Rev != 2 {
		t.Fatalf("a replica opening on an applied revision: %v", err)
	}

	// The latest revision's file edited in place, its row's hash
	// recomputed: the rule that denies XA now denies nowhere anyone goes.
	orig := map[string]string{"org.yaml": string(deny.Data), "org2.yaml": string(second.Data)}
	edited := map[string]string{"org.yaml": strings.Replace(string(deny.Data), "'XA'", "'XQ'", 1), "org2.yaml": string(second.Data)}
	setFiles := func(rev int64, files map[string]string) {
		t.Helper()
		b, err := json.Marshal(files)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.DB().ExecContext(ctx, `UPDATE rule_revisions SET files = ?, hash = ? WHERE rev = ?`, string(b), Hash(files), rev); err != nil {
			t.Fatal(err)
		}
	}
	setFiles(2, edited)
	if s, err := open(); err == nil {
		t.Errorf("a server opened on revision 2 edited in the database: loaded (revision %d, %d files)", s.Current().Rev, len(s.Current().Files))
	} else if !strings.Contains(err.Error(), "outside Meridian") {
		t.Errorf("refusal %q does not say the revision was changed outside Meridian", err)
	}
	setFiles(2, orig)
	if _, err := open(); err != nil {
		t.Fatalf("a server opened on revision 2 restored: %v", err)
	}
	// Older revisions a diff reads are held to the record too.
	setFiles(1, map[string]string{"org.yaml": edited["org.yaml"]})
	if _, err := here.WrittenAt(ctx, 1); err == nil {
		t.Errorf("WrittenAt(1) of the edited revision: no error")
	}
	// Edited without the hash made to match: refused by its row alone.
	b, _ := json.Marshal(map[string]string{"org.yaml": edited["org.yaml"]})
	if _, err := st.DB().ExecContext(ctx, `UPDATE rule_revisions SET files = ?, hash = ? WHERE rev = 1`, string(b), Hash(map[string]string{"org.yaml": string(deny.Data)})); err != nil {
		t.Fatal(err)
	}
	if _, err := here.WrittenAt(ctx, 1); err == nil || !strings.Contains(err.Error(), "hash to") {
		t.Errorf("WrittenAt(1) with files not matching its row's hash: %v", err)
	}
	setFiles(1, map[string]string{"org.yaml": string(deny.Data)})
	if _, err := here.WrittenAt(ctx, 1); err != nil {
		t.Fatalf("WrittenAt(1) restored: %v", err)
	}

	// A revision row added by hand: the server in force stays behind.
	files := map[string]string{}
	b, _ = json.Marshal(files)
	if _, err := st.DB().ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) VALUES (3, ?, 'admin', 'by hand', '2026-12-05T00:00:00Z', '[]', ?)`,
		Hash(files), string(b)); err != nil {
		t.Fatal(err)
	}
	if err := here.Refresh(ctx); err == nil {
		t.Errorf("Refresh onto a revision added by hand: no error")
	}
	var behind *BehindError
	if !errors.As(here.Behind(), &behind) || behind.Rev != 3 {
		t.Errorf("after a revision added by hand: Behind() = %v, want behind revision 3", here.Behind())
	}
	if here.Current().Rev != 2 {
		t.Errorf("law in force: revision %d, want 2 still", here.Current().Rev)
	}
	if _, err := here.Law().Session(policy.Query{}); err == nil {
		t.Errorf("planning while behind a revision added by hand: allowed")
	}
}

// TestWitnessReadsEachRecordOnce: confirming revisions reads the log's
// rules-revision records from where the last confirmation stopped, not
// the whole history each time.
func TestWitnessReadsEachRecordOnce(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	key := []byte("test key 0123456")
	here, err := OpenWitnessed(ctx, st, nil, audit.NewChain(key), st)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []string{"XA", "XB", "XC"} {
		if _, _, err := here.Apply(ctx, Change{Files: []policy.File{pack("org.yaml", "org-deny-"+strings.ToLower(c), c, "2024-01-01")}}, "admin", "step", time.Now()); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	count := &countingLog{st: st}
	s, err := OpenWitnessed(ctx, st, nil, audit.NewChain(key), count)
	if err != nil {
		t.Fatal(err)
	}
	for rev := int64(1); rev <= 2; rev++ {
		if _, err := s.WrittenAt(ctx, rev); err != nil {
			t.Fatalf("WrittenAt(%d): %v", rev, err)
		}
	}
	if count.entries != 3 {
		t.Errorf("confirming 3 revisions read %d records, want each of the 3 once", count.entries)
	}
}

type countingLog struct {
	st      *store.SQLite
	entries int
}

func (c *countingLog) AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error) {
	page, next, err := c.st.AuditSelectPage(ctx, q)
	c.entries += len(page)
	return page, next, err
}

// TestWitnessRereadsLogWrittenAgain: the witness read the log on from the
// last record it had read. A log cut back and written on again (a cut
// accepted with --accept-broken-audit) holds new records at seqs already
// read: a revision another server applied then, its record at such a
// seq, was never read by a running server, which took it for one written
// outside Meridian and stayed behind. The witness now sees the record it
// read last gone or changed, and reads the log again from its start.
func TestWitnessRereadsLogWrittenAgain(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	key := []byte("test key 0123456")
	open := func() *State {
		t.Helper()
		s, err := OpenWitnessed(ctx, st, nil, audit.NewChain(key), st)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	here := open()
	for _, c := range []string{"XA", "XB"} {
		if _, _, err := here.Apply(ctx, Change{Files: []policy.File{pack("org.yaml", "org-deny-"+strings.ToLower(c), c, "2024-01-01")}}, "admin", "deny "+c, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	running := open() // a replica, its witness read up to revision 2's record
	if running.Current().Rev != 2 {
		t.Fatalf("replica on revision %d, want 2", running.Current().Rev)
	}
	// The log cut back to before revision 2's record, the cut accepted,
	// and revision 3 applied by the first server: its record is written at
	// the seq revision 2's had.
	var seq2 int64
	if err := st.DB().QueryRowContext(ctx, `SELECT MAX(seq) FROM audit WHERE kind = ?`, KindRevision).Scan(&seq2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM audit WHERE seq >= ?`, seq2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := here.Apply(ctx, Change{Files: []policy.File{pack("org.yaml", "org-deny-xc", "XC", "2024-01-01")}}, "admin", "deny XC", time.Now()); err != nil {
		t.Fatal(err)
	}
	var seq3 int64
	if err := st.DB().QueryRowContext(ctx, `SELECT MAX(seq) FROM audit WHERE kind = ?`, KindRevision).Scan(&seq3); err != nil {
		t.Fatal(err)
	}
	if seq3 > seq2 {
		t.Fatalf("revision 3's record at seq %d, after revision 2's former %d: the case is not reproduced", seq3, seq2)
	}
	if err := running.Refresh(ctx); err != nil || running.Behind() != nil || running.Current().Rev != 3 {
		t.Errorf("the replica's refresh onto revision 3, applied after the cut: %v, behind %v, revision %d in force; want 3", err, running.Behind(), running.Current().Rev)
	}
	// A revision written by hand after the rewrite is still refused.
	b, _ := json.Marshal(map[string]string{})
	if _, err := st.DB().ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) VALUES (4, ?, 'admin', 'by hand', '2026-12-05T00:00:00Z', '[]', ?)`,
		Hash(map[string]string{}), string(b)); err != nil {
		t.Fatal(err)
	}
	if err := running.Refresh(ctx); err == nil || running.Current().Rev != 3 {
		t.Errorf("refresh onto a revision added by hand after the rewrite: %v, revision %d in force; want refused, 3", err, running.Current().Rev)
	}
}
