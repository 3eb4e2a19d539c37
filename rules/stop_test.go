package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// leavingStore is a store whose reader leaves as soon as the latest
// revision has been looked up: the request's context ends then.
type leavingStore struct {
	Store
	leave func()
	puts  int
}

func (s *leavingStore) PutRuleRevision(ctx context.Context, r *store.RuleRevision, after int64, rec audit.Record) (*store.RuleRevision, error) {
	s.puts++
	return s.Store.PutRuleRevision(ctx, r, after, rec)
}

func (s *leavingStore) LastRuleRevision(ctx context.Context) (int64, error) {
	last, err := s.Store.LastRuleRevision(ctx)
	if s.leave != nil {
		s.leave()
	}
	return last, err
}

// largePack is a rule file of n rules denying a made-up country each.
func largePack(name string, n int) policy.File {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: %s}\nrules:\n", strings.TrimSuffix(name, ".yaml"))
	for i := range n {
		fmt.Fprintf(&b, "  - {id: large-%d, jurisdiction: ORG, kind: org-policy, effect: deny, effectiveFrom: 2024-01-01, enforcement: in-force, confidence: confirmed, sources: [stop_test.go], message: \"site {site.name}\", condition: \"site.country == 'X%d'\"}\n", i, i)
	}
	return policy.File{Name: name, Data: []byte(b.String())}
}

// TestApplyStopsWithTheRequest: an apply whose request ends before the
// proposed files are loaded loads them no further (it never gets to the
// store), stores nothing, and says the request ended.
func TestApplyStopsWithTheRequest(t *testing.T) {
	st := &leavingStore{Store: openStore(t, t.TempDir())}
	s, err := Open(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st.leave = cancel
	_, _, err = s.Apply(ctx, Change{Files: []policy.File{largePack("large.yaml", 300)}}, "admin", "load it", time.Now())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("apply for a request that ended: %v, want context.Canceled", err)
	}
	if st.puts != 0 {
		t.Errorf("an apply whose request ended loaded the proposed law in full and went on to store it")
	}
	st.leave = nil
	if h, err := s.History(context.Background(), 0, 1000); err != nil || len(h) != 0 {
		t.Errorf("revisions after an apply whose request ended: %d (%v), want none", len(h), err)
	}
	if s.Current().Rev != 0 {
		t.Errorf("law in force: revision %d, want 0", s.Current().Rev)
	}
	_, _, err = s.ProposedContext(ctx, Change{Files: []policy.File{largePack("large.yaml", 300)}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a what-if's proposed law for a request that ended: %v, want context.Canceled", err)
	}
}

// TestRefreshStoppedIsNotBehind: a refresh that stops because its
// request ended says nothing about whether the new revision loads here:
// the server is not marked behind (which would refuse every plan and
// staging until the next refresh), and the next refresh puts it in force.
func TestRefreshStoppedIsNotBehind(t *testing.T) {
	bg := context.Background()
	st := &leavingStore{Store: openStore(t, t.TempDir())}
	here, err := Open(bg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(bg, st.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Apply(bg, Change{Files: []policy.File{largePack("large.yaml", 300)}}, "admin", "other server", time.Now()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	st.leave = cancel
	if err := here.Refresh(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("refresh for a request that ended: %v, want context.Canceled", err)
	}
	st.leave = nil
	if err := here.Behind(); err != nil {
		t.Errorf("behind after a refresh that stopped: %v", err)
	}
	countries, err := catalog.BuiltinCountries()
	if err != nil {
		t.Fatal(err)
	}
	q := policy.Query{AsOf: catalog.MustDate("2026-01-01"), Countries: countries}
	if _, err := here.Law().Session(q); err != nil {
		t.Errorf("a plan after a refresh that stopped: %v", err)
	}
	if err := here.Refresh(bg); err != nil || here.Current().Rev != 1 {
		t.Fatalf("the next refresh: %v, revision %d, want 1", err, here.Current().Rev)
	}
}
