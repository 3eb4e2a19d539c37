package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
)

// slowVerify is a Controller whose verifications wait until released, as
// one of a large dataset at a slow store does.
type slowVerify struct {
	Controller
	started chan struct{}
	release chan struct{}
}

func (c *slowVerify) VerifyDataset(ctx context.Context, tenant, name, site string) (*dataset.VerifyReport, error) {
	c.started <- struct{}{}
	select {
	case <-c.release:
	case <-ctx.Done():
	}
	return &dataset.VerifyReport{}, nil
}

// TestLongCallsBounded: a tenant has at most MaxLongCalls stagings and
// verifications under way on a server; one more is answered 429 at once,
// another tenant's are not held back by them, and once one ends the
// tenant may start another. Its rate limit, paid once a call, let it keep
// about twenty verifications (each reading every chunk of a dataset) going
// at once.
func TestLongCallsBounded(t *testing.T) {
	sv := &slowVerify{started: make(chan struct{}, 16), release: make(chan struct{})}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { sv.Controller = c; return sv }})
	call := func(token string) int {
		code, _ := f.raw(t, "POST", "/v1/datasets/corpus/verify", token, `{"site": "alpha"}`)
		return code
	}
	wg, codes := fillThenOverflow(t, MaxLongCalls, sv.started, func() int { return call(tokA) }, "verification")
	other := make(chan int, 1)
	go func() { other <- call(tokB) }()
	select {
	case <-sv.started:
	case <-time.After(10 * time.Second):
		t.Fatal("another tenant's verification was held back")
	}
	sv.release <- struct{}{}
	if code := <-codes; code != http.StatusOK {
		t.Errorf("a verification that ran: %d", code)
	}
	go func() { codes <- call(tokA) }()
	select {
	case <-sv.started:
	case <-time.After(10 * time.Second):
		t.Fatal("a verification after one ended did not start")
	}
	close(sv.release)
	wg.Wait()
	<-other
}

// slowPlan is a Controller whose plans wait until released, as one over
// thousands of sites, or of a large request, keeps a processor busy.
type slowPlan struct {
	Controller
	started chan struct{}
	release chan struct{}
}

func (c *slowPlan) Plan(ctx context.Context, tenant string, req run.PlanRequest) (*planner.Plan, error) {
	c.started <- struct{}{}
	// The planner does not watch the request's context: a plan runs to
	// its end whoever waits for it.
	<-c.release
	return c.Controller.Plan(ctx, tenant, req)
}

// TestPlanCallsBounded: a tenant has at most MaxPlanCalls plans,
// submissions, estimates and registrations under way on a server; one
// more is answered 429 at once, over a real connection, and another tenant's plan is not
// held back. Only the rate limit bounded them, which lets a tenant start
// ten plans a second, each running to its end on the server's processors
// whether or not its client waits.
func TestPlanCallsBounded(t *testing.T) {
	sp := &slowPlan{started: make(chan struct{}, 16), release: make(chan struct{})}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { sp.Controller = c; return sp }, RateLimit: DefaultRateLimit})
	f.h.SetRules(diffOnly{})
	body, _ := json.Marshal(run.PlanRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	call := func(token string) int {
		code, _ := f.raw(t, "POST", "/v1/plans", token, string(body))
		return code
	}
	wg, codes := fillThenOverflow(t, MaxPlanCalls, sp.started, func() int { return call(tokA) }, "plan")
	// A submission, an estimate, a registration and a rules diff take
	// from the same count. A registration had no such bound: 100 of one
	// tenant's at once (its rate's burst), each of 3.3 MB of YAML, held
	// 3.9 GB of the server's heap and its processors for two minutes.
	for _, rq := range []struct{ method, path, body string }{
		{"POST", "/v1/runs", `{"documents": []}`},
		{"POST", "/v1/estimates", `{"documents": []}`},
		{"POST", "/v1/resources", `{"documents": []}`},
		{"GET", "/v1/rules/diff?from=0", ""},
	} {
		code, e := f.raw(t, rq.method, rq.path, tokA, rq.body)
		if code != http.StatusTooManyRequests || e.Code != "too_many_plans" {
			t.Errorf("%s %s beside %d plans under way: %d %+v, want 429 too_many_plans", rq.method, rq.path, MaxPlanCalls, code, e)
		}
	}
	// A plan turned away for want of a slot did no work and costs nothing
	// of the rate: charged, a client's retries of it drained the tenant's
	// rate as many plans would, and it was then refused as rate limited.
	// (The bucket holds 100, a plan costs 5: 40 plans are more.)
	for i := range 40 {
		if code, e := f.raw(t, "POST", "/v1/plans", tokA, string(body)); code != http.StatusTooManyRequests || e.Code != "too_many_plans" {
			t.Errorf("turned-away plan %d: %d %+v, want 429 too_many_plans (not the rate)", i, code, e)
			break
		}
	}
	if code, _ := f.raw(t, "GET", "/v1/rules/diff?from=0", tokB, ""); code != http.StatusOK {
		t.Errorf("another tenant's rules diff beside a's plans: %d, want 200", code)
	}
	other := make(chan int, 1)
	go func() { other <- call(tokB) }()
	select {
	case <-sp.started:
	case <-time.After(10 * time.Second):
		t.Fatal("another tenant's plan was held back")
	}
	sp.release <- struct{}{}
	if code := <-codes; code != http.StatusOK {
		t.Errorf("a plan that ran: %d", code)
	}
	wg.Add(1)
	go func() { defer wg.Done(); codes <- call(tokA) }()
	select {
	case <-sp.started:
	case <-time.After(10 * time.Second):
		t.Fatal("a plan after one ended did not start")
	}
	close(sp.release)
	wg.Wait()
	if code := <-other; code != http.StatusOK {
		t.Errorf("the other tenant's plan: %d", code)
	}
}

// diffOnly serves the rules routes' diff with an empty one.
type diffOnly struct{ RulesService }

func (diffOnly) Diff(ctx context.Context, from, to int64) (*rules.Diff, error) {
	return &rules.Diff{}, nil
}

// stuckAgents is a Controller whose agent API waits for its request's
// context to end, as a handler does whose store does not answer, and says
// when it did.
type stuckAgents struct {
	Controller
	ended chan error
}

func (c *stuckAgents) AgentHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		c.ended <- r.Context().Err()
		w.WriteHeader(http.StatusServiceUnavailable)
	})
}

// TestAgentRequestsHaveADeadline: a request to the agent API ends at its
// deadline, over a real connection whose client waits on: it had no
// deadline but its client's leaving, so whoever holds an attempt's
// credential held a goroutine and a connection of the server's for as long
// as the store did not answer.
func TestAgentRequestsHaveADeadline(t *testing.T) {
	sa := &stuckAgents{ended: make(chan error, 1)}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { sa.Controller = c; return sa }})
	f.h.agentTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", f.srv.URL+"/v1/agent/runs/run-x/attempts/1/heartbeat", nil)
	req.Header.Set("Authorization", "Bearer some-credential")
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case err := <-sa.ended:
		if err != context.DeadlineExceeded {
			t.Errorf("the agent's request ended with %v, want its deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an agent's request that its handler could not answer was still under way after 10 s (deadline 200 ms)")
	}
	if code := <-done; code != http.StatusServiceUnavailable {
		t.Errorf("the agent's answer: %d", code)
	}
}

// fillThenOverflow starts limit calls of one tenant, waits until each has
// started (started hears of each), and checks that one more is answered
// 429 without starting. The first calls' answers come on codes once they
// are let go; wg counts them.
func fillThenOverflow(t *testing.T, limit int, started chan struct{}, call func() int, what string) (*sync.WaitGroup, chan int) {
	t.Helper()
	wg := &sync.WaitGroup{}
	codes := make(chan int, limit+1)
	for range limit {
		wg.Add(1)
		go func() { defer wg.Done(); codes <- call() }()
	}
	for range limit {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("the first %ss did not start", what)
		}
	}
	extra := make(chan int, 1)
	wg.Add(1)
	go func() { defer wg.Done(); extra <- call() }()
	select {
	case code := <-extra:
		if code != http.StatusTooManyRequests {
			t.Errorf("a %s past the tenant's %d under way: %d, want 429", what, limit, code)
		}
	case <-started:
		t.Errorf("a %s past the tenant's %d under way was let in", what, limit)
	case <-time.After(5 * time.Second):
		t.Fatalf("no answer to a %s past the tenant's limit", what)
	}
	return wg, codes
}
