package run

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/transfer"
)

// parkedBackend takes every job and starts none: each waits in the site's
// queue, as a busy scheduler's jobs do, and the test speaks as its agent
// when the job would start.
type parkedBackend struct{}

func (parkedBackend) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	return fmt.Sprintf("parked-%s-%d", spec.RunID, spec.Attempt), nil
}

func (parkedBackend) Status(ctx context.Context, handle string) (backend.Status, error) {
	return backend.Status{State: backend.Pending}, nil
}

func (parkedBackend) Cancel(ctx context.Context, handle string) error { return nil }

func (parkedBackend) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	return nil, fmt.Errorf("parked job: %w", backend.ErrLogsUnavailable)
}

// queuedFixture is a hand-stepped controller whose sites queue every job
// and never start one, with the law as server state, and a run on dataset
// corpus-c queued at alpha (SG).
type queuedFixture struct {
	c   *Controller
	rs  *rules.State
	r   *Run
	a   Attempt
	key seal.Key // corpus-c's key
}

func newQueuedFixture(t *testing.T) *queuedFixture {
	t.Helper()
	ctx := context.Background()
	st, dir := testStore(t)
	traversable(t, dir)
	tk := dataset.TenantKeyrings{Root: dir}
	keys, _ := tk.For("t1")
	cfg := sitesConfig(st, dir)
	cfg.Backends = func(*catalog.Site, string) (backend.Backend, error) { return parkedBackend{}, nil }
	cfg.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: tk, Ledger: transfer.AuditLedger{Store: st}}
	f := &queuedFixture{}
	rulesInForce(t, &f.rs)(&cfg)
	f.c = handStepped(t, cfg)
	res := addDataset(t, dir, keys, testData{name: "corpus-c", origin: "SG", class: catalog.ClassPublic, stored: true})
	r, _, err := f.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(10, 5, []string{"corpus-c"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10 && r.State != Queued; i++ {
		if _, err := f.c.Step(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if r, err = f.c.Get(ctx, "t1", r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if r.State != Queued || r.Site != "alpha" {
		t.Fatalf("run %s at %s (%s), want queued at alpha", r.State, r.Site, r.Reason)
	}
	f.r, f.a = r, r.Attempts[len(r.Attempts)-1]
	if f.key, err = keys.Get("corpus-c"); err != nil {
		t.Fatal(err)
	}
	return f
}

// call sends a request to route as the queued attempt's agent does, with
// its credential.
func (f *queuedFixture) call(t *testing.T, method, route string, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, agentURL("", f.r, f.a, route), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.c.credential(f.r.ID, f.a))
	if body != "" {
		req.Header.Set("Content-Type", reportType)
	}
	rec := httptest.NewRecorder()
	f.c.AgentHandler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// withheld checks that the queued attempt's job, starting now, is sent no
// manifest and no key, and that its credential still works for the rest
// (a heartbeat, answered stop): the attempt drains as before.
func (f *queuedFixture) withheld(t *testing.T, why string) {
	t.Helper()
	code, body := f.call(t, "GET", agent.RouteManifest, "")
	if sent := strings.Contains(body, f.key.String()) || strings.Contains(body, `"datasets"`); code != http.StatusGone || sent {
		t.Errorf("manifest %s: %d, corpus-c's key sent: %v; want 410 Gone with no key", why, code, sent)
	} else if !strings.Contains(body, "not to start") {
		t.Errorf("manifest %s: %q does not say the attempt is not to start", why, body)
	}
	if code, body := f.call(t, "POST", agent.RouteHeartbeat, `{"phase":"preparing"}`); code != http.StatusOK || !strings.Contains(body, `"stop":true`) {
		t.Errorf("heartbeat %s: %d %s; want 200 and stop", why, code, body)
	}
}

// TestQueuedRunLeavingForLawGetsNoKeys: a revision of the law that makes a
// queued run's site unlawful starts its move with a drain (leaveForLawOn
// drains Queued runs too): its job, if the site starts it within the drain
// grace, was sent every dataset's key with its manifest and unsealed the
// data at a site the law now forbids. Its manifest is now refused (410,
// no key); the credential still works for the drain.
func TestQueuedRunLeavingForLawGetsNoKeys(t *testing.T) {
	ctx := context.Background()
	f := newQueuedFixture(t)
	// Lawful, the job starting now is sent the key: the test's setup is
	// one that would send it.
	if code, body := f.call(t, "GET", agent.RouteManifest, ""); code != http.StatusOK || !strings.Contains(body, f.key.String()) {
		t.Fatalf("manifest while lawful: %d %s; want 200 with corpus-c's key", code, body)
	}
	if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-sg", "SG", "2020-01-01")}}, "admin", "test: Singapore closed", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := f.c.recheckRun(ctx, f.r, f.c.lawNow()); err != nil || got != "moving" {
		t.Fatalf("law check: %q %v; want the run moving", got, err)
	}
	r, err := f.c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Migrating || r.Migration == nil || !r.Migration.Drain || r.Attempt != f.a.N {
		t.Fatalf("run %s, migration %+v; want attempt %d draining for the law", r.State, r.Migration, f.a.N)
	}
	f.withheld(t, "after the law closed the site")
}

// TestQueuedRunCancelledGetsNoKeys: a queued run whose cancel was
// requested (and not yet carried out: the controller's step has not run)
// sent every key to a job that started meanwhile. Its manifest is now
// refused.
func TestQueuedRunCancelledGetsNoKeys(t *testing.T) {
	ctx := context.Background()
	f := newQueuedFixture(t)
	if _, err := f.c.Cancel(ctx, "t1", f.r.ID); err != nil {
		t.Fatal(err)
	}
	r, err := f.c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Queued || !r.CancelRequested {
		t.Fatalf("run %s, cancel requested %v; want queued with its cancel requested", r.State, r.CancelRequested)
	}
	f.withheld(t, "after the cancel was requested")
}
