package run

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// duringBuild sets manifestBuilt to fn for the test: fn runs once the
// manifest's keys are read and before the answer.
func duringBuild(t *testing.T, fn func(r *Run)) {
	t.Helper()
	manifestBuilt = fn
	t.Cleanup(func() { manifestBuilt = nil })
}

// TestManifestWithheldWhenRunStopsWhileKeysRead: the manifest route read
// the run, found it to start, then read the keyrings and the run key; a
// cancel, or a law's drain, written meanwhile still let every key go to a
// job the run no longer wanted started. The run's version is now read
// again after the keys: moved, the run is read and checked again, and the
// manifest refused (410, no key). A write that does not stop the run
// still lets the manifest go.
func TestManifestWithheldWhenRunStopsWhileKeysRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(t *testing.T, f *queuedFixture)
		why  string
	}{
		{"cancel", func(t *testing.T, f *queuedFixture) {
			if _, err := f.c.Cancel(context.Background(), "t1", f.r.ID); err != nil {
				t.Fatal(err)
			}
		}, "cancel was requested"},
		{"law drain", func(t *testing.T, f *queuedFixture) {
			ctx := context.Background()
			if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-sg", "SG", "2020-01-01")}}, "admin", "test: Singapore closed", time.Now()); err != nil {
				t.Fatal(err)
			}
			if got, err := f.c.recheckRun(ctx, f.r, f.c.lawNow()); err != nil || got != "moving" {
				t.Fatalf("law check: %q %v; want the run moving", got, err)
			}
		}, "moves the run off alpha"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newQueuedFixture(t)
			calls := 0
			duringBuild(t, func(r *Run) {
				if calls++; calls == 1 {
					if r.CancelRequested || r.State != Queued {
						t.Errorf("the route read the run %s (cancel requested %v) before the keys; want queued, to start", r.State, r.CancelRequested)
					}
					tc.stop(t, f)
				}
			})
			code, body := f.call(t, "GET", agent.RouteManifest, "")
			if calls != 1 {
				t.Fatalf("the manifest was built %d times; want once", calls)
			}
			if sent := strings.Contains(body, f.key.String()) || strings.Contains(body, `"datasets"`); code != http.StatusGone || sent {
				t.Fatalf("manifest after a %s while its keys were read: %d, corpus-c's key sent: %v; want 410 with no key", tc.name, code, sent)
			}
			if !strings.Contains(body, "not to start") || !strings.Contains(body, tc.why) {
				t.Errorf("refusal %q does not say the attempt is not to start and why (%q)", body, tc.why)
			}
		})
	}
}

// TestManifestSentAfterWriteThatDoesNotStopRun: a write to the run while
// the keys are read (its version moved) that leaves the attempt to start
// is no reason to refuse it: the run read again, the manifest goes.
func TestManifestSentAfterWriteThatDoesNotStopRun(t *testing.T) {
	f := newQueuedFixture(t)
	duringBuild(t, func(r *Run) {
		if _, err := f.c.update(context.Background(), r.ID, func(r *Run, ch *store.Change) error {
			r.Reason = "written while the manifest's keys were read"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	_, before, err := f.c.cfg.Store.RunVersionOf(context.Background(), f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := f.call(t, "GET", agent.RouteManifest, ""); code != http.StatusOK || !strings.Contains(body, f.key.String()) {
		t.Fatalf("manifest after a write that leaves the run to start: %d %s; want 200 with corpus-c's key", code, body)
	}
	if _, after, err := f.c.cfg.Store.RunVersionOf(context.Background(), f.r.ID); err != nil || after == before {
		t.Errorf("run version %d then %d (%v): the write meant to land while the keys were read did not", before, after, err)
	}
}

// versionUnread fails RunVersionOf while *fail is set, as a store that
// stops answering does.
type versionUnread struct {
	store.Store
	fail *bool
}

func (v versionUnread) RunVersionOf(ctx context.Context, id string) (string, int64, error) {
	if *v.fail {
		return "", 0, errors.New("store did not answer")
	}
	return v.Store.RunVersionOf(ctx, id)
}

// TestManifestFailsClosedWhenRunUnreadAfterKeys: the run's version not
// read after the keys, the manifest is not sent (503, which the agent
// waits out and asks again) rather than sent unchecked.
func TestManifestFailsClosedWhenRunUnreadAfterKeys(t *testing.T) {
	f := newQueuedFixture(t)
	fail := false
	f.c.cfg.Store = versionUnread{Store: f.c.cfg.Store, fail: &fail}
	duringBuild(t, func(*Run) { fail = true })
	code, body := f.call(t, "GET", agent.RouteManifest, "")
	if sent := strings.Contains(body, f.key.String()); code != http.StatusServiceUnavailable || sent {
		t.Fatalf("manifest with the run unread after its keys: %d, corpus-c's key sent: %v; want 503 with no key", code, sent)
	}
	if strings.Contains(body, "did not answer") {
		t.Errorf("answer %q carries the store's error", body)
	}
}
