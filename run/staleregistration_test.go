package run

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// gatedStaging is a store whose first staging lease waits until opened:
// the staging has read its run's world and waits for its turn, the way a
// staging waits behind another into the same store.
type gatedStaging struct {
	store.Store
	once    sync.Once
	entered chan struct{}
	open    chan struct{}
}

func (g *gatedStaging) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error) {
	if strings.HasPrefix(name, "staging:") {
		first := false
		g.once.Do(func() { first = true })
		if first {
			close(g.entered)
			select {
			case <-g.open:
			case <-ctx.Done():
				return store.Lease{}, ctx.Err()
			}
		}
	}
	return g.Store.TryLease(ctx, name, holder, ttl)
}

// countingLaw is BasisLaw that records, once on, the head counts it was
// asked about for one dataset: of the dataset judged, and of the query's
// copy of it (the volumes count those).
type countingLaw struct {
	name string
	mu   sync.Mutex
	on   bool
	seen []string
}

func (l *countingLaw) EvaluateTransfer(q policy.Query, ds *catalog.Dataset, to string) policy.Decision {
	l.mu.Lock()
	if l.on && ds.Metadata.Name == l.name {
		planned := int64(-1)
		for _, d := range q.Datasets {
			if d.Metadata.Name == l.name {
				planned = d.Spec.Subjects
			}
		}
		l.seen = append(l.seen, fmt.Sprintf("judged %d, planned %d", ds.Spec.Subjects, planned))
	}
	l.mu.Unlock()
	return transfer.BasisLaw{}.EvaluateTransfer(q, ds, to)
}

// stagedAfterUpdate submits a run of one dataset d, registered with
// d.subjects people, stages it under law and, once the staging has read
// its world and waits for its turn, updates the dataset's registration to
// now people and calls updated: it returns the run ended.
func stagedAfterUpdate(t *testing.T, law transfer.Law, d testData, now int64, updated func()) (*env, *Run) {
	t.Helper()
	return stagedAfterEdit(t, law, d, func(doc string) string {
		return strings.Replace(doc, fmt.Sprintf("subjects: %d", d.subjects), fmt.Sprintf("subjects: %d", now), 1)
	}, updated)
}

// stagedAfterEdit is stagedAfterUpdate with the dataset's document
// updated to edit's.
func stagedAfterEdit(t *testing.T, law transfer.Law, d testData, edit func(doc string) string, updated func()) (*env, *Run) {
	t.Helper()
	var keys dataset.Keyring
	gate := &gatedStaging{entered: make(chan struct{}), open: make(chan struct{})}
	e := newEnv(t, func(c *Config) {
		tk := dataset.TenantKeyrings{Root: c.StateDir}
		keys, _ = tk.For("t1")
		c.Stager = &transfer.Stager{Law: law, Keys: tk, Ledger: transfer.AuditLedger{Store: c.Store.(*store.SQLite)}}
		c.AuditChain = audit.NewChain(testAuditKey)
		gate.Store = c.Store
		c.Store = gate
	})
	opened := false
	defer func() {
		if !opened {
			close(gate.open)
		}
	}()
	ctx := context.Background()
	res := addDataset(t, e.dir, keys, d)
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(20, 10, []string{d.name}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-gate.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the run's staging never began")
	}
	// The staging has its world; the tenant updates the dataset.
	doc := edit(strings.TrimPrefix(res, "---\n"))
	if doc == strings.TrimPrefix(res, "---\n") {
		t.Fatal("the document did not change")
	}
	if _, err := e.c.Apply(ctx, "t1", []Document{{Name: "ds.yaml", Content: doc}}, true); err != nil {
		t.Fatal(err)
	}
	updated()
	opened = true
	close(gate.open)
	return e, e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
}

// TestRunStagingCountsRegistrationNow: a run's staging whose world was
// read before the tenant updated its dataset's registration asked the law
// about, and recorded in the ledger, the head count of the world's copy:
// a registration updated from 1,000 people to 5,000 crossed as 1,000, and
// the volume thresholds undercounted. The staging now counts the larger of
// the two (the registration's 5,000, recorded as its sealed registration),
// and an update down to fewer people counts the run's 5,000, not the
// registration's 1,000.
func TestRunStagingCountsRegistrationNow(t *testing.T) {
	for _, tc := range []struct{ run, now int64 }{{1000, 5000}, {5000, 1000}} {
		t.Run(fmt.Sprintf("%d-then-%d", tc.run, tc.now), func(t *testing.T) {
			law := &countingLaw{name: "corpus-a"}
			e, r := stagedAfterUpdate(t, law, testData{name: "corpus-a", origin: "SG", class: catalog.ClassPersonal, subjects: tc.run, stored: true}, tc.now, func() {
				law.mu.Lock()
				law.on = true
				law.mu.Unlock()
			})
			ctx := context.Background()
			if r.State != Succeeded {
				t.Fatalf("ended %s: %s", r.State, r.Reason)
			}
			want := max(tc.run, tc.now)
			tr := e.transfers(r.ID)
			if len(tr) != 1 {
				t.Fatalf("ledger %+v, want one staging", tr)
			}
			if tr[0].Subjects != want {
				t.Errorf("the ledger recorded %d subjects, want %d (the run's copy %d, the registration now %d)", tr[0].Subjects, want, tc.run, tc.now)
			}
			law.mu.Lock()
			seen := law.seen
			law.mu.Unlock()
			if len(seen) == 0 {
				t.Fatal("the law was not asked about the staging")
			}
			for _, s := range seen {
				if s != fmt.Sprintf("judged %d, planned %d", want, want) {
					t.Errorf("the law was asked about %s, want %d for both", s, want)
				}
			}
			if !hasEvent(e.events(r.ID), "staging: ", fmt.Sprintf("the staging counts %d", want)) {
				t.Errorf("no event says which head count the staging counted: %v", e.events(r.ID))
			}
			if tc.now > tc.run {
				// Counted as the registration it is, not beside it.
				staged, err := e.c.StageDataset(ctx, "t1", "corpus-a", StageRequest{Site: "alpha"})
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(tr[0].Registration, "@") || tr[0].Registration != staged.Entry.Registration {
					t.Errorf("the run recorded registration %q, the server's staging %q: want the registration in force", tr[0].Registration, staged.Entry.Registration)
				}
			}
		})
	}
}

// TestRunStagingJudgedWithRegistrationNow: the law's thresholds read the
// head count the staging counts. Personal data of 999,999 people may
// leave China under a standard contract; registered as 1,200,000 while
// the run's staging waited, it needs a security assessment, and the
// staging, which asked the law about the 999,999 of the run's copy, sent
// it. It is now refused, nothing recorded as sent.
func TestRunStagingJudgedWithRegistrationNow(t *testing.T) {
	eng, err := policy.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	e, r := stagedAfterUpdate(t, eng, testData{name: "people", origin: "CN", class: catalog.ClassPersonal, subjects: 999999,
		bases: []string{"cn-standard-contract"}, stored: true}, 1200000, func() {})
	if r.State != Failed || !strings.Contains(r.Reason, "rule cn-cbdf-2024-assessment") {
		t.Fatalf("ended %s: %s; want refused by cn-cbdf-2024-assessment", r.State, r.Reason)
	}
	if tr := e.transfers(r.ID); len(tr) != 0 {
		t.Errorf("ledger %+v, want nothing sent", tr)
	}
}
