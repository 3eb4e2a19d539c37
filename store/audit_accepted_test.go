package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
)

// acceptAuditBreak does what a start with --accept-broken-audit does with
// a log that does not verify: it records the acceptance of the break found
// and the anchor key, and resets the anchor onto the head.
func acceptAuditBreak(t *testing.T, s *SQLite, an *audit.Anchors) *audit.Problem {
	t.Helper()
	ctx := context.Background()
	res, err := s.VerifyAuditAnchored(ctx, an)
	if err != nil || res.OK {
		t.Fatalf("the log to accept: %+v %v", res, err)
	}
	acc := rec(t, audit.KindBrokenAccepted, "", audit.BrokenAccepted{Problem: res.Problem, Anchored: res.Anchored, By: "test"})
	keyed, err := an.KeyRecord()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, acc, keyed); err != nil {
		t.Fatal(err)
	}
	seq, head, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := an.Reset(context.Background(), seq, head, time.Now()); err != nil {
		t.Fatal(err)
	}
	return res.Problem
}

// appendAnchored appends n entries and moves the anchor onto the head, as
// a server's appends and its anchor follower do.
func appendAnchored(t *testing.T, s *SQLite, an *audit.Anchors, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if err := s.AppendAudit(ctx, rec(t, audit.KindState, "r1", map[string]int{"n": i})); err != nil {
			t.Fatal(err)
		}
	}
	seq, head, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := an.Extend(ctx, seq, head, audit.LogReader{HashAt: s.AuditHashAt, Acceptance: func(ctx context.Context, after, through int64) (int64, bool, error) {
		es, err := s.AuditSelect(ctx, AuditQuery{AllTenants: true, Kinds: []string{audit.KindBrokenAccepted}, After: after, Through: through, Limit: 1})
		if err != nil || len(es) == 0 {
			return 0, false, err
		}
		return es[0].Seq, true, nil
	}}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestAuditAcceptedBreakPinned edits the SQLite table as an attacker with
// database access but without the keys would, after the operator accepted
// a break: a gap widened up to the acceptance, or an accepted modified
// entry changed again, is a new break. Both verified before: an
// acceptance named only the break's first entry and its kind.
func TestAuditAcceptedBreakPinned(t *testing.T) {
	tests := []struct {
		name   string
		break_ string
		again  string
		kind   string
		detail string
	}{
		{"gap widened", `DELETE FROM audit WHERE seq IN (3, 4)`, `DELETE FROM audit WHERE seq BETWEEN 5 AND 9`, audit.Deleted, "entries 3 to 9 are missing"},
		{"modified again", `UPDATE audit SET payload = '{"n":100}' WHERE seq = 3`, `UPDATE audit SET payload = '{"n":200}' WHERE seq = 3`, audit.Modified, "entry 11 accepted only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			an, err := audit.OpenAnchors(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 10; i++ {
				if err := s.AppendAudit(ctx, rec(t, audit.KindState, "r1", map[string]int{"n": i})); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.DB().Exec(tc.break_); err != nil {
				t.Fatal(err)
			}
			p := acceptAuditBreak(t, s, an)
			if p.Seq != 3 || p.Kind != tc.kind || p.Found == nil {
				t.Fatalf("the accepted break: %+v", p)
			}
			appendAnchored(t, s, an, 5)
			res, err := s.VerifyAuditAnchored(ctx, an)
			if err != nil || !res.OK || len(res.Accepted) != 1 || res.Accepted[0].At != 11 {
				t.Fatalf("the accepted log: %+v %v", res, err)
			}
			if _, err := s.DB().Exec(tc.again); err != nil {
				t.Fatal(err)
			}
			res, err = s.VerifyAuditAnchored(ctx, an)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.Problem == nil || res.Problem.Seq != 3 || res.Problem.Kind != tc.kind || !strings.Contains(res.Problem.Detail, tc.detail) {
				t.Fatalf("tampered again after the acceptance: %+v (accepted %s), want %s at 3", res, fmt.Sprint(res.Accepted), tc.kind)
			}
		})
	}
}
