package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/run"
)

// proxiedServer starts a real `meridian serve` and returns it, its
// address and token, and a proxy to it that passes each event of a
// stream on as it comes, for a test to put in front with changes.
func proxiedServer(t testing.TB) (*serveProc, string, string, *httputil.ReverseProxy) {
	t.Helper()
	p := newServeProc(t)
	base, token := consoleServer(t, p)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	return p, base, token, rp
}

// TestFollowRun: run --follow prints each event of the run's timeline
// once, in order, and its output, and ends with the run, from the event
// stream of a real `meridian serve`; and the same by polling from a server
// that gives no stream (as one from before streams answers follow=1 with
// the plain timeline).
func TestFollowRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	p, base, token, rp := proxiedServer(t)
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/events") {
			q := r.URL.Query()
			q.Del("follow")
			r.URL.RawQuery = q.Encode()
			r.Header.Del("Accept")
		}
		rp.ServeHTTP(w, r)
	}))
	defer old.Close()
	for _, tc := range []struct{ name, base string }{{"stream", base}, {"no stream", old.URL}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			c := api.NewClient(tc.base, token)
			job := demoJob(t, p.bin, p.state, 60, 20, "5ms")
			r, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
			if err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if err := followRun(ctx, &out, &errOut, c, r.ID); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			evs, err := c.Events(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, e := range evs {
				want = append(want, eventLine(e, false))
			}
			want = append(want, "run "+r.ID+" succeeded")
			got := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("timeline (-want +got):\n%s", diff)
			}
			logs, _, err := c.Logs(ctx, r.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "step=60") || out.String() != string(logs) {
				t.Errorf("output %q, the run's %q", out.String(), logs)
			}
		})
	}
}
