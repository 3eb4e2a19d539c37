package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// labOrg is the Organization jobDoc's job belongs to, headquartered in hq.
func labOrg(hq string) Document {
	return Document{Name: "lab.yaml", Content: "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec: {headquarters: " + hq + "}\n"}
}

// TestRegisteredResourceWrittenOutsideMeridian: whoever can write the
// database but has no audit key rewrote a tenant's registered
// Organization, its document and the hash on its row together (its
// headquarters moved, which changes what the law allows), or put an
// earlier genuine version back, or added a resource by hand; every plan,
// submission and law check then judged by it, while the log verified. A
// row is now used only when the latest sealed register record of it names
// its hash; the tenant's refusal is a conflict naming the resource, and
// registering it again mends it.
func TestRegisteredResourceWrittenOutsideMeridian(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.witnessed(f.st)
	if _, err := c.Apply(ctx, "t1", []Document{labOrg("SG")}, false); err != nil {
		t.Fatal(err)
	}
	// A server started afresh on the database (the store keeps its lists
	// in memory until it writes one): each case is read by a new one.
	fresh := func() *Controller { return f.reopened(t) }
	if _, err := fresh().registry(ctx, "t1"); err != nil {
		t.Fatalf("registry as registered: %v", err)
	}
	rowOf := func() (string, string) {
		t.Helper()
		var doc, hash string
		if err := f.st.DB().QueryRowContext(ctx, `SELECT doc, hash FROM resources WHERE tenant = 't1' AND kind = 'Organization' AND name = 'lab'`).Scan(&doc, &hash); err != nil {
			t.Fatal(err)
		}
		return doc, hash
	}
	setRow := func(doc, hash string) {
		t.Helper()
		if _, err := f.st.DB().ExecContext(ctx, `UPDATE resources SET doc = ?, hash = ? WHERE tenant = 't1' AND kind = 'Organization' AND name = 'lab'`, doc, hash); err != nil {
			t.Fatal(err)
		}
	}
	hashOf := func(doc string) string {
		sum := sha256.Sum256([]byte(doc))
		return hex.EncodeToString(sum[:])
	}
	refused := func(what, want string) {
		t.Helper()
		c := fresh()
		_, err := c.registry(ctx, "t1")
		var ie *InputError
		if err == nil || !errors.Is(err, ErrConflict) || !errors.As(err, &ie) || ie.Field != "documents" ||
			!strings.Contains(err.Error(), "Organization lab of tenant t1") || !strings.Contains(err.Error(), "outside Meridian") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: registry read %v, want a conflict naming Organization lab, outside Meridian and %q", what, err, want)
		}
		// A submission carrying the job alone plans by the registered
		// organisation: refused as well, registering nothing.
		if _, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}}); err == nil || !errors.Is(err, ErrConflict) {
			t.Errorf("%s: a submission over it: %v, want a conflict", what, err)
		}
	}

	sgDoc, sgHash := rowOf()
	// (a) The document and its hash rewritten together.
	usDoc := strings.Replace(sgDoc, `"SG"`, `"US"`, 1)
	if usDoc == sgDoc {
		t.Fatalf("registered document %s does not hold the headquarters as expected", sgDoc)
	}
	setRow(usDoc, hashOf(usDoc))
	refused("document and hash rewritten together", "its latest sealed register record names "+sgHash)
	// The tenant's list shows the row, marked.
	if rs, err := fresh().Resources(ctx, "t1"); err != nil || len(rs) != 1 || !strings.Contains(rs[0].ChangedOutsideMeridian, "outside Meridian") {
		t.Errorf("the tenant's list of a row changed outside Meridian: %+v, %v; want it marked", rs, err)
	}
	// (b) The document rewritten, the hash left: refused by the row alone.
	setRow(usDoc, sgHash)
	refused("document rewritten under the registered hash", "hashes to")
	setRow(sgDoc, sgHash)
	if _, err := fresh().registry(ctx, "t1"); err != nil {
		t.Fatalf("registry once restored: %v", err)
	}
	if rs, err := fresh().Resources(ctx, "t1"); err != nil || len(rs) != 1 || rs[0].ChangedOutsideMeridian != "" {
		t.Errorf("the tenant's list once restored: %+v, %v; want it unmarked", rs, err)
	}

	// (c) An earlier genuine version put back over an update, read by a
	// new server and by one that confirmed the earlier version before.
	long := f.witnessed(f.st)
	if _, err := long.registry(ctx, "t1"); err != nil {
		t.Fatalf("registry of a running server: %v", err)
	}
	if _, err := c.Apply(ctx, "t1", []Document{labOrg("DE")}, true); err != nil {
		t.Fatal(err)
	}
	deDoc, deHash := rowOf()
	setRow(sgDoc, sgHash)
	refused("an earlier version put back", "names "+deHash)
	if _, err := long.registry(ctx, "t1"); err == nil || !strings.Contains(err.Error(), "names "+deHash) {
		t.Errorf("an earlier version put back, read by a server that confirmed it before the update: %v, want a refusal naming %s", err, deHash)
	}

	// The tenant mends it by registering again: without --update it is a
	// conflict with the row as it is; with it, a sealed record is written.
	if _, err := c.Apply(ctx, "t1", []Document{labOrg("DE")}, false); err == nil || !errors.Is(err, ErrConflict) {
		t.Errorf("apply without --update over a row changed outside Meridian: %v, want a conflict", err)
	}
	if _, err := fresh().Apply(ctx, "t1", []Document{labOrg("DE")}, true); err != nil {
		t.Fatalf("apply --update over a row changed outside Meridian: %v", err)
	}
	if d, h := rowOf(); d != deDoc || h != deHash {
		t.Fatalf("after the apply the row is %s %s, want %s", d, h, deHash)
	}
	if _, err := fresh().registry(ctx, "t1"); err != nil {
		t.Fatalf("registry after the tenant registered it again: %v", err)
	}

	// (d) A resource added by hand, with no record at all.
	hand := `{"apiVersion":"meridian.dev/v1alpha1","kind":"Organization","metadata":{"name":"lab"},"spec":{"headquarters":"US"}}`
	if _, err := f.st.DB().ExecContext(ctx, `INSERT INTO resources (tenant, kind, name, doc, hash, store_key, version, created_at, updated_at)
		VALUES ('t1', 'Organization', 'other', ?, ?, '', 1, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')`, hand, hashOf(hand)); err != nil {
		t.Fatal(err)
	}
	c2 := fresh()
	if _, err := c2.registry(ctx, "t1"); err == nil || !strings.Contains(err.Error(), "Organization other") || !strings.Contains(err.Error(), "no sealed register record") {
		t.Errorf("a resource added by hand: %v, want a refusal naming it and the missing record", err)
	}
	// The same contents stated by the tenant register it, sealed, even
	// without --update (nothing in them changes).
	same := Document{Name: "other.yaml", Content: "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: other}\nspec: {headquarters: US}\n"}
	if _, err := f.st.DB().ExecContext(ctx, `UPDATE resources SET doc = ?, hash = ? WHERE name = 'other'`, mustResourceDoc(t, same), hashOf(mustResourceDoc(t, same))); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh().Apply(ctx, "t1", []Document{same}, false); err != nil {
		t.Fatalf("the tenant stating the contents of a row added by hand: %v", err)
	}
	if _, err := fresh().registry(ctx, "t1"); err != nil {
		t.Errorf("registry after the tenant stated the same contents: %v", err)
	}
}

// TestRegisteredResourceDeletedOutsideMeridian: whoever can write the
// database but has no audit key deleted a tenant's registered
// Organization's row outright; the name was then free, and the next run
// request carrying an Organization of that name (headquarters moved, which
// changes what the law allows) registered it on the tenant's word, without
// `apply --update` and its record of the version replaced. A resource a
// sealed register record names is now registered until a sealed record
// deletes it: its missing row is a conflict naming it, and the tenant's
// apply registers it again.
func TestRegisteredResourceDeletedOutsideMeridian(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.witnessed(f.st)
	if _, err := c.Apply(ctx, "t1", []Document{labOrg("SG")}, false); err != nil {
		t.Fatal(err)
	}
	var sgHash string
	if err := f.st.DB().QueryRowContext(ctx, `SELECT hash FROM resources WHERE tenant = 't1' AND name = 'lab'`).Scan(&sgHash); err != nil {
		t.Fatal(err)
	}
	// A server that read the registry before the deletion, and one
	// started afresh after it (the store keeps its lists in memory until
	// it writes one: each read is by a new handle on the database).
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	long := f.reopened(t)
	long.cfg.Now = func() time.Time { return now }
	if _, err := long.registry(ctx, "t1"); err != nil {
		t.Fatalf("registry as registered: %v", err)
	}
	if _, err := f.st.DB().ExecContext(ctx, `DELETE FROM resources WHERE tenant = 't1' AND kind = 'Organization' AND name = 'lab'`); err != nil {
		t.Fatal(err)
	}
	refusedGone := func(what string, err error) {
		t.Helper()
		var ie *InputError
		var changed *changedError
		if err == nil || !errors.Is(err, ErrConflict) || !errors.As(err, &ie) || ie.Field != "documents" || !errors.As(err, &changed) ||
			!strings.Contains(err.Error(), "Organization lab of tenant t1") || !strings.Contains(err.Error(), "row is gone") || !strings.Contains(err.Error(), sgHash) {
			t.Errorf("%s: %v, want a conflict naming Organization lab, its row gone and its record's %s", what, err, sgHash)
		}
	}
	_, err := f.reopened(t).registry(ctx, "t1")
	refusedGone("registry read by a server started after the deletion", err)
	// The running server lists afresh once it writes a resource: another
	// tenant's, which is not this one's concern.
	if _, err := long.Apply(ctx, "t2", []Document{labOrg("US")}, false); err != nil {
		t.Fatalf("another tenant registering its own lab: %v", err)
	}
	// It goes on with the organisation it confirmed, for at most
	// registryRecheck, and refuses it then.
	if reg, err := long.registry(ctx, "t1"); err != nil || reg.orgs["lab"] == nil || reg.orgs["lab"].Spec.Headquarters != "SG" {
		t.Errorf("registry read by a server that confirmed it before, within registryRecheck: %v, want the organisation it confirmed", err)
	}
	now = now.Add(registryRecheck)
	_, err = long.registry(ctx, "t1")
	refusedGone("registry read by a server that read it before", err)
	// A run request carrying another organisation of that name, and one
	// carrying the registered contents: neither registers it.
	for _, hq := range []string{"US", "SG"} {
		_, _, err := f.reopened(t).Submit(ctx, "t1", SubmitRequest{Documents: []Document{labOrg(hq), jobDoc(10, 1)}})
		refusedGone("a submission carrying Organization lab in "+hq, err)
	}
	var n int
	if err := f.st.DB().QueryRowContext(ctx, `SELECT count(*) FROM resources WHERE tenant = 't1'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after the refused submissions the tenant has %d resources (%v), want none", n, err)
	}
	// The tenant registers it again: a sealed record, and the registry is
	// whole.
	if _, err := f.reopened(t).Apply(ctx, "t1", []Document{labOrg("SG")}, false); err != nil {
		t.Fatalf("the tenant registering its organisation again: %v", err)
	}
	if _, err := f.reopened(t).registry(ctx, "t1"); err != nil {
		t.Fatalf("registry after the tenant registered it again: %v", err)
	}
	if _, err := long.registry(ctx, "t1"); err != nil {
		t.Fatalf("registry of the running server after the tenant registered it again: %v", err)
	}

	// A deletion that a sealed record states (action "deleted", in the
	// deleting transaction) frees the name.
	rec, err := audit.NewRecord(KindRegister, "", map[string]any{"kind": "Organization", "name": "lab", "action": actionDeleted})
	if err != nil {
		t.Fatal(err)
	}
	rec.Tenant = "t1"
	if err := f.st.AppendAudit(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DB().ExecContext(ctx, `DELETE FROM resources WHERE tenant = 't1' AND kind = 'Organization' AND name = 'lab'`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reopened(t).registry(ctx, "t1"); err != nil {
		t.Errorf("registry after a deletion a sealed record states: %v", err)
	}
}

// mustResourceDoc is the document Apply registers for doc's one resource.
func mustResourceDoc(t *testing.T, doc Document) string {
	t.Helper()
	rq, err := decodeRequest([]Document{doc})
	if err != nil || len(rq.orgs) != 1 {
		t.Fatalf("decode %s: %v", doc.Name, err)
	}
	r, err := resourceOf("Organization", rq.orgs[0].Metadata.Name, rq.orgs[0], "")
	if err != nil {
		t.Fatal(err)
	}
	return string(r.Doc)
}

// witnessed is f's controller over st, holding registered resources and
// runs to the audit log's sealed records (under testStore's key).
func (f *lawCheckFixture) witnessed(st store.Store) *Controller {
	return f.controller(func(cfg *Config) { cfg.Store, cfg.AuditChain = st, audit.NewChain(testAuditKey) })
}

// reopened is witnessed over a new handle on f's database: a server
// started afresh, nothing of the resources or runs cached (the store
// keeps its lists in memory until it writes one).
func (f *lawCheckFixture) reopened(t *testing.T) *Controller {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(f.dir, "m.db"), store.Options{AuditKey: testAuditKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return f.witnessed(st)
}

// TestApplyOverDeletedRowIsAnUpdate: a registered resource's row deleted
// outright (a sealed register record names it, none deletes it) let the
// tenant's apply register other contents without --update, as if the name
// were free. It is registered all the same: other contents are a conflict
// without --update, as over a row; the same contents mend it; --update
// replaces it.
func TestApplyOverDeletedRowIsAnUpdate(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	if _, err := f.witnessed(f.st).Apply(ctx, "t1", []Document{labOrg("SG")}, false); err != nil {
		t.Fatal(err)
	}
	var sgHash string
	if err := f.st.DB().QueryRowContext(ctx, `SELECT hash FROM resources WHERE tenant = 't1' AND name = 'lab'`).Scan(&sgHash); err != nil {
		t.Fatal(err)
	}
	del := func() {
		t.Helper()
		if _, err := f.st.DB().ExecContext(ctx, `DELETE FROM resources WHERE tenant = 't1' AND kind = 'Organization' AND name = 'lab'`); err != nil {
			t.Fatal(err)
		}
	}
	rowHash := func() string {
		t.Helper()
		var h string
		if err := f.st.DB().QueryRowContext(ctx, `SELECT hash FROM resources WHERE tenant = 't1' AND name = 'lab'`).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	del()
	// Over an existing row with other contents the refusal is this one.
	_, err := f.reopened(t).Apply(ctx, "t1", []Document{labOrg("US")}, false)
	var ie *InputError
	if err == nil || !errors.Is(err, ErrConflict) || !errors.As(err, &ie) || ie.Field != "documents" ||
		!strings.Contains(err.Error(), "Organization lab") || !strings.Contains(err.Error(), "pass --update") || !strings.Contains(err.Error(), sgHash) {
		t.Fatalf("apply of other contents without --update over a deleted row: %v, want a conflict naming Organization lab, %s and --update", err, sgHash)
	}
	var n int
	if err := f.st.DB().QueryRowContext(ctx, `SELECT count(*) FROM resources WHERE tenant = 't1'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after the refused apply the tenant has %d resources (%v), want none", n, err)
	}
	// The same contents register it again.
	if _, err := f.reopened(t).Apply(ctx, "t1", []Document{labOrg("SG")}, false); err != nil {
		t.Fatalf("apply of the recorded contents without --update: %v", err)
	}
	if h := rowHash(); h != sgHash {
		t.Fatalf("row after the mending apply hashes %s, want %s", h, sgHash)
	}
	// Other contents with --update replace it.
	del()
	if _, err := f.reopened(t).Apply(ctx, "t1", []Document{labOrg("US")}, true); err != nil {
		t.Fatalf("apply --update over a deleted row: %v", err)
	}
	if h := rowHash(); h == sgHash {
		t.Fatalf("apply --update over a deleted row left %s", h)
	}
	if _, err := f.reopened(t).registry(ctx, "t1"); err != nil {
		t.Fatalf("registry after apply --update: %v", err)
	}
}

// TestListsShowDeletedAndChangedRows: the tenant's list of resources
// left out a registered resource whose row was deleted outright, and its
// list of datasets confirmed no row at all (a dataset rewritten by hand
// was listed as registered). Both now mark such rows changed outside
// Meridian, the deleted one with a reason saying its row is gone.
func TestListsShowDeletedAndChangedRows(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	dsDoc := func(name, origin string) Document {
		return Document{Name: name + ".yaml", Content: "apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: " + name + "}\nspec: {origin: " + origin + ", classification: public, sizeBytes: 1.0e5}\n"}
	}
	if _, err := f.witnessed(f.st).Apply(ctx, "t1", []Document{labOrg("SG"), dsDoc("corpus", "SG"), dsDoc("extra", "SG"), dsDoc("plain", "SG")}, false); err != nil {
		t.Fatal(err)
	}
	// A running server, which reads the rows again registryRecheck after
	// it confirmed them.
	now := time.Now()
	long := f.reopened(t)
	long.cfg.Now = func() time.Time { return now }
	if ds, err := long.Datasets(ctx, "t1"); err != nil || len(ds) != 3 || ds[0].ChangedOutsideMeridian != "" {
		t.Fatalf("datasets as registered: %+v, %v", ds, err)
	}
	var doc string
	if err := f.st.DB().QueryRowContext(ctx, `SELECT doc FROM resources WHERE tenant = 't1' AND kind = 'Dataset' AND name = 'corpus'`).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(doc, `"SG"`, `"US"`, 1)
	if moved == doc {
		t.Fatalf("registered dataset %s does not hold its origin as expected", doc)
	}
	sum := sha256.Sum256([]byte(moved))
	if _, err := f.st.DB().ExecContext(ctx, `UPDATE resources SET doc = ?, hash = ? WHERE tenant = 't1' AND kind = 'Dataset' AND name = 'corpus'`, moved, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DB().ExecContext(ctx, `DELETE FROM resources WHERE tenant = 't1' AND kind = 'Dataset' AND name = 'extra'`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DB().ExecContext(ctx, `DELETE FROM resources WHERE tenant = 't1' AND kind = 'Organization' AND name = 'lab'`); err != nil {
		t.Fatal(err)
	}

	rs, err := f.reopened(t).Resources(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Resource{}
	for _, r := range rs {
		byName[r.Kind+"/"+r.Name] = r
	}
	if len(rs) != 4 {
		t.Errorf("resources listed: %+v, want 4", rs)
	}
	for _, k := range []string{"Organization/lab", "Dataset/extra"} {
		if r, ok := byName[k]; !ok || !strings.Contains(r.ChangedOutsideMeridian, "row is gone") || !strings.Contains(r.ChangedOutsideMeridian, "outside Meridian") {
			t.Errorf("resource %s whose row was deleted: %+v (listed %v), want it marked, its row gone", k, r, ok)
		}
	}
	if r := byName["Dataset/corpus"]; !strings.Contains(r.ChangedOutsideMeridian, "outside Meridian") {
		t.Errorf("rewritten dataset listed %+v, want it marked", r)
	}
	if r := byName["Dataset/plain"]; r.ChangedOutsideMeridian != "" {
		t.Errorf("untouched dataset listed %+v, want it unmarked", r)
	}

	// The running server goes on listing the copies it confirmed, as it
	// goes on using them, until registryRecheck is up (it lists the rows
	// afresh once it writes one: another tenant's).
	if _, err := long.Apply(ctx, "t2", []Document{labOrg("US")}, false); err != nil {
		t.Fatal(err)
	}
	ds, err := long.Datasets(ctx, "t1")
	if err != nil || len(ds) != 3 || ds[0].Name != "corpus" || ds[0].Spec.Origin != "SG" || ds[0].ChangedOutsideMeridian != "" {
		t.Errorf("running server within registryRecheck: datasets %+v, %v; want the confirmed copies", ds, err)
	}
	now = now.Add(registryRecheck)
	// The datasets, by a new server and by one that listed them before.
	for what, c := range map[string]*Controller{"new server": f.reopened(t), "running server": long} {
		ds, err := c.Datasets(ctx, "t1")
		if err != nil {
			t.Fatalf("%s: datasets: %v", what, err)
		}
		got := map[string]string{}
		for _, d := range ds {
			got[d.Name] = d.ChangedOutsideMeridian
		}
		if len(ds) != 3 || !strings.Contains(got["corpus"], "outside Meridian") || !strings.Contains(got["extra"], "row is gone") || got["plain"] != "" {
			t.Errorf("%s: datasets listed %+v, want corpus marked changed, extra marked gone, plain unmarked", what, ds)
		}
	}
}

// TestPutKeyOfAnotherTenantsDataset: a key for a dataset name another
// tenant registered was refused as the request's fault (400, naming the
// field), while staging and verifying it answer not found (404): the
// answers told a tenant which names others had registered. It is now not
// found, as a name none registered is.
func TestPutKeyOfAnotherTenantsDataset(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.stagingController(nil)
	ds := "apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: corpus}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5}\n"
	if _, err := c.Apply(ctx, "t1", []Document{{Name: "ds.yaml", Content: ds}}, false); err != nil {
		t.Fatal(err)
	}
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	_, stageErr := c.StageDataset(ctx, "t2", "corpus", StageRequest{Site: "alpha", DryRun: true})
	for _, name := range []string{"corpus", "nothing"} {
		err := c.PutKey(ctx, "t2", name, k.String())
		var ie *InputError
		if !errors.Is(err, store.ErrNotFound) || errors.As(err, &ie) || !strings.Contains(err.Error(), "not registered to this tenant") {
			t.Errorf("another tenant's key for %s: %v, want not found, as staging it answers (%v)", name, err, stageErr)
		}
	}
	if !errors.Is(stageErr, store.ErrNotFound) {
		t.Errorf("another tenant staging corpus: %v, want not found", stageErr)
	}
	if err := c.PutKey(ctx, "t1", "corpus", k.String()); err != nil {
		t.Errorf("the owner's key: %v", err)
	}
}
