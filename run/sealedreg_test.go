package run

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// TestStagingRecordsSealedRegistration: a dataset's contents swapped in
// place with the same head count, size and store (`apply --update`
// changing another field) had the digest of the first registration, and
// the ledger recorded both stagings as one registration: the volume
// thresholds counted the people once when two groups crossed. A staging
// now records the sealed register record the registry read confirmed:
// the same registration staged again is the same, the one updated is
// another, of the same digest.
func TestStagingRecordsSealedRegistration(t *testing.T) {
	var keys dataset.Keyring
	e := newEnv(t, func(c *Config) {
		tk := dataset.TenantKeyrings{Root: c.StateDir}
		keys, _ = tk.For("t1")
		c.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: tk, Ledger: transfer.AuditLedger{Store: c.Store.(*store.SQLite)}}
		c.AuditChain = audit.NewChain(testAuditKey)
	})
	ctx := context.Background()
	doc := strings.TrimPrefix(addDataset(t, e.dir, keys, testData{name: "corpus", origin: "SG", class: catalog.ClassPublic, stored: true}), "---\n")
	stage := func(update bool, doc string) string {
		t.Helper()
		if _, err := e.c.Apply(ctx, "t1", []Document{{Name: "ds.yaml", Content: doc}}, update); err != nil {
			t.Fatal(err)
		}
		res, err := e.c.StageDataset(ctx, "t1", "corpus", StageRequest{Site: "alpha"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Entry.Registration
	}
	first := stage(false, doc)
	if again := stage(false, doc); again != first {
		t.Errorf("the same registration staged again: %q, then %q", first, again)
	}
	swapped := strings.Replace(doc, "metadata: {name: corpus}", "metadata: {name: corpus, labels: {batch: two}}", 1)
	if swapped == doc {
		t.Fatal("the document did not change")
	}
	second := stage(true, swapped)
	if second == first {
		t.Errorf("contents registered again under the same digest were recorded as the first registration, %q", first)
	}
	d1, _, _ := strings.Cut(first, "@")
	d2, _, _ := strings.Cut(second, "@")
	if d1 == "" || d1 != d2 || !strings.Contains(second, "@") {
		t.Errorf("registrations %q and %q: want one digest, two sealed records", first, second)
	}
	// The ledger's records carry it.
	es, err := e.st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{transfer.KindTransfer}, Tenant: "t1", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range es {
		var ent transfer.Entry
		if err := json.Unmarshal(a.Payload, &ent); err != nil {
			t.Fatal(err)
		}
		seen[ent.Registration] = true
	}
	if !seen[first] || !seen[second] || len(seen) != 2 {
		t.Errorf("ledger registrations %v, want %q and %q", seen, first, second)
	}
}

// TestRunStagingRecordsSealedRegistration: a run's staging records the
// sealed register record of its dataset too, the one a staging through
// the server records, so the two count as one registration.
func TestRunStagingRecordsSealedRegistration(t *testing.T) {
	var keys dataset.Keyring
	e := newEnv(t, func(c *Config) {
		tk := dataset.TenantKeyrings{Root: c.StateDir}
		keys, _ = tk.For("t1")
		c.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: tk, Ledger: transfer.AuditLedger{Store: c.Store.(*store.SQLite)}}
		c.AuditChain = audit.NewChain(testAuditKey)
	})
	ctx := context.Background()
	res := addDataset(t, e.dir, keys, testData{name: "corpus-a", origin: "SG", class: catalog.ClassPersonal, stored: true})
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(20, 10, []string{"corpus-a"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded {
		t.Fatalf("ended %s: %s", r.State, r.Reason)
	}
	tr := e.transfers(r.ID)
	if len(tr) != 1 {
		t.Fatalf("ledger %+v, want one staging", tr)
	}
	staged, err := e.c.StageDataset(ctx, "t1", "corpus-a", StageRequest{Site: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tr[0].Registration, "@") || tr[0].Registration != staged.Entry.Registration {
		t.Errorf("the run recorded registration %q, the server's staging %q: want one sealed registration", tr[0].Registration, staged.Entry.Registration)
	}
}
