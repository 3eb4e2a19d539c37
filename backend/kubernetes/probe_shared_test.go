package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"meridian.dev/meridian/catalog"
)

// startGated starts a backend on f whose dry-run creates (the spread
// probe) wait at the server until release is closed; arrived has one
// value for each that reached it.
func startGated(t *testing.T, f *fakeAPI) (b *Backend, arrived chan struct{}, release func()) {
	t.Helper()
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	arrived = make(chan struct{}, 64)
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Query().Get("dryRun") == "All" {
			arrived <- struct{}{}
			<-gate
		}
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	// Before the server's Close, which waits for the requests held.
	t.Cleanup(release)
	b, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		t.TempDir(), &rest.Config{Host: srv.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, arrived, release
}

// Submits and site checks at once share one probe of the API server
// (spreadErr): one dry-run create reaches it, and each call gets its
// answer. A failed probe was shared only with the call that made it:
// each call waiting on it asked again in turn when it failed, so calls at
// once against an API server that does not answer waited for one
// probe's timeout each in turn. They now get the failure they waited for,
// which is not kept: the next call asks again, and is answered.
func TestCallsAtOnceShareOneSpreadProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail bool
	}{{"answered", false}, {"failed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
			if tc.fail {
				f.onDryRun = func(string, map[string]any) (int, string) { return 500, "InternalError" }
			}
			b, arrived, release := startGated(t, f)
			var waiting atomic.Int64
			wait := onSpreadWait
			onSpreadWait = func() { waiting.Add(1) }
			t.Cleanup(func() { onSpreadWait = wait })
			ctx := testContext(t)

			// Half site checks, half Submits; the first call's probe is
			// held at the server until every other call waits on it.
			const calls = 8
			errs := make([]error, calls)
			var wg sync.WaitGroup
			call := func(i int) {
				defer wg.Done()
				if i%2 == 0 {
					errs[i] = b.Check(ctx)
					return
				}
				spec := gpuSpec(16)
				spec.RunID = fmt.Sprintf("run-%d", i)
				_, errs[i] = b.Submit(ctx, spec)
			}
			wg.Add(calls)
			go call(0)
			<-arrived
			for i := 1; i < calls; i++ {
				go call(i)
			}
			eventually(t, "the other calls did not wait on the probe", func() bool { return waiting.Load() == calls-1 })
			release()
			wg.Wait()

			f.mu.Lock()
			dry := f.dryRuns
			f.mu.Unlock()
			if dry != 1 {
				t.Errorf("%d dry runs for %d calls at once; want the one probe", dry, calls)
			}
			for i, err := range errs {
				var refused *versionRefusedError
				switch {
				case !tc.fail && err != nil:
					t.Errorf("call %d: %v; want the probe's answer, nil", i, err)
				case tc.fail && (err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), "dry-run create")):
					t.Errorf("call %d: %v; want the failed probe's error", i, err)
				}
			}
			if !tc.fail {
				return
			}
			// Not kept, as an answer or as a refusal: the next call asks
			// again.
			f.mu.Lock()
			f.onDryRun = nil
			f.mu.Unlock()
			if err := b.Check(ctx); err != nil {
				t.Fatalf("Check once the API server answers: %v", err)
			}
			f.mu.Lock()
			dry = f.dryRuns
			f.mu.Unlock()
			if dry != 2 {
				t.Errorf("%d dry runs; want 2 (the failed probe, then one more)", dry)
			}
		})
	}
}

// A probe whose caller gave up (its context ended) answers that caller
// alone: the calls waiting on it ask again, and are answered.
func TestCallsWaitingOnAProbeWhoseCallerGaveUpAskAgain(t *testing.T) {
	f := newFakeAPI(t)
	b, arrived, release := startGated(t, f)
	var waiting atomic.Int64
	wait := onSpreadWait
	onSpreadWait = func() { waiting.Add(1) }
	t.Cleanup(func() { onSpreadWait = wait })
	ctx := testContext(t)

	first, giveUp := context.WithCancel(ctx)
	defer giveUp()
	firstErr := make(chan error, 1)
	go func() { firstErr <- b.spreadErr(first) }()
	<-arrived
	const others = 3
	errs := make(chan error, others)
	for range others {
		go func() { errs <- b.spreadErr(ctx) }()
	}
	eventually(t, "the other calls did not wait on the probe", func() bool { return waiting.Load() == others })
	giveUp()
	if err := <-firstErr; err == nil {
		t.Fatal("the call that gave up was answered nil; want its context's end")
	}
	// One of those waiting asks again, held at the server as the first;
	// none is answered before.
	select {
	case <-arrived:
	case err := <-errs:
		t.Fatalf("a call waiting on the probe whose caller gave up was answered %v; want it to ask again", err)
	}
	release()
	for range others {
		if err := <-errs; err != nil {
			t.Errorf("a call waiting on the probe whose caller gave up: %v; want the next probe's answer, nil", err)
		}
	}
}
