package run

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/store"
)

// agentRunReads counts the reads of a run the agent API makes to check a
// credential.
type agentRunReads struct {
	store.Store
	n *atomic.Int64
}

func (r agentRunReads) GetRun(ctx context.Context, id string) (*store.Run, error) {
	r.n.Add(1)
	return r.Store.GetRun(ctx, id)
}

func (r agentRunReads) RunVersionOf(ctx context.Context, id string) (string, int64, error) {
	r.n.Add(1)
	return r.Store.RunVersionOf(ctx, id)
}

// TestAgentRunIDNotOfTheFormRefusedUnread: a run named in an agent
// request's path that no run can have (a job's name: at most 64 letters,
// digits, '-', '_' and '.') is refused 401 before the credential's MAC is
// computed over it or the store is asked for it. A path of a megabyte of
// run id, or one carrying a terminal escape, cost a read of the store with
// it as the key, and was written into the server's log whole when that
// read failed.
func TestAgentRunIDNotOfTheFormRefusedUnread(t *testing.T) {
	var reads atomic.Int64
	e := newEnv(t, func(c *Config) { c.Store = agentRunReads{Store: c.Store, n: &reads} })
	h := e.c.AgentHandler()
	for _, id := range []string{
		"run-" + strings.Repeat("a", 64<<10),
		"run-%1b%5b31m",
		"run-%e2%80%ae",
		".hidden",
		"run-%20x",
	} {
		for _, route := range []string{agent.RouteHeartbeat, agent.RouteManifest} {
			path := strings.NewReplacer("{run}", id, "{attempt}", "1").Replace(route)
			method := "POST"
			if route == agent.RouteManifest {
				method = "GET"
			}
			req := httptest.NewRequest(method, path, strings.NewReader("{}"))
			if method == "GET" {
				req = httptest.NewRequest(method, path, nil)
			}
			req.Header.Set("Content-Type", reportType)
			req.Header.Set("Authorization", "Bearer "+strings.Repeat("0", 32)+"."+strings.Repeat("0", 64))
			before := reads.Load()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusUnauthorized {
				t.Errorf("%s %.80s: %d, want 401", method, path, w.Code)
			}
			if got := reads.Load() - before; got != 0 {
				t.Errorf("%s %.80s: %d reads of the store, want none", method, path, got)
			}
		}
	}
}
