package run

import (
	"encoding/json"
	"testing"
	"time"

	"meridian.dev/meridian/agent"
)

// TestStopReplySaysWhenToKill: the answers to an agent said only "stop",
// so a workload ignoring SIGTERM at a site whose scheduler the server
// could not reach ran on while the server kept answering so. The answer
// now also says "kill" once the time the workload had to stop has passed:
// a move's drain deadline, or the drain grace after the first stop of a
// cancel; never before, so a drain keeps its time to checkpoint in. An
// agent that predates the field reads the same answer as before.
func TestStopReplySaysWhenToKill(t *testing.T) {
	const grace = 300 * time.Millisecond
	c := &Controller{cfg: Config{DrainGrace: grace}}
	a := Attempt{N: 1}
	if rep := c.stopReply(&Run{ID: "running", State: Running}, a); rep.Stop || rep.Kill {
		t.Errorf("a running run's answer %+v; want neither stop nor kill", rep)
	}
	drain := &Run{ID: "drained", State: Migrating}
	drain.Migration = &Migration{Drain: true, DrainBy: time.Now().Add(time.Hour)}
	if rep := c.stopReply(drain, a); !rep.Stop || rep.Kill {
		t.Errorf("a drain before its deadline: %+v; want stop, not kill", rep)
	}
	drain.Migration.DrainBy = time.Now().Add(-time.Millisecond)
	if rep := c.stopReply(drain, a); !rep.Stop || !rep.Kill {
		t.Errorf("a drain past its deadline: %+v; want stop and kill", rep)
	}
	cancel := &Run{ID: "cancelled", State: Running}
	cancel.CancelRequested = true
	first := time.Now()
	if rep := c.stopReply(cancel, a); !rep.Stop || rep.Kill {
		t.Errorf("a cancel's first answer: %+v; want stop, not kill", rep)
	}
	for {
		rep := c.stopReply(cancel, a)
		if rep.Kill {
			if took := time.Since(first); took < grace {
				t.Errorf("a cancel's answer said kill %s after the first stop; the grace is %s", took, grace)
			}
			break
		}
		if time.Since(first) > grace+5*time.Second {
			t.Fatalf("a cancel's answer %+v %s after the first stop; want kill past the grace (%s)", rep, time.Since(first), grace)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// What an agent that predates the field reads.
	b, err := json.Marshal(c.stopReply(cancel, a))
	if err != nil {
		t.Fatal(err)
	}
	var old struct {
		Stop       bool `json:"stop,omitempty"`
		Checkpoint bool `json:"checkpoint,omitempty"`
	}
	if err := json.Unmarshal(b, &old); err != nil || !old.Stop {
		t.Errorf("an older agent reads %s as %+v, %v; want stop", b, old, err)
	}
	var rep agent.Reply
	if err := json.Unmarshal([]byte(`{"stop":true}`), &rep); err != nil || !rep.Stop || rep.Kill {
		t.Errorf("an older server's answer reads as %+v, %v; want stop without kill", rep, err)
	}
}
