package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// TestRulesDiffCompilesOnce: any tenant may ask GET /v1/rules/diff, at a
// plan's cost of the rate limit. Loading a revision compiles every rule
// (some 300,000 allocations and tens of milliseconds here), so a diff of
// revisions other than the current one may not do that on every request:
// asked again, it costs a small part of one compile.
func TestRulesDiffCompilesOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"fr", "de", "it"} {
		b, err := os.ReadFile(denyCountryPack(t, dir, "deny-"+c, c, "2026-01-01"))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{{Name: "deny-" + c + ".yaml", Data: b}}}, "test", "test", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	s := &rulesService{rs: rs}
	load := testing.AllocsPerRun(1, func() {
		if _, err := rs.EngineAt(ctx, 1); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := s.Diff(ctx, 1, 2); err != nil {
		t.Fatal(err)
	}
	again := testing.AllocsPerRun(5, func() {
		if _, err := s.Diff(ctx, 1, 2); err != nil {
			t.Fatal(err)
		}
	})
	if again > load/20 {
		t.Errorf("a repeated diff of revisions 1 and 2 (current: 3) makes %.0f allocations; loading one revision makes %.0f", again, load)
	}
}
