package agent

import (
	"testing"
	"time"
)

// TestHeartbeatIntervalIsBounded: the interval comes from the server's
// manifest, as integer nanoseconds in JSON. One written as 2 meaning
// seconds is 2 ns: the agent's heartbeat loop then posted as fast as the
// server answered, over the agent API's per-attempt rate, so that the
// attempt's log posts and checkpoint reports were refused with 429 beside
// it. The agent now beats no faster than minHeartbeat, whatever it is told.
func TestHeartbeatIntervalIsBounded(t *testing.T) {
	for _, told := range []time.Duration{1, 2, time.Millisecond} {
		if got := (&attempt{m: &Manifest{Heartbeat: told}}).heartbeat(); got < minHeartbeat {
			t.Errorf("told %v: beats every %v, want at least %v", told, got, minHeartbeat)
		}
	}
	if got := (&attempt{m: &Manifest{Heartbeat: 3 * time.Second}}).heartbeat(); got != 3*time.Second {
		t.Errorf("told 3s: beats every %v", got)
	}
}
