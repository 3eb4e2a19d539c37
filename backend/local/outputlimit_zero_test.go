package local_test

import (
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
)

// TestZeroOutputLimitIsTheAgentDefault: a Local whose OutputLimit is 0
// passed no MERIDIAN_SITE_LOG_LIMIT of its own, so the spec's went
// through, and a spec could raise the bound on output.log past the
// default it was documented to fall back to. The job now gets the
// agent's default, whatever the spec says.
func TestZeroOutputLimitIsTheAgentDefault(t *testing.T) {
	b := newLocal(t, t.TempDir())
	want := strconv.FormatInt(agent.DefaultSiteLogLimit, 10)
	for i, limit := range []int64{0, -1} {
		b.OutputLimit = limit
		out := jobOutput(t, b, backend.Spec{RunID: "output-limit-zero", Attempt: i + 1,
			Command: []string{"/bin/sh", "-c", `printf '%s\n' "$MERIDIAN_SITE_LOG_LIMIT"`},
			Env:     map[string]string{"MERIDIAN_SITE_LOG_LIMIT": "999999999999"}})
		if got := strings.TrimSpace(out); got != want {
			t.Errorf("OutputLimit %d: the job's MERIDIAN_SITE_LOG_LIMIT is %q; want the agent's default %s", limit, got, want)
		}
	}
}
