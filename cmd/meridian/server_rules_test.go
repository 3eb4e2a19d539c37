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

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// TestRulesDiffReadsOnce: any tenant may ask GET /v1/rules/diff, at a
// plan's cost of the rate limit. Reading a revision parses every rule
// file, so a diff of revisions other than the current one may not do
// that on every request: asked again, it costs a small part of one read.
func TestRulesDiffReadsOnce(t *testing.T) {
	ctx := context.Background()
	rs := threeRevisions(t)
	s := &rulesService{rs: rs}
	load := testing.AllocsPerRun(1, func() {
		if _, err := rs.WrittenAt(ctx, 1); err != nil {
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
		t.Errorf("a repeated diff of revisions 1 and 2 (current: 3) makes %.0f allocations; reading one revision makes %.0f", again, load)
	}
}

// TestRulesDiffKeptNotBehindARead: a diff of revisions the server keeps
// answers while another diff reads a revision it does not keep: the read
// held the lock the kept laws are read under, so every tenant's diffs
// waited behind each read of a revision someone asked for in turn.
func TestRulesDiffKeptNotBehindARead(t *testing.T) {
	ctx := context.Background()
	rs := threeRevisions(t)
	started, release := make(chan int64, 4), make(chan struct{})
	s := &rulesService{rs: rs, load: func(ctx context.Context, rev int64) (rules.Written, error) {
		if rev == 0 { // the slow read
			started <- rev
			<-release
		}
		return rs.WrittenAt(ctx, rev)
	}}
	if _, err := s.Diff(ctx, 1, 2); err != nil { // revisions 1 and 2 kept
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() { _, err := s.Diff(ctx, 0, 1); slow <- err }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the read of revision 0 did not start")
	}
	kept := make(chan error, 1)
	go func() { _, err := s.Diff(ctx, 1, 2); kept <- err }()
	select {
	case err := <-kept:
		if err != nil {
			t.Errorf("the diff of kept revisions: %v", err)
		}
	// The read of revision 0 holds until release, after these checks: a
	// diff waiting behind it never ends here, so the bound only needs to
	// be past what a loaded machine takes for a diff in memory.
	case <-time.After(60 * time.Second):
		t.Error("the diff of kept revisions 1 and 2 waited behind the read of revision 0")
	}
	// A diff that must read too waits only as long as its request may:
	// it held its tenant's plan slot while waiting for ever.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	waited := make(chan error, 1)
	go func() { _, err := s.Diff(short, 0, 3); waited <- err }()
	select {
	case err := <-waited:
		var ie *api.InputError
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ie) {
			t.Errorf("a diff waiting for the read past its deadline: %v, want the deadline (not the request's fault)", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("a diff waiting for the read outlived its deadline")
	}
	cancel()
	close(release)
	if err := <-slow; err != nil {
		t.Errorf("the diff that read: %v", err)
	}
}

// comprehensions is a rule file of n rules whose conditions are
// comprehensions, the costliest to compile a byte.
func comprehensions(name string, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: %s}\nrules:\n", name)
	cond := strings.Repeat("[0].all(x,x<1)&&", 23) + "[0].all(x,x<1)"
	for i := range n {
		fmt.Fprintf(&b, "  - {id: %s-%d, jurisdiction: ORG, kind: org-policy, effect: deny, effectiveFrom: 2024-01-01, enforcement: in-force, confidence: confirmed, sources: [t], message: \"site {site.country}\", condition: \"%s\"}\n", name, i, cond)
	}
	return []byte(b.String())
}

// TestRulesDiffCompilesNothing: a diff of a revision other than the
// current one compiled every rule of it, though a diff reads only what the
// files write (rules.Compare), and without the request's context: a
// revision at the loader's bounds (16 MiB; 2 MiB of comprehensions took 12
// s and 300 MiB to compile) cost that on every diff not kept, past the
// request's deadline. It parses the files, stops with the request, and
// keeps at most maxDiffLaws revisions.
func TestRulesDiffCompilesNothing(t *testing.T) {
	ctx := context.Background()
	rs := threeRevisions(t)
	big := policy.File{Name: "big.yaml", Data: comprehensions("big", 200)}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{big}}, "test", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs.Apply(ctx, rules.Change{Remove: []string{"deny-fr.yaml"}}, "test", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	compile := testing.AllocsPerRun(1, func() {
		if _, err := policy.New(policy.Options{Files: []policy.File{big}}); err != nil {
			t.Fatal(err)
		}
	})
	diff := testing.AllocsPerRun(1, func() {
		s := &rulesService{rs: rs}
		d, err := s.Diff(ctx, 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Added) != 200 {
			t.Fatalf("diff 3 → 4: %d rules added, want 200", len(d.Added))
		}
	})
	t.Logf("a diff of revision 4 (200 rules of comprehensions): %.0f allocations; compiling its pack: %.0f", diff, compile)
	if diff > compile/4 {
		t.Errorf("a diff of revision 4 makes %.0f allocations; compiling its pack makes %.0f", diff, compile)
	}
	// A request that ended reads no revision.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for i := range 10 {
		s := &rulesService{rs: rs}
		_, err := s.Diff(gone, 3, 4)
		var ie *api.InputError
		if !errors.Is(err, context.Canceled) || errors.As(err, &ie) {
			t.Fatalf("try %d: a diff for a request that ended: %v, want it cancelled", i, err)
		}
	}
	// At most maxDiffLaws kept.
	s := &rulesService{rs: rs}
	for _, p := range [][2]int64{{0, 1}, {2, 3}, {3, 4}, {1, 4}, {0, 2}} {
		if _, err := s.Diff(ctx, p[0], p[1]); err != nil {
			t.Fatal(err)
		}
		if len(s.laws) > maxDiffLaws {
			t.Fatalf("after the diff of %d and %d: %d revisions kept, over %d", p[0], p[1], len(s.laws), maxDiffLaws)
		}
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
