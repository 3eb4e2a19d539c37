package run

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/agent"
)

// TestCheckpointShareUsesLengthRecordedWithIt: the share of the job a
// checkpoint holds, which a re-plan takes off the job's tokens, was its
// step over the run's length in steps as the workload last reported it.
// A workload whose checkpoint at step 50 of 100 was recorded could then
// report a length of 51 (its re-plan took the job as 98 % done, and
// planned 2 % of its tokens) or of 2^62 (planned whole). The length is
// recorded with the checkpoint now, and a later report does not change
// the checkpoint's share.
func TestCheckpointShareUsesLengthRecordedWithIt(t *testing.T) {
	c, r, a := agentOnlyController(t)
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	c.cfg.Now = clk.Now
	e := &env{t: t, c: c}
	ctx := context.Background()
	post := func(route string, v any) {
		t.Helper()
		body, _ := json.Marshal(v)
		if code, msg, _ := agentPost(t, e, r, a, route, body); code != http.StatusOK {
			t.Fatalf("%s: %d %s", route, code, msg)
		}
	}
	heartbeat := func(step, steps int64) {
		t.Helper()
		// Progress is saved at most once a second.
		clk.set(clk.Now().Add(2 * time.Second))
		post(agent.RouteHeartbeat, agent.Heartbeat{Phase: "running", Progress: &agent.Progress{Step: step, Steps: steps, Loss: 1}})
	}
	heartbeat(40, 100)
	post(agent.RouteCheckpoint, agent.CheckpointRef{Step: 50, Name: fmt.Sprintf(checkpointName(r.ID, a.N), 50), Path: "step-50",
		Bytes: 1234, SHA256: strings.Repeat("0123456789abcdef", 4)})
	for _, steps := range []int64{51, 1 << 62} {
		heartbeat(50+steps%7, steps)
		got, err := c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Progress == nil || got.Progress.Steps != steps {
			t.Fatalf("the run records progress %+v; want the reported length %d", got.Progress, steps)
		}
		if share := doneShare(got); share != 0.5 {
			t.Errorf("after a report of %d steps, the checkpoint at step 50 holds %.4f of the job; want 0.5, of the 100 steps reported when it was recorded", steps, share)
		}
		_, job, _, err := c.jobLeft(got)
		if err != nil {
			t.Fatal(err)
		}
		_, whole, err := c.worldJob(got)
		if err != nil {
			t.Fatal(err)
		}
		if job.Spec.Tokens != whole.Spec.Tokens/2 {
			t.Errorf("after a report of %d steps, a re-plan plans %g tokens of %g; want half", steps, job.Spec.Tokens, whole.Spec.Tokens)
		}
	}
}
