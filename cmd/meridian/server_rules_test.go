package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	rs := threeRevisions(t)
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

// TestRulesDiffKeptNotBehindACompile: a diff of revisions the server keeps
// compiled answers while another diff compiles a revision it does not
// keep: the compile held the lock the kept engines are read under, so
// every tenant's diffs waited a quarter of a second behind each compile
// of a revision someone asked for in turn.
func TestRulesDiffKeptNotBehindACompile(t *testing.T) {
	ctx := context.Background()
	rs := threeRevisions(t)
	started, release := make(chan int64, 4), make(chan struct{})
	s := &rulesService{rs: rs, load: func(ctx context.Context, rev int64) (*policy.Engine, error) {
		if rev == 0 { // the slow compile
			started <- rev
			<-release
		}
		return rs.EngineAt(ctx, rev)
	}}
	if _, err := s.Diff(ctx, 1, 2); err != nil { // revisions 1 and 2 kept
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() { _, err := s.Diff(ctx, 0, 1); slow <- err }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the compile of revision 0 did not start")
	}
	kept := make(chan error, 1)
	go func() { _, err := s.Diff(ctx, 1, 2); kept <- err }()
	select {
	case err := <-kept:
		if err != nil {
			t.Errorf("the diff of kept revisions: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the diff of kept revisions 1 and 2 waited behind the compile of revision 0")
	}
	// A diff that must compile too waits only as long as its request
	// may: it held its tenant's plan slot while waiting for ever.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	waited := make(chan error, 1)
	go func() { _, err := s.Diff(short, 0, 3); waited <- err }()
	select {
	case err := <-waited:
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a diff waiting for the compile past its deadline: %v, want the deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a diff waiting for the compile outlived its deadline")
	}
	cancel()
	close(release)
	if err := <-slow; err != nil {
		t.Errorf("the diff that compiled: %v", err)
	}
}

// TestRulesDiffKeepsBoundedBytes: the diff cache kept up to eight
// compiled revisions whatever their size, and a revision at the loader's
// bounds takes gigabytes compiled (a file of comprehensions, about 150
// bytes a byte): eight of them were tens of gigabytes, kept for any
// tenant's diff. It keeps engines up to a bound on their SizeEstimate
// together, and none larger than the bound.
func TestRulesDiffKeepsBoundedBytes(t *testing.T) {
	ctx := context.Background()
	rs := threeRevisions(t)
	// Each revision's engine holds a pack of comprehensions, of a few
	// megabytes compiled.
	big := func(rev int64) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: big-%d}\nrules:\n", rev)
		cond := strings.Repeat("[0].all(x,x<1)&&", 23) + "[0].all(x,x<1)"
		for i := range 40 {
			fmt.Fprintf(&b, "  - {id: big-%d-%d, jurisdiction: ORG, kind: org-policy, effect: deny, effectiveFrom: 2024-01-01, enforcement: in-force, confidence: confirmed, sources: [t], message: \"site {site.country}\", condition: \"%s\"}\n", rev, i, cond)
		}
		return []byte(b.String())
	}
	loaded := map[int64]int{}
	s := &rulesService{rs: rs, load: func(ctx context.Context, rev int64) (*policy.Engine, error) {
		loaded[rev]++
		return policy.New(policy.Options{Files: []policy.File{{Name: "big.yaml", Data: big(rev)}}})
	}}
	one, err := s.load(ctx, 9)
	if err != nil {
		t.Fatal(err)
	}
	// Room for two of them, not three.
	s.maxBytes = 2*one.SizeEstimate() + one.SizeEstimate()/2
	for _, p := range [][2]int64{{0, 1}, {1, 2}, {0, 2}, {2, 1}} {
		if _, err := s.Diff(ctx, p[0], p[1]); err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, e := range s.engines {
			sum += e.SizeEstimate()
		}
		if sum > s.maxBytes || len(s.engines) > 2 {
			t.Fatalf("after the diff of %d and %d: %d engines kept, %d bytes, over the bound of %d", p[0], p[1], len(s.engines), sum, s.maxBytes)
		}
		if sum != s.kept {
			t.Fatalf("the engines kept take %d bytes, counted as %d", sum, s.kept)
		}
	}
	// The engines are still kept while they fit: the last diff's two
	// revisions are not compiled again.
	before := loaded[1] + loaded[2]
	if _, err := s.Diff(ctx, 1, 2); err != nil {
		t.Fatal(err)
	}
	if loaded[1]+loaded[2] != before {
		t.Errorf("the diff of kept revisions 1 and 2 compiled them again")
	}
	// An engine larger than the whole bound is not kept.
	s.maxBytes = one.SizeEstimate() / 2
	s.engines, s.kept = nil, 0
	if _, err := s.Diff(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	if len(s.engines) != 0 {
		t.Errorf("%d engines kept, each larger than the bound", len(s.engines))
	}
}

// threeRevisions is the rules of a fresh SQLite store with three revisions
// applied, each denying one more country (fr, de, it).
func threeRevisions(t *testing.T) *rules.State {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
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
	return rs
}
