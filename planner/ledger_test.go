package planner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// countingLedger reports that lab exported the data of 95,000 people
// from CN on 2026-02-01, counting its reads.
type countingLedger struct {
	mu    sync.Mutex
	reads int
	fail  bool
}

func (l *countingLedger) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	if l.fail {
		return nil, errors.New("database is locked")
	}
	on := catalog.MustDate("2026-02-01")
	if origin != "CN" || !slices.Contains(orgs, "lab") || on.Before(since) || on.After(until) {
		return nil, nil
	}
	return []policy.Export{{Org: "lab", Dataset: "cn-before", Class: catalog.ClassPersonal, Subjects: 95000}}, nil
}

// ledgerWorld is lab (in SG) planning a job on 10,000 Chinese people's
// data at sites in eight countries, none of them China.
func ledgerWorld(t *testing.T) *catalog.World {
	docs := []string{`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec: {headquarters: SG}`, `apiVersion: meridian.dev/v1alpha1
kind: Dataset
metadata: {name: cn-more}
spec:
  origin: CN
  sizeBytes: 1.0e9
  classification: personal
  subjects: 10000`, job("  datasets: [cn-more]")}
	for i, cc := range []string{"SG", "MY", "JP", "US", "DE", "GB", "IN", "AU"} {
		docs = append(docs, site(fmt.Sprintf("s-%d", i), cc, 10, 0.05, pool("test-fast", 64, 64, 2), pool("test-slow", 64, 64, 1)))
	}
	return testWorld(t, docs...)
}

// TestPlanCountsLedger: a plan given the ledger (Options.Exports, or a
// context WithLedger) counts the 95,000 people lab exported before, which
// with the job's 10,000 need a standard contract (cn-cbdf-2024-contract):
// no pool is lawful. Without one (the CLI's offline plan) only the
// 10,000 count. A ledger that fails fails the plan: its rules judged
// nothing, and a denial would blame the law for the store's error.
func TestPlanCountsLedger(t *testing.T) {
	eng, err := policy.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	law := PolicyLaw(eng)
	w := ledgerWorld(t)
	asOf := catalog.MustDate("2026-06-01")
	plan := func(opts Options) (*Plan, error) {
		opts.AsOf, opts.Rules, opts.Estimator = asOf, law, &sixND{mfu: 0.4}
		return Make(w, w.Jobs[0], opts)
	}
	offline, err := plan(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(offline.Placements) == 0 {
		t.Fatalf("without a ledger: no placement (%+v), want the SG pools lawful", offline.Rejected)
	}
	denied := func(p *Plan) bool {
		return len(p.Placements) == 0 && len(p.Rejected) > 0 && !slices.ContainsFunc(p.Rejected, func(rj Rejection) bool {
			return !slices.ContainsFunc(rj.Reasons, func(f policy.Finding) bool { return f.Rule == "cn-cbdf-2024-contract" })
		})
	}
	for _, how := range []string{"options", "context"} {
		l := &countingLedger{}
		opts := Options{Exports: l}
		if how == "context" {
			opts = Options{Context: WithLedger(context.Background(), l)}
		}
		p, err := plan(opts)
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if !denied(p) {
			t.Errorf("with the ledger in the %s: %d placements, rejections %+v; want every pool denied by cn-cbdf-2024-contract", how, len(p.Placements), p.Rejected)
		}
		if l.reads == 0 {
			t.Errorf("with the ledger in the %s: never read", how)
		}
	}
	_, err = plan(Options{Exports: &countingLedger{fail: true}})
	if !errors.Is(err, ErrLedgerUnread) || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("with a ledger that fails: %v, want ErrLedgerUnread with its cause", err)
	}
}

// batchingLedger is a countingLedger that answers batches: each batch
// counts the questions asked through it.
type batchingLedger struct {
	countingLedger
	batches []*countingLedger
}

func (l *batchingLedger) Batch() policy.Exports {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &countingLedger{}
	l.batches = append(l.batches, b)
	return b
}

// TestPlanAsksLedgerAsOneBatch: a plan asks every question of a ledger
// that answers batches through one batch of its own, so that the
// server's ledger looks for new records once a plan, not once a
// question; a second plan has a batch of its own.
func TestPlanAsksLedgerAsOneBatch(t *testing.T) {
	eng, err := policy.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := ledgerWorld(t)
	l := &batchingLedger{}
	for i := range 2 {
		if _, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2026-06-01"), Rules: PolicyLaw(eng), Estimator: &sixND{mfu: 0.4}, Exports: l}); err != nil {
			t.Fatal(err)
		}
		if len(l.batches) != i+1 {
			t.Fatalf("after plan %d: %d batches, want one a plan", i+1, len(l.batches))
		}
		if l.batches[i].reads == 0 || l.reads != 0 {
			t.Errorf("plan %d: %d questions through its batch, %d past it; want all through it", i+1, l.batches[i].reads, l.reads)
		}
	}
}
