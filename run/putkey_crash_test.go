package run

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// crashingAudit stands for a server stopped (killed, its power lost) while
// appending to the audit log: the append panics, before its entries are
// committed (crash 1) or after (crash 2).
type crashingAudit struct {
	store.Store
	crash atomic.Int32
}

type crashed struct{}

func (s *crashingAudit) AppendAudit(ctx context.Context, recs ...audit.Record) error {
	switch s.crash.Load() {
	case 1:
		panic(crashed{})
	case 2:
		if err := s.Store.AppendAudit(ctx, recs...); err != nil {
			return err
		}
		panic(crashed{})
	}
	return s.Store.AppendAudit(ctx, recs...)
}

// TestPutKeyStopMidwayLeavesNoUnrecordedKey: a server stopped in the
// middle of a key change (PUT /v1/datasets/{name}/key) must not leave in
// the keyring a key the audit log never recorded, which the next server
// would seal and hand to attempts with. It used to store the key first and
// record it after: a stop in between kept a key the log never named. Now
// the change is recorded first; a stop after that leaves the key held
// before, which the log recorded when it was put.
func TestPutKeyStopMidwayLeavesNoUnrecordedKey(t *testing.T) {
	ctx := context.Background()
	var ca *crashingAudit
	f := newLawCheckFixture(t, func(st store.Store) store.Store { ca = &crashingAudit{Store: st}; return ca })
	c := f.stagingController(nil)
	ds := "apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: corpus}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5}\n"
	if _, err := c.Apply(ctx, "t1", []Document{{Name: "ds.yaml", Content: ds}}, false); err != nil {
		t.Fatal(err)
	}
	// Each key the keyring holds after a stop, as a fresh server finds
	// it, must be one the log recorded for this dataset.
	heldIsRecorded := func(when string) {
		t.Helper()
		fresh := f.stagingController(nil)
		k, err := fresh.keyrings().Get("t1", "corpus")
		if errors.Is(err, dataset.ErrNoKey) {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		entries, err := f.st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{dataset.KeyRecordKind}, Tenant: "t1"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			var p map[string]string
			if err := json.Unmarshal(e.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if p["dataset"] == "corpus" && p["fingerprint"] == k.Fingerprint() {
				return
			}
		}
		t.Errorf("%s: the keyring holds key %s, which the audit log never recorded", when, k.Fingerprint())
	}
	putStopped := func(mode int32) {
		t.Helper()
		k, err := seal.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		ca.crash.Store(mode)
		defer ca.crash.Store(0)
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(crashed); !ok {
					panic(r)
				}
			}
		}()
		_ = c.PutKey(ctx, "t1", "corpus", k.String())
	}
	putStopped(1)
	heldIsRecorded("a first key, stopped in its record's append")
	putStopped(2)
	heldIsRecorded("a first key, stopped after its record")
	k1, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutKey(ctx, "t1", "corpus", k1.String()); err != nil {
		t.Fatal(err)
	}
	putStopped(1)
	heldIsRecorded("a replacing key, stopped in its record's append")
	putStopped(2)
	heldIsRecorded("a replacing key, stopped after its record")
	// A stop between the record and the key's storing.
	func() {
		putKeyRecorded = func() { panic(crashed{}) }
		defer func() { putKeyRecorded = nil }()
		putStopped(0)
	}()
	heldIsRecorded("a replacing key, stopped before it was stored")
	if got, err := c.keyrings().Get("t1", "corpus"); err != nil || got.String() != k1.String() {
		t.Errorf("after replacing keys all stopped midway: %v, want the key recorded and stored before", err)
	}
}
