package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// brokenLedger is a FileLedger whose appends of one kind fail while
// broken is set, as the server's audit store does while it is down.
type brokenLedger struct {
	*FileLedger
	kind   string
	broken atomic.Bool
}

var errAuditDown = errors.New("audit store: connection refused by the database")

func (l *brokenLedger) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	if l.broken.Load() && kind == l.kind {
		return errAuditDown
	}
	return l.FileLedger.Append(ctx, tenant, kind, runID, payload)
}

// siteObjects lists the regular files under the site's store.
func siteObjects(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestLedgerFailureIsPassingAndSendsNothing: when the ledger cannot record
// a batch's intent, the copy stops before any of its bytes move, and the
// error says it is the ledger's, a passing failure (Transient) the caller
// tries again rather than a refusal that gives the data or the checkpoint
// up. Once the ledger works the copy completes. A confirmation that cannot
// be recorded is passing too, and the next copy confirms what arrived.
// The ledger's failure was an error of no kind, which a run's checkpoint
// move took for a refusal: the checkpoint was dropped and the run started
// over because the server could not write its own records.
func TestLedgerFailureIsPassingAndSendsNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 3, 200<<10, "")
	led := &brokenLedger{FileLedger: f.ledger, kind: KindIntent}
	s := f.stager()
	s.Ledger = led
	led.broken.Store(true)
	_, err := s.Stage(ctx, f.request())
	if !errors.Is(err, ErrLedger) || !errors.Is(err, errAuditDown) || !Transient(err) {
		t.Fatalf("staging while the ledger cannot record an intent: %v (ledger %v, passing %v); want the ledger's passing failure", err, errors.Is(err, ErrLedger), Transient(err))
	}
	if objs := siteObjects(t, f.siteDir); len(objs) != 0 {
		t.Fatalf("objects at the site with no intent on the ledger: %v", objs)
	}
	led.broken.Store(false)
	if _, err := s.Stage(ctx, f.request()); err != nil {
		t.Fatalf("staging once the ledger works: %v", err)
	}
	if rep := f.verifyAtSite(t); !rep.Good() {
		t.Fatalf("site copy after the retry: %+v", rep)
	}

	// The confirmation fails: the bytes are there, the intent open.
	g := newFixture(t, 3, 200<<10, "")
	led = &brokenLedger{FileLedger: g.ledger, kind: KindTransfer}
	s = g.stager()
	s.Ledger = led
	led.broken.Store(true)
	_, err = s.Stage(ctx, g.request())
	if !errors.Is(err, ErrLedger) || !Transient(err) {
		t.Fatalf("staging while the ledger cannot record a confirmation: %v; want the ledger's passing failure", err)
	}
	led.broken.Store(false)
	res, err := s.Stage(ctx, g.request())
	if err != nil {
		t.Fatalf("staging once the ledger works: %v", err)
	}
	if res.Reconciled == 0 {
		t.Errorf("the retry reconciled nothing: the bytes sent before the confirmation failed are not on the ledger")
	}
	sums, err := Summarize(ctx, g.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].OpenIntents != 0 {
		t.Errorf("ledger after the retry: %+v; want no open intent", sums)
	}

	// What the data's store says about the objects is not passing, nor
	// is the law's refusal.
	for _, e := range []error{dataset.ErrNotFound, &DeniedError{Dataset: "x"}} {
		if Transient(e) {
			t.Errorf("Transient(%v) = true", e)
		}
	}
}

// TestLedgerFailureWithARefusalIsNoPassingFailure: a copy whose error
// holds both a failure of the ledger's and a refusal that would be met
// again (a manifest that does not authenticate) is refused, not tried
// again: the ledger's failure counted first, and such a staging was held
// and tried again hourly for ever.
func TestLedgerFailureWithARefusalIsNoPassingFailure(t *testing.T) {
	err := errors.Join(fmt.Errorf("ledger confirmation: %w", ErrLedger), fmt.Errorf("chunk 3: %w", seal.ErrAuth))
	if Transient(err) {
		t.Errorf("%v counts as passing", err)
	}
	if !Transient(fmt.Errorf("ledger intent: %w", ErrLedger)) {
		t.Error("a failure of the ledger's alone does not count as passing")
	}
}
