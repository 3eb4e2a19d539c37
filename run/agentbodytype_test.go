package run

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"meridian.dev/meridian/agent"
)

// agentBodyType is the media type an agent sends with a body to route.
func agentBodyType(route string) string {
	if strings.HasPrefix(route, agent.RouteLogs) {
		return logType
	}
	return reportType
}

// agentPostTyped posts body to route as attempt a's agent with the
// Content-Type values cts (none when empty).
func agentPostTyped(t *testing.T, e *env, r *Run, a Attempt, route string, body []byte, cts ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", agentURL(e.c.cfg.ServerURL, r, a, route), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.c.credential(r.ID, a))
	for _, ct := range cts {
		req.Header.Add("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// TestAgentBodyContentTypeEnforced: a body sent to an agent route must say
// the media type the route takes (a report application/json, with at most
// charset=utf-8; output application/octet-stream), or it is refused 415
// naming Content-Type, before anything is kept; Content-Type given twice
// is refused 400. A report was decoded as JSON, and any body kept as
// output, whatever the request said it was.
func TestAgentBodyContentTypeEnforced(t *testing.T) {
	e, r, a, size := unlimitedAttempt(t)
	before := size()
	logs := fmt.Sprintf("%s?offset=%d", agent.RouteLogs, before)
	for _, c := range []struct {
		route string
		body  string
		cts   []string
		code  int
	}{
		{agent.RouteHeartbeat, `{}`, nil, http.StatusUnsupportedMediaType},
		{agent.RouteHeartbeat, `{}`, []string{"text/plain"}, http.StatusUnsupportedMediaType},
		{agent.RouteHeartbeat, `{}`, []string{"application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{agent.RouteHeartbeat, `{}`, []string{"application/json; charset=latin-1"}, http.StatusUnsupportedMediaType},
		{agent.RouteHeartbeat, `{}`, []string{"application/json; x=1"}, http.StatusUnsupportedMediaType},
		{agent.RouteHeartbeat, `{}`, []string{"application/json;;"}, http.StatusUnsupportedMediaType},
		{agent.RouteHeartbeat, `{}`, []string{"application/json", "text/plain"}, http.StatusBadRequest},
		{agent.RouteCheckpoint, `{}`, []string{"application/octet-stream"}, http.StatusUnsupportedMediaType},
		{agent.RouteExit, `{"code":3}`, []string{"text/plain"}, http.StatusUnsupportedMediaType},
		{agent.RouteExit, `{"code":3}`, nil, http.StatusUnsupportedMediaType},
		{logs, "injected\n", nil, http.StatusUnsupportedMediaType},
		{logs, "injected\n", []string{"application/json"}, http.StatusUnsupportedMediaType},
		{logs, "injected\n", []string{"text/plain"}, http.StatusUnsupportedMediaType},
		{logs, "injected\n", []string{"application/octet-stream; x=1"}, http.StatusUnsupportedMediaType},
		{logs, "injected\n", []string{"application/octet-stream", "application/octet-stream"}, http.StatusBadRequest},
	} {
		code, msg := agentPostTyped(t, e, r, a, c.route, []byte(c.body), c.cts...)
		if code != c.code || !strings.Contains(msg, "Content-Type") {
			t.Errorf("%s with Content-Type %q: %d %s, want %d naming Content-Type", c.route, c.cts, code, msg, c.code)
		}
	}
	if got := size(); got != before {
		t.Errorf("refused posts kept %d bytes", got-before)
	}
	if got, _ := e.c.Get(context.Background(), "t1", r.ID); got.State != Running || got.Attempts[len(got.Attempts)-1].Exit != nil {
		t.Errorf("after refused exits the run is %v, exit %v; want still running, none", got.State, got.Attempts[len(got.Attempts)-1].Exit)
	}
	// What the agent sends is taken.
	if code, msg := agentPostTyped(t, e, r, a, agent.RouteHeartbeat, []byte(`{}`), "application/json"); code != http.StatusOK {
		t.Errorf("heartbeat as JSON: %d %s", code, msg)
	}
	if code, msg := agentPostTyped(t, e, r, a, agent.RouteHeartbeat, []byte(`{}`), "Application/JSON; charset=UTF-8"); code != http.StatusOK {
		t.Errorf("heartbeat as JSON, utf-8: %d %s", code, msg)
	}
	if code, msg := agentPostTyped(t, e, r, a, logs, []byte("kept\n"), "application/octet-stream"); code != http.StatusOK || size() != before+5 {
		t.Errorf("output as octet-stream: %d %s, %d bytes kept", code, msg, size()-before)
	}
}
