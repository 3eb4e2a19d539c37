package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// secretPath is what a site's backend may name in its errors: the
// server's own state directory, which no tenant may read.
const secretPath = "/srv/secret/state"

// submitRefusing is a backend whose Submit fails with err.
type submitRefusing struct {
	backend.Backend
	err error
}

func (b submitRefusing) Submit(context.Context, backend.Spec) (string, error) { return "", b.err }

// syncBuffer is a log's buffer that several goroutines may write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tenantView is all of run id its tenant reads through the controller
// and the audit log: the run's document, its timeline and its audit
// entries, as JSON.
func tenantView(t *testing.T, c *Controller, st store.Store, id string) string {
	t.Helper()
	ctx := context.Background()
	r, err := c.Get(ctx, "t1", id)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := c.Events(ctx, "t1", id)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := st.AuditSelect(ctx, store.AuditQuery{Tenant: "t1", Untenanted: store.UntenantedOfRuns, RunID: id, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal([]any{r, evs, entries})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBackendErrorsKeptFromTheTenant: a site's backend whose errors name
// the server's state directory (a Slurm submit that failed, a local
// backend's files) had them written into the run's reason, its timeline
// and its audit entries, which the tenant reads. The tenant is now told
// what failed, at which site, and the error's class; the server's log
// keeps the whole error.
func TestBackendErrorsKeptFromTheTenant(t *testing.T) {
	pathErr := func(wrapped error) error {
		return fmt.Errorf("sbatch: open %s/sites/alpha/jobs/x/spec: %w", secretPath, wrapped)
	}
	for _, tc := range []struct {
		name string
		// submit is the error of alpha's Submit; factory, when set, that
		// of making alpha's backend.
		submit, factory error
		// want is in the tenant's view: the class of the error.
		want  string
		state State
	}{
		{name: "invalid", submit: pathErr(backend.ErrInvalid), want: "job refused as invalid", state: Failed},
		{name: "down", submit: pathErr(backend.ErrSiteDown), want: "site down", state: Migrating},
		{name: "unreachable", submit: pathErr(errors.New("connection to the controller failed")), want: "the server's log", state: Migrating},
		{name: "no backend", factory: pathErr(errors.New("state directory not writable")), want: "the site's backend could not be started", state: Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
			var logged syncBuffer
			c := f.controller(func(cfg *Config) {
				cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
				cfg.SiteTimeout = time.Nanosecond
				cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
					be, err := backend.For(site.Spec.Backend, root)
					if err != nil || site.Metadata.Name != "alpha" {
						return be, err
					}
					if tc.factory != nil {
						return nil, tc.factory
					}
					return submitRefusing{be, tc.submit}, nil
				}
			})
			r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 100)}})
			if err != nil {
				t.Fatal(err)
			}
			if r.Site != "alpha" {
				t.Fatalf("the run is placed at %s; the test wants alpha", r.Site)
			}
			for range 4 {
				if _, err := c.Step(ctx, r.ID); err != nil {
					t.Logf("step: %v", err)
				}
				if r, err = c.Get(ctx, "t1", r.ID); err != nil {
					t.Fatal(err)
				}
				if r.State == tc.state {
					break
				}
			}
			if r.State != tc.state {
				t.Fatalf("the run is %s (%s); want %s", r.State, r.Reason, tc.state)
			}
			view := tenantView(t, c, f.st, r.ID)
			if strings.Contains(view, secretPath) {
				t.Errorf("the tenant's view of the run names the server's path %s: %s", secretPath, view)
			}
			if !strings.Contains(view, "site alpha") || !strings.Contains(view, tc.want) {
				t.Errorf("the tenant's view of the run: %s; want it to name site alpha and %q", view, tc.want)
			}
			if !strings.Contains(logged.String(), secretPath) {
				t.Errorf("the server's log: %s; want it to keep the whole error, naming %s", logged.String(), secretPath)
			}
		})
	}
}

// queuedSite is a site's backend that takes every job (handle "h1") and
// keeps it queued, but cannot serve its output: its Logs fails with err.
type queuedSite struct {
	backend.Backend
	err error
}

func (queuedSite) Submit(context.Context, backend.Spec) (string, error) { return "h1", nil }
func (queuedSite) Status(context.Context, string) (backend.Status, error) {
	return backend.Status{State: backend.Pending}, nil
}
func (b queuedSite) Logs(context.Context, string) (io.ReadCloser, error) { return nil, b.err }

// TestLogsFaultKeptFromTheTenant: an attempt's output its site's backend
// could not read was replaced, in the run's output the tenant reads, by a
// note with the backend's error, which named the server's files. The
// note now says the error's class; the server's log keeps the error.
func TestLogsFaultKeptFromTheTenant(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	var logged syncBuffer
	c := f.controller(func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			return queuedSite{err: fmt.Errorf("open %s/sites/%s/jobs/h1/out: %w", secretPath, site.Metadata.Name, os.ErrPermission)}, nil
		}
	})
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 100)}})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := c.Step(ctx, r.ID); err != nil {
			t.Logf("step: %v", err)
		}
	}
	if r, err = c.Get(ctx, "t1", r.ID); err != nil || r.State != Queued {
		t.Fatalf("the run: %+v, %v; want it queued", r, err)
	}
	rc, _, err := c.OpenLogs(ctx, "t1", r.ID, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), secretPath) || !strings.Contains(string(out), "(logs unavailable: permission denied)") {
		t.Errorf("the run's output: %q; want a note of the error's class, without the server's path", out)
	}
	if !strings.Contains(logged.String(), secretPath) {
		t.Errorf("the server's log: %s; want it to keep the whole error, naming %s", logged.String(), secretPath)
	}
}
