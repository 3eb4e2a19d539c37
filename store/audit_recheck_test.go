package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
)

// sealedOf is s's watermark and rolling re-check.
func sealedOf(t testing.TB, s Store) *sealedTo {
	t.Helper()
	switch v := s.(type) {
	case *SQLite:
		return &v.sealed
	case *Postgres:
		return &v.sealed
	}
	t.Fatalf("no watermark in %T", s)
	return nil
}

// recheckedAt is the last entry s's rolling re-check read.
func recheckedAt(t testing.TB, s Store) int64 {
	w := sealedOf(t, s)
	w.reMu.Lock()
	defer w.reMu.Unlock()
	return w.re.seq
}

// appendN appends n entries to s, of kind every tenth, the others state
// entries, with pad bytes of padding in each pad-th (0: none).
func appendN(t testing.TB, s Store, n int, kind string, pad, every int) {
	t.Helper()
	var recs []audit.Record
	for j := 1; j <= n; j++ {
		k := audit.KindState
		if j%10 == 0 {
			k = kind
		}
		v := map[string]any{"n": j}
		if every > 0 && j%every == 0 {
			v["pad"] = strings.Repeat("x", pad)
		}
		recs = append(recs, rec(t, k, "", v))
	}
	if err := s.AppendAudit(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
}

// checkOnce is one gap check: a server's lookup of kind after the log's
// last entry, one page, as a witness reads when nothing was written since.
func checkOnce(ctx context.Context, s Store, kind string) error {
	head, _, err := s.AuditHead(ctx)
	if err != nil {
		return err
	}
	_, _, err = s.AuditSelectPage(ctx, AuditQuery{Kinds: []string{kind}, AllTenants: true, After: head, Limit: 64})
	return err
}

// TestAuditGapRecheckFindsOldRewrite: a server's store has checked every
// entry of its log (the watermark past them, by a verification at start
// or by its lookups' walk), and whoever writes the database without the
// audit key rewrites an entry below the watermark, keeping its seal: the
// entry the rolling re-check has just read (so that it must go round the
// whole log to come back to it), its payload changed or its kind. Within
// ceil(W/recheckEntries)+1 gap checks a server's lookup refuses with
// ErrAuditRewritten (an ErrAuditGap), even one that reads only after the
// log's end, and goes on refusing; accepted by the operator, the break
// passes every check after, over several wraps.
func TestAuditGapRecheckFindsOldRewrite(t *testing.T) {
	const kind = "rules-revision"
	const n = 300
	bound := (n+recheckEntries-1)/recheckEntries + 1
	rewrites := []struct{ name, sql string }{
		{"payload", `UPDATE audit SET payload = '{"n":1000}' WHERE seq = %d`},
		{"kind", `UPDATE audit SET kind = '` + kind + `' WHERE seq = %d`},
	}
	for _, open := range gapStores {
		for _, verified := range []bool{true, false} {
			for _, rw := range rewrites {
				name := fmt.Sprintf("%s/%s/verified=%v", open.name, rw.name, verified)
				t.Run(name, func(t *testing.T) {
					ctx := context.Background()
					s, exec := open.open(t)
					appendN(t, s, n, kind, 0, 0)
					if verified {
						if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
							t.Fatalf("verify: %+v %v", res, err)
						}
					} else if got, err := newestIn(ctx, s, AuditQuery{Kinds: []string{kind}, AllTenants: true, Limit: 16}); err != nil || got != n {
						t.Fatalf("intact log: newest %d, %v; want %d", got, err, n)
					}
					if w := sealedOf(t, s); w.seq != n {
						t.Fatalf("watermark %d, want %d", w.seq, n)
					}
					for range 2 {
						if err := checkOnce(ctx, s, kind); err != nil {
							t.Fatalf("intact log: %v", err)
						}
					}
					at := max(recheckedAt(t, s), 1)
					if err := exec(fmt.Sprintf(rw.sql, at)); err != nil {
						t.Fatal(err)
					}
					found := 0
					for i := 1; i <= bound && found == 0; i++ {
						err := checkOnce(ctx, s, kind)
						if err != nil {
							if !errors.Is(err, ErrAuditRewritten) || !errors.Is(err, ErrAuditGap) {
								t.Fatalf("check %d: %v; want ErrAuditRewritten", i, err)
							}
							found = i
						}
					}
					if found == 0 {
						t.Fatalf("entry %d rewritten: %d checks passed; want a refusal within %d", at, bound, bound)
					}
					for i := range 3 {
						if err := checkOnce(ctx, s, kind); !errors.Is(err, ErrAuditRewritten) {
							t.Fatalf("check %d after the refusal: %v; want ErrAuditRewritten", i, err)
						}
					}
					if _, err := newestOf(ctx, s, kind, 0); !errors.Is(err, ErrAuditRewritten) {
						t.Fatalf("lookup from the start: %v; want ErrAuditRewritten", err)
					}
					res, err := s.VerifyAudit(ctx)
					if err != nil || res.OK || res.Problem == nil || res.Problem.Seq != at {
						t.Fatalf("verify, %d rewritten: %+v %v", at, res, err)
					}
					r, err := audit.NewRecord(audit.KindBrokenAccepted, "", audit.BrokenAccepted{Problem: res.Problem})
					if err != nil {
						t.Fatal(err)
					}
					if err := s.AppendAudit(ctx, r); err != nil {
						t.Fatal(err)
					}
					for i := range 3 * bound {
						if err := checkOnce(ctx, s, kind); err != nil {
							t.Fatalf("check %d after the acceptance: %v", i, err)
						}
					}
					if _, err := newestOf(ctx, s, kind, n-20); err != nil {
						t.Fatalf("lookup after the acceptance: %v", err)
					}
				})
			}
		}
	}
}

// TestAuditGapRecheckHonoursAcceptedGap: entries deleted from below the
// watermark (a lookup after the log's end counts none of them) are found
// by the rolling re-check within its bound of checks; the gap accepted by
// the operator, every check after passes, over several wraps, and the
// gap growing is found again.
func TestAuditGapRecheckHonoursAcceptedGap(t *testing.T) {
	const kind = "rules-revision"
	const n = 300
	bound := (n+recheckEntries-1)/recheckEntries + 1
	for _, open := range gapStores {
		t.Run(open.name, func(t *testing.T) {
			ctx := context.Background()
			s, exec := open.open(t)
			appendN(t, s, n, kind, 0, 0)
			if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
				t.Fatalf("verify: %+v %v", res, err)
			}
			if err := exec(`DELETE FROM audit WHERE seq BETWEEN 100 AND 102`); err != nil {
				t.Fatal(err)
			}
			refusedWithin := func(what string) {
				t.Helper()
				for i := 1; i <= bound; i++ {
					if err := checkOnce(ctx, s, kind); err != nil {
						if !errors.Is(err, ErrAuditRewritten) {
							t.Fatalf("%s, check %d: %v; want ErrAuditRewritten", what, i, err)
						}
						return
					}
				}
				t.Fatalf("%s: %d checks passed; want a refusal within %d", what, bound, bound)
			}
			refusedWithin("entries 100 to 102 deleted")
			res, err := s.VerifyAudit(ctx)
			if err != nil || res.OK || res.Problem == nil || res.Problem.Kind != audit.Deleted {
				t.Fatalf("verify, entries deleted: %+v %v", res, err)
			}
			r, err := audit.NewRecord(audit.KindBrokenAccepted, "", audit.BrokenAccepted{Problem: res.Problem})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AppendAudit(ctx, r); err != nil {
				t.Fatal(err)
			}
			for i := range 3 * bound {
				if err := checkOnce(ctx, s, kind); err != nil {
					t.Fatalf("check %d after the acceptance: %v", i, err)
				}
			}
			if err := exec(`DELETE FROM audit WHERE seq = 103`); err != nil {
				t.Fatal(err)
			}
			refusedWithin("the accepted gap grown by entry 103")
		})
	}
}

// TestAuditGapRecheckUntouchedLog: on a log nobody rewrote, some entries
// of it large enough that the byte bound cuts windows short, and growing
// between checks, the rolling re-check wraps round the log many times and
// never refuses a lookup, nor do lookups made at once.
func TestAuditGapRecheckUntouchedLog(t *testing.T) {
	const kind = "rules-revision"
	for _, open := range gapStores {
		t.Run(open.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := open.open(t)
			appendN(t, s, 200, kind, 100<<10, 7)
			if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
				t.Fatalf("verify: %+v %v", res, err)
			}
			wraps, last := 0, int64(0)
			for i := range 300 {
				if i%10 == 9 {
					appendN(t, s, 3, kind, 0, 0)
				}
				if err := checkOnce(ctx, s, kind); err != nil {
					t.Fatalf("check %d: %v", i, err)
				}
				at := recheckedAt(t, s)
				if at < last {
					wraps++
				}
				last = at
			}
			if wraps < 4 {
				t.Fatalf("the re-check wrapped %d times in 300 checks; want 4 at least", wraps)
			}
			// Lookups of several goroutines at once re-check in turn.
			errs := make(chan error, 4)
			for range 4 {
				go func() {
					var err error
					for i := 0; i < 25 && err == nil; i++ {
						err = checkOnce(ctx, s, kind)
					}
					errs <- err
				}()
			}
			for range 4 {
				if err := <-errs; err != nil {
					t.Fatalf("concurrent checks: %v", err)
				}
			}
		})
	}
}
