package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// answerLost takes every Submit and loses its answer, as a site whose
// replies time out does.
type answerLost struct{ backend.Backend }

func (a answerLost) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	if _, err := a.Backend.Submit(ctx, spec); err != nil {
		return "", err
	}
	return "", errors.New("read: i/o timeout")
}

func (a answerLost) Find(ctx context.Context, runID string, attempt int) (string, bool, error) {
	return a.Backend.(backend.Finder).Find(ctx, runID, attempt)
}

// TestSubmitAnswerLostJobStopped: a site that took an attempt's Submit but
// whose answer never came is lost after the site timeout, and the run moves
// on. The job it took is stopped there: with no handle on record it was left
// to run (or, on Kubernetes, to hold its accelerators).
func TestSubmitAnswerLostJobStopped(t *testing.T) {
	e := newEnv(t, func(cfg *Config) {
		cfg.SiteTimeout = 500 * time.Millisecond
		inner := cfg.Backends
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(site, root)
			if err == nil && site.Metadata.Name == "alpha" {
				return answerLost{b}, nil
			}
			return b, err
		}
	})
	ctx := context.Background()
	// Long enough that attempt 1 cannot end at alpha by itself before the
	// site is lost.
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(300, 50)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Site != "bravo" {
		t.Fatalf("%s at %s: %s", r.State, r.Site, r.Reason)
	}
	alpha, err := local.New(catalog.BackendSpec{}, filepath.Join(e.dir, "sites", "alpha"))
	if err != nil {
		t.Fatal(err)
	}
	h, ok, err := alpha.Find(ctx, r.ID, 1)
	if err != nil || !ok {
		t.Fatalf("attempt 1's job at alpha: %v %v", ok, err)
	}
	st, err := alpha.Status(ctx, h)
	if err != nil || st.State != backend.Cancelled {
		t.Errorf("attempt 1's job at alpha is %s (%v), want cancelled", st.State, err)
	}
}

// TestSiteReasonBounded: what a site says of a job it ended is kept to
// maxReason in the run's reason and timeline, however long it was.
func TestSiteReasonBounded(t *testing.T) {
	var r Run
	var ch store.Change
	long := strings.Repeat("é", 3*maxReason)
	if err := transition(&ch, &r, Failed, "site said: "+long); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Reason); n > maxReason+len("…") || !utf8.ValidString(r.Reason) {
		t.Errorf("reason of %d bytes (valid %v), want at most %d", n, utf8.ValidString(r.Reason), maxReason)
	}
	if n := len(ch.Events[0].Reason); n > maxReason+len("…") {
		t.Errorf("event reason of %d bytes", n)
	}
}

// lostLoudly reports every job it runs lost, in a very long reason with
// NULs in it: what a hostile or broken site may say.
type lostLoudly struct{ backend.Backend }

func (l lostLoudly) Status(ctx context.Context, h string) (backend.Status, error) {
	return backend.Status{State: backend.Lost, Reason: "node down:\x00" + strings.Repeat("x\x00", 64<<10)}, nil
}

// TestSiteLossReasonBounded: what a site says when it loses a job is kept
// to maxReason, without its NULs, in the run's migration and in the plan
// the audit log records for the move, however long it was.
func TestSiteLossReasonBounded(t *testing.T) {
	e := newEnv(t, func(cfg *Config) {
		inner := cfg.Backends
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(site, root)
			if err == nil && site.Metadata.Name == "alpha" {
				return lostLoudly{b}, nil
			}
			return b, err
		}
	})
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(20, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("the move from alpha", 60*time.Second, func(r *Run) bool { return r.Site != "alpha" && r.Site != "" }, r.ID)
	ents, err := e.st.AuditSelect(ctx, store.AuditQuery{RunID: r.ID, Kinds: []string{audit.KindPlan}, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	var left int
	for _, en := range ents {
		var p struct{ Reason string }
		if err := json.Unmarshal(en.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.Reason, "left alpha") {
			continue
		}
		left++
		if len(p.Reason) > maxReason+100 || strings.ContainsRune(p.Reason, 0) {
			t.Errorf("the move's plan records a reason of %d bytes (NUL: %v), want at most about %d and no NUL", len(p.Reason), strings.ContainsRune(p.Reason, 0), maxReason)
		}
	}
	if left == 0 {
		t.Errorf("no plan recorded for the move from alpha among %d plans", len(ents))
	}
}

// attemptUnknown refuses every Submit as a site does whose record says an
// earlier submit of the attempt may have made a job it has since forgotten.
type attemptUnknown struct{ backend.Backend }

func (a attemptUnknown) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	return "", fmt.Errorf("slurm submit %s: not running the attempt a second time: %w", spec.Key(), backend.ErrAttemptUnknown)
}

// TestAttemptUnknownIsLostAtOnce: a site that will not run an attempt a
// second time (its earlier job may have run and been forgotten) makes the
// attempt lost at once, with that reason, and the run moves on; it was
// taken for an unreachable site and tried again until the site timeout,
// then recorded as unreachable.
func TestAttemptUnknownIsLostAtOnce(t *testing.T) {
	e := newEnv(t, func(cfg *Config) {
		cfg.SiteTimeout = time.Hour
		inner := cfg.Backends
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(site, root)
			if err == nil && site.Metadata.Name == "alpha" {
				return attemptUnknown{b}, nil
			}
			return b, err
		}
	})
	r, _, err := e.c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{jobDoc(10, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Site != "bravo" {
		t.Fatalf("%s at %s: %s", r.State, r.Site, r.Reason)
	}
	if r.Losses["alpha"].Count == 0 {
		t.Errorf("alpha's refusal is not recorded as a loss there: %+v", r.Losses)
	}
}
