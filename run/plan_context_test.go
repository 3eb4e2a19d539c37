package run

import (
	"context"
	"errors"
	"sync"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
)

// leavingLaw is the built-in law, whose first evaluation ends the request
// it judges for: a client that goes away while its plan is made.
type leavingLaw struct {
	e      *policy.Engine
	once   sync.Once
	cancel context.CancelFunc
}

func (l *leavingLaw) Session(q policy.Query) (planner.Session, error) {
	return l.SessionContext(context.Background(), q)
}

func (l *leavingLaw) SessionContext(ctx context.Context, q policy.Query) (planner.Session, error) {
	s, err := l.e.SessionContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return leavingSession{l, s}, nil
}

type leavingSession struct {
	l *leavingLaw
	s *policy.Session
}

func (s leavingSession) Evaluate(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) policy.Decision {
	s.l.once.Do(s.l.cancel)
	return s.s.Evaluate(site, pool, acc)
}

// TestPlanStopsWithRequest: an API plan was made under no context, so a
// plan whose client had gone, or whose route deadline had passed, judged
// every candidate to the end. The controller hands the request's context
// to the planner, which stops and fails with its error.
func TestPlanStopsWithRequest(t *testing.T) {
	eng, err := policy.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	law := &leavingLaw{e: eng}
	e := newEnv(t, func(c *Config) {
		c.PlanWith = func(w *catalog.World, job *catalog.TrainingJob, opts planner.Options) (*planner.Plan, error) {
			opts.Rules = law
			return planner.Make(w, job, opts)
		}
	})
	// The same plan under a context that stays: it is made.
	law.cancel = func() {}
	if _, err := e.c.Plan(context.Background(), "t1", PlanRequest{Documents: []Document{jobDoc(30, 10)}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	law.once, law.cancel = sync.Once{}, cancel
	p, err := e.c.Plan(ctx, "t1", PlanRequest{Documents: []Document{jobDoc(30, 10)}})
	if !errors.Is(err, context.Canceled) || p != nil {
		t.Fatalf("a plan whose request ended: plan %v, err %v; want no plan and context.Canceled", p != nil, err)
	}
}
