package planner

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// cancelLaw is a law that ends the plan's context once it has judged
// after candidates, as a client that goes away mid-plan does, and counts
// what it judged.
type cancelLaw struct {
	inner  Law
	after  int64
	cancel context.CancelFunc
	n      atomic.Int64
}

func (l *cancelLaw) Session(q policy.Query) (Session, error) {
	s, err := l.inner.Session(q)
	if err != nil {
		return nil, err
	}
	return cancelSession{l, s}, nil
}

// SessionContext passes the plan's context on when the inner law takes one.
func (l *cancelLaw) SessionContext(ctx context.Context, q policy.Query) (Session, error) {
	cl, ok := l.inner.(ContextLaw)
	if !ok {
		return l.Session(q)
	}
	s, err := cl.SessionContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return cancelSession{l, s}, nil
}

type cancelSession struct {
	l *cancelLaw
	s Session
}

func (s cancelSession) Evaluate(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) policy.Decision {
	if s.l.n.Add(1) == s.l.after {
		s.l.cancel()
	}
	return s.s.Evaluate(site, pool, acc)
}

// TestContextStopsPlan: a plan whose client went away went on judging
// every site × accelerator of the catalog (8,000 here), the law's work
// included, for nobody. Once the plan's context is done it stops between
// candidates and returns the context's error, with no plan.
func TestContextStopsPlan(t *testing.T) {
	w, err := synth.World(2000, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, s := range w.Sites {
		total += len(s.Spec.Pools)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	law := &cancelLaw{inner: &tableLaw{}, after: 50, cancel: cancel}
	p, err := Make(w, w.Jobs[0], Options{Context: ctx, AsOf: catalog.MustDate("2026-01-01"), Rules: law, Estimator: &sixND{mfu: 0.4}})
	if !errors.Is(err, context.Canceled) || p != nil {
		t.Fatalf("Make after its context ended: plan %v, err %v; want no plan and context.Canceled", p != nil, err)
	}
	// Each worker may finish the candidate it holds.
	if n := law.n.Load(); n > law.after+int64(len(w.Sites)) || n >= int64(total) {
		t.Errorf("%d of %d candidates judged after the context ended at the %dth", n, total, law.after)
	}

	// A deadline that passed before planning began: nothing is judged.
	past, cancelPast := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelPast()
	law = &cancelLaw{inner: &tableLaw{}, after: -1, cancel: func() {}}
	if p, err := Make(w, w.Jobs[0], Options{Context: past, AsOf: catalog.MustDate("2026-01-01"), Rules: law, Estimator: &sixND{mfu: 0.4}}); !errors.Is(err, context.DeadlineExceeded) || p != nil {
		t.Fatalf("Make past its deadline: plan %v, err %v; want no plan and context.DeadlineExceeded", p != nil, err)
	}
	if n := law.n.Load(); n != 0 {
		t.Errorf("%d candidates judged past the deadline", n)
	}
}

// contextOnlyLaw is the real engine with sessions opened only with a
// context (ContextLaw): its Session is never the planner's to call.
type contextOnlyLaw struct{ e *policy.Engine }

func (l contextOnlyLaw) Session(q policy.Query) (Session, error) {
	return nil, errors.New("opened without the plan's context")
}

func (l contextOnlyLaw) SessionContext(ctx context.Context, q policy.Query) (Session, error) {
	return PolicyLaw(l.e).(ContextLaw).SessionContext(ctx, q)
}

// TestCancelledLawIsNoPlan: the policy engine's sessions get the plan's
// context, and deny every candidate judged after it ends (failing
// closed). Such a plan must not come back as one whose candidates were
// all judged: the last of them denied, it looked complete, with fewer
// placements than the law allows. Make returns the context's error.
func TestCancelledLawIsNoPlan(t *testing.T) {
	eng, err := policy.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w, err := catalog.Load(AssumptionKeys(), "testdata/world/sites", "../examples/qwen-offshore.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{AsOf: catalog.MustDate("2025-06-01"), Rules: contextOnlyLaw{eng}}
	full, err := Make(w, w.Jobs[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Placements) == 0 {
		t.Fatal("the plan has no placements to begin with")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts.Context = ctx
	opts.Rules = &cancelLaw{inner: contextOnlyLaw{eng}, after: 1, cancel: cancel}
	p, err := Make(w, w.Jobs[0], opts)
	if !errors.Is(err, context.Canceled) || p != nil {
		n := -1
		if p != nil {
			n = len(p.Placements)
		}
		t.Fatalf("a plan whose law was stopped: %d placements (of %d), err %v; want no plan and context.Canceled", n, len(full.Placements), err)
	}
}
