package run

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// failingCancel is a site's backend whose Cancel fails while fails is
// above 0 (each failure counts it down; below 0 it fails for ever), as a
// site's Cancel cut off by its caller's deadline while the workload still
// runs does, and otherwise cancels.
type failingCancel struct {
	backend.Backend
	fails *atomic.Int64
	// given is the time the last Cancel's context left it.
	given *atomic.Int64
}

func (b failingCancel) Cancel(ctx context.Context, h string) error {
	if d, ok := ctx.Deadline(); ok {
		b.given.Store(int64(time.Until(d)))
	}
	if n := b.fails.Load(); n != 0 {
		if n > 0 {
			b.fails.Add(-1)
		}
		return errors.New("local cancel: the job's command lock is still held: context deadline exceeded")
	}
	return b.Backend.Cancel(ctx, h)
}

// drainController is a witnessed controller on x's database whose backend
// of alpha fails its Cancel as fails says, with the site timeout given.
func (x *changedRunFixture) drainController(fails, given *atomic.Int64, siteTimeout time.Duration) *Controller {
	return x.f.controller(func(cfg *Config) {
		cfg.Store, cfg.AuditChain = x.f.st, audit.NewChain(testAuditKey)
		cfg.SiteTimeout = siteTimeout
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			be, err := backend.For(site.Spec.Backend, root)
			if err != nil || site.Metadata.Name != "alpha" {
				return be, err
			}
			return failingCancel{Backend: be, fails: fails, given: given}, nil
		}
		agentConfig(x.t, cfg, func() *Controller { return x.live })
	})
}

// drainingRun is x's run as a drain past its grace sees it.
func (x *changedRunFixture) drainingRun() *Run {
	r := x.get(x.r.ID)
	r.Migration = &Migration{From: r.Site, Reason: "test: rule", Drain: true, DrainBy: time.Now().Add(-time.Second)}
	return r
}

// TestDrainNotOverWhileCancelFails: a drain past its grace whose Cancel
// fails is not over: the attempt may run on. The error was thrown away
// (and the Cancel cut at 10 s, under a local site's 23 s worst case), the
// drain counted over, and the move went ahead while the old attempt ran:
// two copies wrote one checkpoint. Once the Cancel succeeds it is over.
func TestDrainNotOverWhileCancelFails(t *testing.T) {
	x := newChangedRunFixture(t)
	var fails, given atomic.Int64
	fails.Store(1)
	c := x.drainController(&fails, &given, time.Hour)
	done, _, err := c.draining(x.ctx, x.drainingRun())
	if done || err == nil {
		t.Fatalf("a drain whose Cancel failed: over %v, error %v; want not over, with the error", done, err)
	}
	if d := time.Duration(given.Load()); d < 23*time.Second {
		t.Errorf("a drain's Cancel was given %s, under a local site's worst case (23 s)", d.Round(time.Second))
	}
	done, unconfirmed, err := c.draining(x.ctx, x.drainingRun())
	if !done || err != nil || unconfirmed != "" {
		t.Fatalf("a drain whose Cancel succeeded: over %v (%q), error %v; want over, confirmed", done, unconfirmed, err)
	}
}

// TestDrainOverUnconfirmedPastSiteTimeout: a site that fails a drain's
// Cancel past the site timeout does not hold the run for ever: the drain
// is over, as the monitor counts such a site lost, and says the stop was
// not confirmed, without the site's own words.
func TestDrainOverUnconfirmedPastSiteTimeout(t *testing.T) {
	x := newChangedRunFixture(t)
	var fails, given atomic.Int64
	fails.Store(-1)
	c := x.drainController(&fails, &given, time.Millisecond)
	if done, _, err := c.draining(x.ctx, x.drainingRun()); done || err == nil {
		t.Fatalf("a drain whose Cancel first failed: over %v, error %v; want not over, with the error", done, err)
	}
	time.Sleep(5 * time.Millisecond)
	done, unconfirmed, err := c.draining(x.ctx, x.drainingRun())
	if !done || err != nil {
		t.Fatalf("a drain whose Cancel failed past the site timeout: over %v, error %v; want over", done, err)
	}
	if !strings.Contains(unconfirmed, "did not confirm") || strings.Contains(unconfirmed, "command lock") {
		t.Errorf("the unconfirmed drain's words %q; want them to say the stop was not confirmed, without the site's answer", unconfirmed)
	}
}

// TestDrainNotEndedByTheMonitorsEarlierCount: a drain counted its Cancel's
// failures in the monitor's map of unreachable sites, where a Status that
// failed before the drain began had left a time: the drain's first failed
// Cancel then found the site timeout long past and ended the drain,
// unconfirmed, while the attempt ran on. The drain counts its own now.
func TestDrainNotEndedByTheMonitorsEarlierCount(t *testing.T) {
	x := newChangedRunFixture(t)
	var fails, given atomic.Int64
	fails.Store(1)
	c := x.drainController(&fails, &given, time.Minute)
	r := x.drainingRun()
	c.mu.Lock()
	c.unreachable[r.ID] = time.Now().Add(-time.Hour)
	c.mu.Unlock()
	if done, unconfirmed, err := c.draining(x.ctx, r); done || err == nil {
		t.Fatalf("a drain whose first Cancel failed, the monitor's count an hour old: over %v (%q), error %v; want not over", done, unconfirmed, err)
	}
}
