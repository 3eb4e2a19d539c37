package rules

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// anchorHead anchors st's log at its head in anchors, as the server's
// follower does after each append.
func anchorHead(t *testing.T, st *store.SQLite, anchors *audit.Anchors) {
	t.Helper()
	ctx := context.Background()
	seq, head, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	log := audit.LogReader{HashAt: st.AuditHashAt, Acceptance: func(context.Context, int64, int64) (int64, bool, error) { return 0, false, nil }}
	if err := anchors.Advance(ctx, seq, head, log, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// recordKey appends the record naming anchors' key to st's log, as a
// server's first start does once the anchor exists.
func recordKey(t *testing.T, st *store.SQLite, anchors *audit.Anchors) {
	t.Helper()
	rec, err := anchors.KeyRecord()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAudit(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

func applyDeny(t *testing.T, s *State, country string) {
	t.Helper()
	c := strings.ToLower(country)
	f := pack("org-"+c+".yaml", "org-deny-"+c, country, "2024-01-01")
	if _, _, err := s.Apply(context.Background(), Change{Files: []policy.File{f}}, "admin", "deny "+country, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestRevisionCutFromLogTailNotLoaded: whoever could write the database
// deleted the latest revision's row and its audit record, the log's last
// entry, together. The log left verifies as a chain, its latest record
// names the revision before, and every server that started next put that
// one in force, saying nothing. The anchor the server keeps records how
// far the log reached: a log that ends before it, or whose entry there is
// another, is not one to take the latest revision from.
func TestRevisionCutFromLogTailNotLoaded(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	key := []byte("test key 0123456")
	anchors, err := audit.OpenAnchors(filepath.Join(t.TempDir(), "anchor"))
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*State, error) { return OpenAnchored(ctx, st, nil, audit.NewChain(key), st, anchors) }
	here, err := open()
	if err != nil {
		t.Fatal(err)
	}
	anchorHead(t, st, anchors)
	recordKey(t, st, anchors)
	applyDeny(t, here, "XA")
	applyDeny(t, here, "XB")
	anchorHead(t, st, anchors)
	if s, err := open(); err != nil || s.Current().Rev != 2 {
		t.Fatalf("opening on revision 2 with the log at its anchor: %v", err)
	}
	tail, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := st.DB().ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`DELETE FROM rule_revisions WHERE rev = 2`)
	exec(`DELETE FROM audit WHERE seq = ?`, tail)
	s, err := open()
	if err == nil {
		t.Fatalf("opened with revision 2 and its record cut from the log's end: loaded revision %d", s.Current().Rev)
	}
	for _, want := range []string{"ends before its anchor", "removed", "rules revision 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}

	// The entry at the anchored seq written again (by hand, as any
	// writer of the database can): the log reaches the anchor, but not
	// the entry it recorded.
	rec, err := audit.NewRecord("note", "", map[string]string{"said": "nothing"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAudit(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if s, err := open(); err == nil {
		t.Errorf("opened with the anchored entry written again: loaded revision %d", s.Current().Rev)
	} else if !strings.Contains(err.Error(), "cut and written again") {
		t.Errorf("refusal %q does not say the log was cut and written again", err)
	}
}

// TestAnchorLaggingLogLoads: the anchor follows the log in the background,
// so a revision past it, or a directory with no anchor yet, is normal; and
// an anchor under another key than the one the log names is another
// log's, which says nothing of this one (a server's start refuses it).
func TestAnchorLaggingLogLoads(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	key := []byte("test key 0123456")
	anchors, err := audit.OpenAnchors(filepath.Join(t.TempDir(), "anchor"))
	if err != nil {
		t.Fatal(err)
	}
	open := func(a *audit.Anchors) (*State, error) { return OpenAnchored(ctx, st, nil, audit.NewChain(key), st, a) }
	here, err := open(anchors)
	if err != nil {
		t.Fatalf("opening with no anchor yet: %v", err)
	}
	applyDeny(t, here, "XA")
	if s, err := open(anchors); err != nil || s.Current().Rev != 1 {
		t.Fatalf("opening on revision 1 with no anchor yet: %v", err)
	}
	anchorHead(t, st, anchors)
	recordKey(t, st, anchors)
	applyDeny(t, here, "XB")
	applyDeny(t, here, "XC")
	s, err := open(anchors)
	if err != nil {
		t.Fatalf("opening with the anchor behind the log: %v", err)
	}
	if s.Current().Rev != 3 {
		t.Errorf("law in force: revision %d, want 3", s.Current().Rev)
	}
	// A running server refreshing onto a revision past the anchor.
	other, err := open(anchors)
	if err != nil {
		t.Fatal(err)
	}
	applyDeny(t, here, "XD")
	if err := other.Refresh(ctx); err != nil || other.Current().Rev != 4 {
		t.Errorf("refreshing onto revision 4 past the anchor: %v (revision %d)", err, other.Current().Rev)
	}

	// Another log's anchor, far past this log's end.
	far := openStore(t, t.TempDir())
	for range 20 {
		rec, err := audit.NewRecord("note", "", map[string]string{"said": "nothing"})
		if err != nil {
			t.Fatal(err)
		}
		if err := far.AppendAudit(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	foreign, err := audit.OpenAnchors(filepath.Join(t.TempDir(), "foreign"))
	if err != nil {
		t.Fatal(err)
	}
	anchorHead(t, far, foreign)
	if s, err := open(foreign); err != nil || s.Current().Rev != 4 {
		t.Errorf("opening with another log's anchor: %v", err)
	}
}

// TestRunningServerSaysRevisionRemoved: a server running under the latest
// revision when its row and record were deleted went on refreshing without
// a word, while the servers that started next put the revision before it
// in force. Its refresh says the store lost the law in force here, which it
// goes on applying.
func TestRunningServerSaysRevisionRemoved(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	key := []byte("test key 0123456")
	here, err := OpenWitnessed(ctx, st, nil, audit.NewChain(key), st)
	if err != nil {
		t.Fatal(err)
	}
	applyDeny(t, here, "XA")
	applyDeny(t, here, "XB")
	if err := here.Refresh(ctx); err != nil {
		t.Fatalf("refresh under revision 2: %v", err)
	}
	tail, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM rule_revisions WHERE rev = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM audit WHERE seq = ?`, tail); err != nil {
		t.Fatal(err)
	}
	err = here.Refresh(ctx)
	if err == nil || !strings.Contains(err.Error(), "removed outside Meridian") {
		t.Errorf("refresh with revision 2, in force here, deleted from the store: %v", err)
	}
	if here.Current().Rev != 2 || here.Behind() != nil {
		t.Errorf("after the refresh: revision %d in force, behind %v; want 2 still applied", here.Current().Rev, here.Behind())
	}
}

// appliedMeanwhile answers the latest revision a step behind the first
// time it is asked after armed, as a refresh that read it just before
// this server's own Apply stored the next one sees it.
type appliedMeanwhile struct {
	Store
	armed bool
}

func (s *appliedMeanwhile) LastRuleRevision(ctx context.Context) (int64, error) {
	n, err := s.Store.LastRuleRevision(ctx)
	if s.armed {
		s.armed = false
		return n - 1, err
	}
	return n, err
}

// TestOwnApplyDuringRefreshNotTakenForRemoved: a refresh that read the
// latest revision just before this server's Apply stored the next one
// finds the law in force newer than what it read: not a revision removed.
func TestOwnApplyDuringRefreshNotTakenForRemoved(t *testing.T) {
	ctx := context.Background()
	st := &appliedMeanwhile{Store: openStore(t, t.TempDir())}
	here, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	applyDeny(t, here, "XA")
	st.armed = true
	if err := here.Refresh(ctx); err != nil {
		t.Errorf("refresh that read the latest before this server's Apply stored it: %v", err)
	}
}
