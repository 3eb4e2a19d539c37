package run

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// sayDone is a site whose scheduler says every job succeeded.
type sayDone struct{ backend.Backend }

func (sayDone) Status(context.Context, string) (backend.Status, error) {
	return backend.Status{State: backend.Succeeded}, nil
}

// TestSiteSuccessAfterAFailedExitFails: the agent runs the workload and
// exits with its code, so the site's scheduler sees a job whose workload
// exited 3 as failed. A site that said such a job succeeded (a scheduler
// that misreports, or one that lies) had the run recorded as succeeded,
// its exit code 3 beside it. The exit the agent reported is the
// workload's own end, recorded first: the run fails, saying both.
func TestSiteSuccessAfterAFailedExitFails(t *testing.T) {
	for _, code := range []int{3, 0} {
		st, dir := testStore(t)
		cfg := sitesConfig(st, dir)
		inner := cfg.Backends
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(site, root)
			if err != nil {
				return nil, err
			}
			return sayDone{b}, nil
		}
		c := handStepped(t, cfg)
		ctx := context.Background()
		r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100, 10)}})
		if err != nil {
			t.Fatal(err)
		}
		r, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			r.Attempt = 1
			r.Attempts = []Attempt{{N: 1, Site: r.Site, Nonce: newNonce(), OwnCheckpointNames: true, Handle: "job-1"}}
			r.Handle = "job-1"
			r.State = Running
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, c: c}
		body, _ := json.Marshal(agent.Exit{Code: code})
		if got, msg, _ := agentPost(t, e, r, r.Attempts[0], agent.RouteExit, body); got != http.StatusOK {
			t.Fatalf("exit report: %d %s", got, msg)
		}
		if _, err := c.Step(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := Succeeded
		if code != 0 {
			want = Failed
		}
		if got.State != want {
			t.Errorf("exit code %d, the site saying the job succeeded: the run is %s (%s); want %s", code, got.State, got.Reason, want)
		}
		if code != 0 && !strings.Contains(got.Reason, "code 3") {
			t.Errorf("the failed run's reason %q does not name the workload's exit code", got.Reason)
		}
	}
}

// TestSiteSuccessWithoutItsAgentIsNoSuccess: a site that said a job
// succeeded whose agent never reported to the server at all (never
// fetched its manifest, so its workload never ran) had the run recorded
// as succeeded: a hostile or broken scheduler could end any run so. The
// site is now lost for the attempt and the run moves on; an agent heard
// from whose exit report was lost is still taken at the site's word.
func TestSiteSuccessWithoutItsAgentIsNoSuccess(t *testing.T) {
	// How the agent was heard: never, by a heartbeat, or by its manifest's
	// fetch and nothing more (a job that ended before its first
	// heartbeat, its exit report lost).
	for _, how := range []string{"", "heartbeat", "manifest"} {
		heard := how != ""
		st, dir := testStore(t)
		cfg := sitesConfig(st, dir)
		inner := cfg.Backends
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(site, root)
			if err != nil {
				return nil, err
			}
			return sayDone{b}, nil
		}
		c := handStepped(t, cfg)
		ctx := context.Background()
		r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100, 10)}})
		if err != nil {
			t.Fatal(err)
		}
		r, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			r.Attempt = 1
			r.Attempts = []Attempt{{N: 1, Site: r.Site, Nonce: newNonce(), OwnCheckpointNames: true, Handle: "job-1"}}
			r.Handle = "job-1"
			r.State = Running
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		site := r.Site
		e := &env{t: t, c: c}
		switch how {
		case "heartbeat":
			if got, msg, _ := agentPost(t, e, r, r.Attempts[0], agent.RouteHeartbeat, []byte("{}")); got != http.StatusOK {
				t.Fatalf("heartbeat: %d %s", got, msg)
			}
		case "manifest":
			if got, msg, _ := agentCall(t, e, r, r.Attempts[0], "GET", agent.RouteManifest, nil); got != http.StatusOK {
				t.Fatalf("manifest: %d %.200s", got, msg)
			}
		}
		if _, err := c.Step(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case heard && got.State != Succeeded:
			t.Errorf("the agent heard (%s), no exit reported, the site saying the job succeeded: the run is %s (%s); want Succeeded", how, got.State, got.Reason)
		case !heard && (got.State == Succeeded || !strings.Contains(got.Reason, "never reported")):
			t.Errorf("the agent never heard, the site saying the job succeeded: the run is %s (%s); want it not succeeded, the reason saying its agent never reported", got.State, got.Reason)
		case !heard && !slices.Contains(got.Excluded, site):
			t.Errorf("the run excludes %v; want %s lost for the attempt", got.Excluded, site)
		}
	}
}
