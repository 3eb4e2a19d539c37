package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAgentWaitsForTheServerAsToldAndCountsAsLost: an agent whose server
// does not answer retries for the patience the server gave it in its
// environment, not a fixed 2 minutes, and then exits with ExitLease, which
// the controller takes as the site's loss. It gave up after 2 minutes
// with ExitSetup, and the controller failed the run: a site cut off from
// the server for longer than that failed every run there, under a site
// timeout set above it, instead of counting as lost.
func TestAgentWaitsForTheServerAsToldAndCountsAsLost(t *testing.T) {
	var reqs atomic.Int64
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		http.Error(w, "server restarting", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	t.Setenv(EnvServer, down.URL)
	t.Setenv(EnvRun, "run-1")
	t.Setenv(EnvAttempt, "1")
	t.Setenv(EnvToken, "tok")
	t.Setenv(EnvPatience, "3s")
	cfg, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg.WorkDir, cfg.Stdout, cfg.Stderr = t.TempDir(), io.Discard, io.Discard
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	code, err := Run(ctx, cfg)
	took := time.Since(start)
	if code != ExitLease || err == nil || !strings.Contains(err.Error(), "no answer from the server") {
		t.Fatalf("Run = %d, %v after %s; want exit %d naming the server's silence", code, err, took, ExitLease)
	}
	// Ignoring the 3 s told would wait DefaultPatience (2 min), cut by
	// the context's 30 s; 25 s leaves a loaded machine its margin.
	if took < 3*time.Second || took > 25*time.Second || reqs.Load() < 3 {
		t.Errorf("gave up after %s and %d requests; want about the 3 s it was told, retrying", took, reqs.Load())
	}

	// A server that refuses the credential is an answer: no patience, and
	// the attempt's own setup failure.
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "attempt over", http.StatusGone)
	}))
	defer refuse.Close()
	cfg.Server = refuse.URL
	if code, err := Run(ctx, cfg); code != ExitSetup || err == nil {
		t.Errorf("refused: Run = %d, %v; want exit %d", code, err, ExitSetup)
	}

	// A server that answers with its own fault for the whole patience was
	// reached: the attempt's setup failed, not the site (which, lost for
	// it, would send the run round every site in turn).
	faulty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the server holds no key for dataset people", http.StatusInternalServerError)
	}))
	defer faulty.Close()
	cfg.Server = faulty.URL
	cfg.Patience = time.Second
	if code, err := Run(ctx, cfg); code != ExitSetup || err == nil {
		t.Errorf("a server's own fault: Run = %d, %v; want exit %d", code, err, ExitSetup)
	}

	// One that answered with its own fault, then stopped answering, was
	// reached too: its last try's silence does not make it the site's
	// loss.
	var n atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			http.Error(w, "the server holds no key for dataset people", http.StatusInternalServerError)
			return
		}
		http.Error(w, "restarting", http.StatusServiceUnavailable)
	}))
	defer flaky.Close()
	cfg.Server = flaky.URL
	if code, err := Run(ctx, cfg); code != ExitSetup || err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("a server's own fault, then silence: Run = %d, %v; want exit %d naming the fault", code, err, ExitSetup)
	}
}

// TestFromEnvPatience: the patience the server gives is read, bad values
// are refused naming the variable.
func TestFromEnvPatience(t *testing.T) {
	t.Setenv(EnvServer, "http://127.0.0.1:7420")
	t.Setenv(EnvRun, "run-1")
	t.Setenv(EnvAttempt, "1")
	t.Setenv(EnvToken, "tok")
	t.Setenv(EnvPatience, "20m")
	if cfg, err := FromEnv(); err != nil || cfg.Patience != 20*time.Minute {
		t.Errorf("%s=20m: patience %s, %v", EnvPatience, cfg.Patience, err)
	}
	for _, bad := range []string{"soon", "-1m", "0s", "20"} {
		t.Setenv(EnvPatience, bad)
		if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), EnvPatience) {
			t.Errorf("%s=%q: %v; want an error naming it", EnvPatience, bad, err)
		}
	}
}

// TestAgentRetriesARefusedManifest: a refusal of the credential (401, 403)
// may come from something in front of the server for a while. The agent
// took the first one for its answer and exited with ExitSetup, failing the
// run at a site only its proxy had hiccuped at. Now it retries a refusal
// as it retries no answer: one that clears into silence is the site cut
// off (ExitLease), and only one that lasts the whole patience is the
// attempt's own failure to start (ExitSetup).
func TestAgentRetriesARefusedManifest(t *testing.T) {
	for _, c := range []struct {
		name    string
		refused int64 // requests answered 401 before 503s
		want    int
	}{{"passing", 2, ExitLease}, {"persistent", 1 << 30, ExitSetup}} {
		t.Run(c.name, func(t *testing.T) {
			var reqs atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if reqs.Add(1) <= c.refused {
					http.Error(w, "credential not recognised", http.StatusUnauthorized)
					return
				}
				http.Error(w, "cut off", http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			cfg := Config{Server: srv.URL, Run: "run-1", Attempt: 1, Token: "tok", WorkDir: t.TempDir(),
				Stdout: io.Discard, Stderr: io.Discard, Patience: 2 * time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code, err := Run(ctx, cfg)
			if code != c.want || err == nil {
				t.Errorf("Run = %d, %v; want exit %d", code, err, c.want)
			}
			if n := reqs.Load(); n < 4 {
				t.Errorf("gave up after %d requests; want the patience's retries", n)
			}
		})
	}
}
