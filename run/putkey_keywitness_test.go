package run

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// TestServerKeyWrittenIntoKeyringIsRefused: a key written straight into a
// server's keyring file (by whoever may write the state directory, or a
// backup restored over it) was staged with, verified with and handed to
// attempts as the dataset's own. With the server's keyrings witnessed
// (dataset.KeyWitness over the server's store), staging, verifying and an
// attempt's manifest refuse it, naming the dataset; the tenant's key
// change (PutKey, as `dataset send-key` makes it) records the key, which
// is then used. A record in the format from before dataset.KeyRecord
// (no sha256) still counts.
func TestServerKeyWrittenIntoKeyringIsRefused(t *testing.T) {
	ctx := context.Background()
	st, dir := testStore(t)
	traversable(t, dir)
	file, _ := dataset.TenantKeyrings{Root: dir}.For("t1") // the file, as anyone writes it
	tk := dataset.TenantKeyrings{Root: dir, Witness: &dataset.KeyWitness{Log: st, Chain: audit.NewChain(testAuditKey), Remedy: "send the key again"}}
	cfg := sitesConfig(st, dir)
	cfg.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: tk, Ledger: transfer.AuditLedger{Store: st}}
	c := handStepped(t, cfg)
	// The key is written into the keyring with no record of it.
	res := addDataset(t, dir, file, testData{name: "corpus-c", origin: "SG", class: catalog.ClassPublic, stored: true})
	planted, err := file.Get("corpus-c")
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(10, 5, []string{"corpus-c"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	// Attempt 1, its staging recorded (any digest: the manifest is not
	// read here).
	pinnedAttempt := Attempt{N: 1, Site: r.Site, Manifests: map[string]string{"corpus-c": strings.Repeat("0", 64)}}
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, dataset.ErrKeyUnrecorded) || !strings.Contains(err.Error(), "corpus-c") {
			t.Errorf("%s with a key written into the keyring: %v, want a refusal naming dataset corpus-c", what, err)
		}
	}
	// The tenant's to resolve (send the key again): a conflict, not a
	// fault of the server's.
	_, err = c.StageDataset(ctx, "t1", "corpus-c", StageRequest{Site: r.Site})
	refused("staging", err)
	if !errors.Is(err, ErrConflict) {
		t.Errorf("staging with a key written into the keyring: %v, want a conflict", err)
	}
	_, err = c.VerifyDataset(ctx, "t1", "corpus-c", r.Site)
	refused("verifying", err)
	if !errors.Is(err, ErrConflict) {
		t.Errorf("verifying with a key written into the keyring: %v, want a conflict", err)
	}
	_, err = c.manifest(ctx, r, pinnedAttempt)
	refused("an attempt's manifest", err)
	if ds, err := c.Datasets(ctx, "t1"); err != nil || len(ds) != 1 || ds[0].KeyHeld {
		t.Errorf("datasets %+v %v, want corpus-c without a key held", ds, err)
	}

	// Sent again through the server, the key is recorded and used.
	if err := c.PutKey(ctx, "t1", "corpus-c", planted.String()); err != nil {
		t.Fatal(err)
	}
	if got, err := c.StageDataset(ctx, "t1", "corpus-c", StageRequest{Site: r.Site}); err != nil || !got.Allowed {
		t.Fatalf("staging with the key sent: %+v %v", got, err)
	}
	m, err := c.manifest(ctx, r, pinnedAttempt)
	if err != nil || len(m.Datasets) != 1 || m.Datasets[0].Key != planted.String() {
		t.Fatalf("manifest with the key sent: %+v %v", m, err)
	}

	// Another key written over the recorded one is refused.
	other, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := file.Put("corpus-c", other); err != nil {
		t.Fatal(err)
	}
	_, err = c.manifest(ctx, r, pinnedAttempt)
	refused("an attempt's manifest", err)
	if err != nil && !strings.Contains(err.Error(), planted.Fingerprint()) {
		t.Errorf("refusal %v does not name the recorded key %s", err, planted.Fingerprint())
	}
	// A record as servers wrote them before (no sha256) names it.
	old, err := audit.NewRecord(dataset.KeyRecordKind, "", map[string]string{"dataset": "corpus-c", "fingerprint": other.Fingerprint(), "by": "tenant t1"})
	if err != nil {
		t.Fatal(err)
	}
	old.Tenant = "t1"
	if err := st.AppendAudit(ctx, old); err != nil {
		t.Fatal(err)
	}
	if m, err := c.manifest(ctx, r, pinnedAttempt); err != nil || m.Datasets[0].Key != other.String() {
		t.Errorf("manifest with a key an old-format record names: %+v %v", m, err)
	}
}

// unreadKeyLog is an audit log whose key records cannot be read while
// down is set: a store's passing failure.
type unreadKeyLog struct {
	*store.SQLite
	down atomic.Bool
}

func (l *unreadKeyLog) AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error) {
	if l.down.Load() {
		return nil, errors.New("database is locked")
	}
	return l.SQLite.AuditSelect(ctx, q)
}

// TestStagingWithKeyLogUnreadIsTriedAgain: the key records of the audit
// log that a server's keyring confirms its keys against could not be read
// (the store busy a moment): the run's staging failed for good, as if the
// key had been refused. The key is neither confirmed nor refused, so the
// staging is tried again, and passes once the log reads.
func TestStagingWithKeyLogUnreadIsTriedAgain(t *testing.T) {
	ctx := context.Background()
	st, dir := testStore(t)
	traversable(t, dir)
	log := &unreadKeyLog{SQLite: st}
	tk := dataset.TenantKeyrings{Root: dir, Witness: &dataset.KeyWitness{Log: log, Chain: audit.NewChain(testAuditKey)}}
	keys, _ := tk.For("t1")
	cfg := sitesConfig(st, dir)
	cfg.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: tk, Ledger: transfer.AuditLedger{Store: st}}
	c := handStepped(t, cfg)
	res := addDataset(t, dir, keys, testData{name: "corpus-c", origin: "SG", class: catalog.ClassPublic, stored: true}) // recorded, then kept
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(10, 5, []string{"corpus-c"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	log.down.Store(true)
	for i := 0; i < 3; i++ {
		c.Step(ctx, r.ID)
	}
	r, _ = c.Get(ctx, "t1", r.ID)
	if r.State != Staging || r.StageTries == 0 {
		t.Fatalf("run %s (stage tries %d) after its key's records could not be read: %s; want staging, tried again", r.State, r.StageTries, r.Reason)
	}
	log.down.Store(false)
	if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error { r.StageNext = time.Time{}; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if r, _ = c.Get(ctx, "t1", r.ID); r.Staged != r.Attempt {
		t.Errorf("run %s staged %d of attempt %d once the log reads: %s", r.State, r.Staged, r.Attempt, r.Reason)
	}
	// The attempt's manifest is then the server unavailable (503, which
	// the agent waits out), not the attempt's setup failing (500).
	log.down.Store(true)
	if _, err := c.manifest(ctx, r, Attempt{N: r.Attempt, Site: r.Site}); !errors.As(err, new(*storeReadError)) || !strings.Contains(err.Error(), "corpus-c") {
		t.Errorf("manifest with the key records unread: %v, want a store read error naming corpus-c", err)
	}
}
