package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// listCounter counts the lists of registered resources read through it.
type listCounter struct {
	store.Store
	lists atomic.Int64
}

func (l *listCounter) ListResources(ctx context.Context, tenant, kind string) ([]*store.Resource, error) {
	l.lists.Add(1)
	return l.Store.ListResources(ctx, tenant, kind)
}

// TestRegistryReadSkipsUnchangedRows: every read of a tenant's registry
// (each submission, plan and law check of the tenant) listed all its rows
// and hashed every document, up to MaxResourceBytes, though they rarely
// change. A registry confirmed while no sealed register record of the
// tenant has come since is now taken as it is, for at most
// registryRecheck; a registration by another server is read at once, and a
// row changed by hand is never used and is refused at the next full read.
func TestRegistryReadSkipsUnchangedRows(t *testing.T) {
	ctx := context.Background()
	var lc *listCounter
	f := newLawCheckFixture(t, func(st store.Store) store.Store { lc = &listCounter{Store: st}; return lc })
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := f.controller(func(cfg *Config) {
		cfg.AuditChain, cfg.Now = audit.NewChain(testAuditKey), func() time.Time { return now }
	})
	other := f.witnessed(f.st) // another server on the database
	if _, err := other.Apply(ctx, "t1", registryDocs(3, "1.0e5"), false); err != nil {
		t.Fatal(err)
	}
	read := func(what string) *registry {
		t.Helper()
		reg, err := c.registry(ctx, "t1")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return reg
	}
	read("first read")
	n := lc.lists.Load()
	if reg := read("second read"); lc.lists.Load() != n || reg.datasets["ds0"] == nil || reg.rows["Dataset/ds0"] == nil {
		t.Errorf("a second read listed the rows again (%d lists, want %d), or lost them", lc.lists.Load(), n)
	}
	// Another tenant's registration is not this tenant's.
	if _, err := other.Apply(ctx, "t2", registryDocs(1, "1.0e5"), false); err != nil {
		t.Fatal(err)
	}
	if read("after another tenant registered"); lc.lists.Load() != n {
		t.Errorf("another tenant's registration made the tenant's rows be listed again")
	}
	// An update by the other server is read at once.
	if _, err := other.Apply(ctx, "t1", registryDocs(3, "2.0e5"), true); err != nil {
		t.Fatal(err)
	}
	if reg := read("after an update"); reg.datasets["ds0"].Spec.SizeBytes != 2e5 {
		t.Errorf("after another server's update ds0 has size %v, want 2e5", reg.datasets["ds0"].Spec.SizeBytes)
	}
	// ds0's document and hash rewritten together by hand.
	var doc string
	if err := f.st.DB().QueryRowContext(ctx, `SELECT doc FROM resources WHERE tenant = 't1' AND name = 'ds0'`).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	hand := strings.Replace(doc, "200000", "300000", 1)
	if hand == doc {
		t.Fatalf("registered document %s does not hold the size as expected", doc)
	}
	sum := sha256.Sum256([]byte(hand))
	if _, err := f.st.DB().ExecContext(ctx, `UPDATE resources SET doc = ?, hash = ? WHERE tenant = 't1' AND name = 'ds0'`, hand, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	// (The store keeps its lists until it writes a resource.)
	if _, err := other.Apply(ctx, "t2", registryDocs(2, "1.0e5"), false); err != nil {
		t.Fatal(err)
	}
	if reg := read("after a change by hand"); reg.datasets["ds0"].Spec.SizeBytes != 2e5 {
		t.Errorf("within registryRecheck of its confirmation ds0 has size %v, want the 2e5 confirmed", reg.datasets["ds0"].Spec.SizeBytes)
	}
	now = now.Add(registryRecheck)
	if _, err := c.registry(ctx, "t1"); err == nil || !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "Dataset ds0") || !strings.Contains(err.Error(), "outside Meridian") {
		t.Errorf("a registry read registryRecheck later: %v, want a conflict naming Dataset ds0 changed outside Meridian", err)
	}
}
