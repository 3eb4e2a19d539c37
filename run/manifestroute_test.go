package run

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/store"
)

// unwritableHeard fails Heard while down is set: a store that takes no
// write of an agent's contact.
type unwritableHeard struct {
	store.Store
	down *atomic.Bool
}

func (u unwritableHeard) Heard(ctx context.Context, runID string, attempt int) error {
	if u.down.Load() {
		return errors.New("database is locked")
	}
	return u.Store.Heard(ctx, runID, attempt)
}

// manifestAttempt is a hand-stepped controller on a store wrapped by wrap
// and a run of it running attempt 1, whose agent has not reported; set,
// when given, changes the run first.
func manifestAttempt(t *testing.T, wrap func(store.Store) store.Store, set func(r *Run)) (*env, *Run, Attempt) {
	t.Helper()
	st, dir := testStore(t)
	cfg := sitesConfig(st, dir)
	cfg.Store = wrap(st)
	c := handStepped(t, cfg)
	ctx := context.Background()
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	r, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Attempt = 1
		r.Attempts = []Attempt{{N: 1, Site: r.Site, Nonce: newNonce(), OwnCheckpointNames: true, Handle: "job-1"}}
		r.Handle = "job-1"
		r.State = Running
		if set != nil {
			set(r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, c: c}, r, r.Attempts[0]
}

// TestManifestWaitsForItsContactOnRecord: a site that says a job
// succeeded whose agent was never heard is lost for it, and an agent's
// contact was recorded by a write whose failure was only logged: the
// manifest went out, the workload ran, and its success was then taken
// for the site's lie. The manifest is now answered 503 (the agent asks
// again) until the store takes the contact.
func TestManifestWaitsForItsContactOnRecord(t *testing.T) {
	var down atomic.Bool
	e, r, a := manifestAttempt(t, func(st store.Store) store.Store { return unwritableHeard{Store: st, down: &down} }, nil)
	down.Store(true)
	code, msg, hdr := agentCall(t, e, r, a, "GET", agent.RouteManifest, nil)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || strings.Contains(msg, "\"runKey\"") {
		t.Errorf("the manifest while the store takes no contact: %d %.200s (Retry-After %q); want 503, to be asked again", code, msg, hdr.Get("Retry-After"))
	}
	if heard, err := e.c.agentEverHeard(context.Background(), r); err != nil || heard {
		t.Fatalf("the agent heard %v (%v) with the store refusing its contact; the test wants it unheard", heard, err)
	}
	down.Store(false)
	if code, msg, _ := agentCall(t, e, r, a, "GET", agent.RouteManifest, nil); code != http.StatusOK {
		t.Fatalf("the manifest once the store takes the contact: %d %.200s; want 200", code, msg)
	}
	if heard, err := e.c.agentEverHeard(context.Background(), r); err != nil || !heard {
		t.Errorf("after the manifest was sent, the agent heard %v (%v); want its contact on record", heard, err)
	}
}

// TestManifestRefusesAResumeCheckpointWithoutItsDigest: a checkpoint
// recorded with no SHA-256 (reported to a server from before checkpoint
// digests) was sent as the attempt's resume point, with every key, to an
// agent that refuses it. The manifest is now refused 409, naming the run
// and the checkpoint; with its digest it is sent.
func TestManifestRefusesAResumeCheckpointWithoutItsDigest(t *testing.T) {
	for _, sum := range []string{"", strings.Repeat("0123456789abcdef", 4)} {
		e, r, a := manifestAttempt(t, func(st store.Store) store.Store { return st }, func(r *Run) {
			r.Checkpoint = &Checkpoint{Step: 40, Name: "ck-step-40", Path: "step-40", Site: r.Site, Bytes: 10, SHA256: sum}
		})
		code, msg, _ := agentCall(t, e, r, a, "GET", agent.RouteManifest, nil)
		switch {
		case sum == "" && (code != http.StatusConflict || !strings.Contains(msg, r.ID) || !strings.Contains(msg, "ck-step-40") || !strings.Contains(msg, "SHA-256") || strings.Contains(msg, "\"runKey\"")):
			t.Errorf("the manifest resuming from a checkpoint with no digest: %d %.300s; want 409 naming the run and the checkpoint", code, msg)
		case sum != "" && (code != http.StatusOK || !strings.Contains(msg, sum)):
			t.Errorf("the manifest resuming from a checkpoint with its digest: %d %.300s; want 200 with the digest", code, msg)
		}
	}
}

// TestManifestRefusesAResumeCheckpointWithAMalformedDigest: the route
// refused a resume checkpoint with no digest only: one whose record held
// something else than a SHA-256 (upper case, short, not hex) was sent,
// with every key, to an agent that refuses it. It is now refused 409 as
// the manifest is built, before any key is read, naming the run, the
// checkpoint and the digest.
func TestManifestRefusesAResumeCheckpointWithAMalformedDigest(t *testing.T) {
	for _, sum := range []string{strings.Repeat("0123456789ABCDEF", 4), strings.Repeat("0123456789abcdef", 4)[1:], strings.Repeat("0123456789abcdeg", 4), strings.Repeat("0123456789abcdef", 4) + "\n"} {
		e, r, a := manifestAttempt(t, func(st store.Store) store.Store { return st }, func(r *Run) {
			r.Checkpoint = &Checkpoint{Step: 40, Name: "ck-step-40", Path: "step-40", Site: r.Site, Bytes: 10, SHA256: sum}
		})
		code, msg, _ := agentCall(t, e, r, a, "GET", agent.RouteManifest, nil)
		if code != http.StatusConflict || !strings.Contains(msg, r.ID) || !strings.Contains(msg, "ck-step-40") || !strings.Contains(msg, "64 lower-case hex") || strings.Contains(msg, "\"runKey\"") {
			t.Errorf("the manifest resuming from a checkpoint whose digest is %q: %d %.300s; want 409 naming the run, the checkpoint and the digest's form", sum, code, msg)
		}
		if _, err := e.c.manifest(context.Background(), r, a); !errors.As(err, new(*unpinnedResumeError)) {
			t.Errorf("the manifest built for a checkpoint whose digest is %q: %v; want it refused as it is built", sum, err)
		}
	}
}

// countedHeard counts the writes of agents' contacts, and fails the next
// fail of them.
type countedHeard struct {
	store.Store
	writes, fail *atomic.Int64
}

func (s countedHeard) Heard(ctx context.Context, runID string, attempt int) error {
	s.writes.Add(1)
	if s.fail.Add(-1) >= 0 {
		return errors.New("database is locked")
	}
	return s.Store.Heard(ctx, runID, attempt)
}

// TestManifestWritesItsContactOnce: the manifest route wrote the agent's
// contact again after every agent request's own write had: two writes to
// the store for each manifest. It now writes it again only where that
// first write failed, and, where its own write is taken, sends the
// manifest.
func TestManifestWritesItsContactOnce(t *testing.T) {
	var writes, fail atomic.Int64
	e, r, a := manifestAttempt(t, func(st store.Store) store.Store { return countedHeard{Store: st, writes: &writes, fail: &fail} }, nil)
	if code, msg, _ := agentCall(t, e, r, a, "GET", agent.RouteManifest, nil); code != http.StatusOK {
		t.Fatalf("the manifest: %d %.200s; want 200", code, msg)
	}
	if n := writes.Load(); n != 1 {
		t.Errorf("%d writes of the agent's contact for one manifest; want 1", n)
	}
	writes.Store(0)
	fail.Store(1)
	if code, msg, _ := agentCall(t, e, r, a, "GET", agent.RouteManifest, nil); code != http.StatusOK {
		t.Fatalf("the manifest, the request's own write of its contact failed: %d %.200s; want 200, the route's write taken", code, msg)
	}
	if n := writes.Load(); n != 2 {
		t.Errorf("%d writes of the agent's contact for a manifest whose first write failed; want 2", n)
	}
}
