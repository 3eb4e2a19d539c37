package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestAuditGapRecheckRefusalNamesBreakAndRemedy: once the rolling
// re-check finds an entry below the watermark rewritten or deleted, every
// gap-checked lookup is refused, those that read only entries written
// after the break too (the entries after a break may be another history
// of the log spliced in, each sealed and linked). The refusal names the
// entry that broke, what was read there, and the remedy: the log's
// verification and the acceptance a start records.
func TestAuditGapRecheckRefusalNamesBreakAndRemedy(t *testing.T) {
	const kind = "rules-revision"
	const n = 300
	bound := (n+recheckEntries-1)/recheckEntries + 1
	breaks := []struct {
		name, sql string
		want      []string
	}{
		{"rewritten", `UPDATE audit SET payload = '{"n":1000}' WHERE seq = 151`,
			[]string{"audit log entry 151 is not sealed at its seq", "entry 151 read there: kind \"state\""}},
		{"deleted", `DELETE FROM audit WHERE seq BETWEEN 100 AND 102`,
			[]string{"audit log entry 100 is missing (entry 103 follows entry 99)", "entry 103 read there"}},
	}
	remedy := []string{"every lookup of the log is refused until the break is accepted",
		"meridian audit verify --state", "meridian serve --accept-broken-audit"}
	for _, open := range gapStores {
		for _, br := range breaks {
			t.Run(open.name+"/"+br.name, func(t *testing.T) {
				ctx := context.Background()
				s, exec := open.open(t)
				appendN(t, s, n, kind, 0, 0)
				if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
					t.Fatalf("verify: %+v %v", res, err)
				}
				if err := exec(br.sql); err != nil {
					t.Fatal(err)
				}
				var refused error
				for i := 1; i <= bound && refused == nil; i++ {
					refused = checkOnce(ctx, s, kind)
				}
				if !errors.Is(refused, ErrAuditRewritten) {
					t.Fatalf("%d checks after the break: %v; want ErrAuditRewritten", bound, refused)
				}
				// The same refusal again, from the cached verification, and
				// for a lookup of entries written after the break.
				appendN(t, s, 10, kind, 0, 0)
				again := checkOnce(ctx, s, kind)
				for _, err := range []error{refused, again} {
					if !errors.Is(err, ErrAuditRewritten) {
						t.Fatalf("lookup after the break: %v; want ErrAuditRewritten", err)
					}
					for _, w := range append(br.want, remedy...) {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("refusal %q\ndoes not say %q", err, w)
						}
					}
				}
			})
		}
	}
}

// TestAuditGapBreakBeforeLookupRefuses: an entry written after the
// watermark is rewritten before any lookup walked it, and a run's first
// read of its records starts after it (it counts from the run's first
// record). The entries after the break, each sealed and linked to the
// next, may be another history of the log spliced in: the read is
// refused, as every other lookup is, with the entry that broke and the
// remedy named, not answered from its own part of the log.
func TestAuditGapBreakBeforeLookupRefuses(t *testing.T) {
	const kind = "placement"
	for _, open := range gapStores {
		t.Run(open.name, func(t *testing.T) {
			ctx := context.Background()
			s, exec := open.open(t)
			appendN(t, s, 10, kind, 0, 0)
			if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
				t.Fatalf("verify: %+v %v", res, err)
			}
			for i := 11; i <= 20; i++ {
				k, run := "state", ""
				if i >= 15 {
					k, run = kind, "r"
				}
				if err := s.AppendAudit(ctx, rec(t, k, run, map[string]int{"n": i})); err != nil {
					t.Fatal(err)
				}
			}
			if err := exec(`UPDATE audit SET payload = '{"n":1000}' WHERE seq = 12`); err != nil {
				t.Fatal(err)
			}
			q := AuditQuery{RunID: "r", Kinds: []string{kind}, AllTenants: true, Limit: 64}
			for i := range 2 {
				page, _, err := s.AuditSelectPage(ctx, q)
				if !errors.Is(err, ErrAuditRewritten) {
					t.Fatalf("read %d of the run's records: %d entries, %v; want ErrAuditRewritten", i, len(page), err)
				}
				for _, w := range []string{"audit log entry 12 is not sealed", "meridian serve --accept-broken-audit"} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("refusal %q\ndoes not say %q", err, w)
					}
				}
			}
		})
	}
}
