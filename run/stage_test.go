package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/examples/trainer/charlm"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// plainMarker is a line of the test dataset that must never appear in a
// site's store, nor anywhere at a site once the run has ended.
const plainMarker = "meridian-plaintext-marker-5f3a9c"

// testData is a dataset added to a home store in the test's directory.
type testData struct {
	name, origin, class string
	bases               []string
	subjects            int64 // for personal data; 1000 when zero
	stored              bool  // false: declared only, never added
}

// addDataset adds d (the trainer's corpus plus a shard holding plainMarker)
// to a file:// home store, its key to keyring, and returns its resource.
func addDataset(t testing.TB, dir string, keys dataset.Keyring, d testData) string {
	t.Helper()
	spec := fmt.Sprintf("origin: %s\n  classification: %s\n  sizeBytes: 1.0e5", d.origin, d.class)
	if d.class == catalog.ClassPersonal || d.class == catalog.ClassSensitivePersonal {
		n := d.subjects
		if n == 0 {
			n = 1000
		}
		spec += fmt.Sprintf("\n  subjects: %d", n)
	}
	if len(d.bases) > 0 {
		spec += fmt.Sprintf("\n  transferBases: [%s]", strings.Join(d.bases, ", "))
	}
	if d.stored {
		src := filepath.Join(dir, "src-"+d.name)
		if err := charlm.WriteCorpus(src); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, "zz-marker.txt"), []byte(strings.Repeat(plainMarker+"\n", 20)), 0o600); err != nil {
			t.Fatal(err)
		}
		key, err := keys.GetOrCreate(d.name)
		if err != nil {
			t.Fatal(err)
		}
		sealer, err := seal.New(key, d.name)
		if err != nil {
			t.Fatal(err)
		}
		url := "file://" + filepath.Join(dir, "store") // the state directory's home store, which the server reads
		b, err := dataset.OpenStore(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, err := dataset.Add(context.Background(), dataset.AddOptions{Name: d.name, Root: src, Store: b, Sealer: sealer}); err != nil {
			t.Fatal(err)
		}
		spec += "\n  store: " + url
	}
	return fmt.Sprintf("---\napiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: %s}\nspec:\n  %s\n", d.name, spec)
}

// dataJobDoc is jobDoc with datasets; with data the trainer reads the first
// dataset where the agent unsealed it.
func dataJobDoc(steps, every int, datasets []string, data bool, resources string) Document {
	doc := jobDoc(steps, every)
	if data {
		doc.Content = strings.Replace(doc.Content, fmt.Sprintf("-data, %q,", corpus), fmt.Sprintf("-data, \"$(MERIDIAN_DATA_DIR)/%s\",", datasets[0]), 1)
	}
	doc.Content = strings.Replace(doc.Content, "  organization: lab\n", fmt.Sprintf("  organization: lab\n  datasets: [%s]\n", strings.Join(datasets, ", ")), 1)
	doc.Content += resources
	return doc
}

// newDataEnv is newEnv with a real Stager over law, the tenants' keyrings
// in dir and the audit log as ledger; it returns tenant t1's keyring.
func newDataEnv(t *testing.T, law transfer.Law) (*env, dataset.Keyring) {
	t.Helper()
	var keys dataset.Keyring
	e := newEnv(t, func(c *Config) {
		tk := dataset.TenantKeyrings{Root: c.StateDir}
		keys, _ = tk.For("t1")
		c.Stager = &transfer.Stager{Law: law, Keys: tk, Ledger: transfer.AuditLedger{Store: c.Store.(*store.SQLite)}}
	})
	return e, keys
}

// transfers returns run id's stagings and checkpoint moves as the ledger
// records them: the completing record of each, with its totals.
func (e *env) transfers(id string) []transfer.Entry {
	e.t.Helper()
	es, err := e.st.AuditEntries(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []transfer.Entry
	for _, a := range es {
		if a.Kind != audit.KindTransfer {
			continue
		}
		var t transfer.Entry
		if err := json.Unmarshal(a.Payload, &t); err != nil {
			e.t.Fatal(err)
		}
		if !t.Complete || t.Totals == nil || t.Kind == transfer.KindCheckpoint {
			continue
		}
		t.ChunksSent, t.BytesSent = t.Totals.ChunksSent, t.Totals.BytesSent
		out = append(out, t)
	}
	return out
}

// checkSitesClean asserts that no key file or attempt scratch is left under
// the sites and that no file there holds the plaintext marker, while the
// named sites' stores do hold the dataset's ciphertext.
func (e *env) checkSitesClean(storesWithData ...string) {
	e.t.Helper()
	root := filepath.Join(e.dir, "sites")
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && filepath.Base(filepath.Dir(p)) == "work" {
			if ents, _ := os.ReadDir(p); len(ents) > 0 {
				e.t.Errorf("attempt scratch left at %s: %d entries", p, len(ents))
			}
		}
		if strings.HasSuffix(d.Name(), ".key") {
			e.t.Errorf("key file left at %s", p)
		}
		if d.Type().IsRegular() {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(plainMarker)) {
				e.t.Errorf("plaintext marker found in %s", p)
			}
		}
		return nil
	})
	for _, s := range storesWithData {
		n := 0
		filepath.WalkDir(filepath.Join(root, s, "store"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				n++
			}
			return nil
		})
		if n < 2 {
			e.t.Errorf("site %s store holds %d files, want the manifest and chunks", s, n)
		}
	}
}

func (e *env) events(id string) []string {
	e.t.Helper()
	evs, err := e.c.Events(context.Background(), "t1", id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Kind+": "+ev.Reason)
	}
	return out
}

func hasEvent(evs []string, prefix, substr string) bool {
	for _, ev := range evs {
		if strings.HasPrefix(ev, prefix) && strings.Contains(ev, substr) {
			return true
		}
	}
	return false
}

func TestStageFirstAttempt(t *testing.T) {
	e, keys := newDataEnv(t, transfer.BasisLaw{})
	ctx := context.Background()
	res := addDataset(t, e.dir, keys, testData{name: "corpus-a", origin: "SG", class: catalog.ClassPersonal, stored: true})
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(20, 10, []string{"corpus-a"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Site != "alpha" {
		t.Fatalf("ended %s at %s: %s\n%s", r.State, r.Site, r.Reason, strings.Join(e.events(r.ID), "\n"))
	}
	tr := e.transfers(r.ID)
	today := time.Now().UTC().Format(catalog.DateLayout)
	if len(tr) != 1 || tr[0].Site != "alpha" || tr[0].Dataset != "corpus-a" || tr[0].From != "SG" || tr[0].To != "SG" || tr[0].AsOf != today ||
		tr[0].BytesSent == 0 || tr[0].ChunksSent != tr[0].Chunks || tr[0].RunID != r.ID {
		t.Fatalf("ledger %+v, want one full transfer of corpus-a to alpha as of today (%s)", tr, today)
	}
	if r.Attempts[0].StagedBytes != tr[0].BytesSent {
		t.Errorf("attempt staged %d bytes, ledger says %d", r.Attempts[0].StagedBytes, tr[0].BytesSent)
	}
	if evs := e.events(r.ID); !hasEvent(evs, "staging: ", "dataset corpus-a staged to alpha") {
		t.Errorf("timeline lacks the staging event:\n%s", strings.Join(evs, "\n"))
	}
	e.checkSitesClean("alpha")
	if v, err := e.st.VerifyAudit(ctx); err != nil || !v.OK {
		t.Fatalf("audit %+v %v", v, err)
	}
}

func TestStageAfterMigration(t *testing.T) {
	eng, err := policy.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		law   transfer.Law
		data  testData
		basis string // the basis the ledger must name for the move to MY
	}{
		{name: "basis law, personal data under consent", law: transfer.BasisLaw{},
			data: testData{name: "corpus-b", origin: "SG", class: catalog.ClassPersonal, bases: []string{"consent"}, stored: true}, basis: "consent"},
		{name: "policy engine, public data", law: eng,
			data: testData{name: "corpus-b", origin: "SG", class: catalog.ClassPublic, stored: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, keys := newDataEnv(t, tc.law)
			ctx := context.Background()
			res := addDataset(t, e.dir, keys, tc.data)
			r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(60, 10, []string{"corpus-b"}, true, res)}})
			if err != nil {
				t.Fatal(err)
			}
			r = e.waitFor("a checkpoint", 30*time.Second, func(r *Run) bool { return r.Checkpoint != nil && r.Checkpoint.Step >= 20 }, r.ID)
			e.failSite("alpha")
			r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
			if r.State != Succeeded || r.Site != "bravo" || r.Attempt != 2 {
				t.Fatalf("ended %s at %s attempt %d: %s\n%s", r.State, r.Site, r.Attempt, r.Reason, strings.Join(e.events(r.ID), "\n"))
			}
			tr := e.transfers(r.ID)
			if len(tr) != 2 {
				t.Fatalf("ledger %+v, want one transfer per site", tr)
			}
			if tr[0].Site != "alpha" || tr[1].Site != "bravo" || tr[1].From != "SG" || tr[1].To != "MY" || tr[1].BytesSent != tr[0].BytesSent || tr[1].BytesSent == 0 {
				t.Errorf("ledger %+v, want the whole dataset sent to alpha, then to bravo (MY)", tr)
			}
			if tc.basis != "" && tr[1].Basis != tc.basis {
				t.Errorf("move to MY under basis %q, want %q", tr[1].Basis, tc.basis)
			}
			if r.Attempts[1].StagedBytes != tr[1].BytesSent {
				t.Errorf("attempt 2 staged %d bytes, ledger says %d", r.Attempts[1].StagedBytes, tr[1].BytesSent)
			}
			e.checkSitesClean("alpha", "bravo")
			if v, err := e.st.VerifyAudit(ctx); err != nil || !v.OK {
				t.Fatalf("audit %+v %v", v, err)
			}
		})
	}
}

func TestStageRefused(t *testing.T) {
	eng, err := policy.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		law     transfer.Law
		data    testData
		migrate bool
		site    string // where the refusal happens
		rule    string // a rule the refusal must name
	}{
		// Personal data from MY without a transfer basis may not go to alpha (SG).
		{name: "first attempt", law: transfer.BasisLaw{}, data: testData{origin: "MY", class: catalog.ClassPersonal},
			site: "alpha", rule: transfer.RuleBasis},
		// Personal data from SG is fine at alpha, but may not follow the run to bravo (MY).
		{name: "after migration", law: transfer.BasisLaw{}, data: testData{origin: "SG", class: catalog.ClassPersonal},
			migrate: true, site: "bravo", rule: transfer.RuleBasis},
		// The law packs: personal information of a million people leaving
		// China needs a CAC security assessment; a standard contract is not enough.
		{name: "policy engine, first attempt", law: eng,
			data: testData{origin: "CN", class: catalog.ClassPersonal, subjects: 1200000, bases: []string{"cn-standard-contract"}},
			site: "alpha", rule: "cn-cbdf-2024-assessment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, keys := newDataEnv(t, tc.law)
			ctx := context.Background()
			d := tc.data
			d.name, d.stored = "people", true
			res := addDataset(t, e.dir, keys, d)
			r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(60, 10, []string{"people"}, true, res)}})
			if err != nil {
				t.Fatal(err)
			}
			if tc.migrate {
				e.waitFor("a checkpoint", 30*time.Second, func(r *Run) bool { return r.Checkpoint != nil && r.Checkpoint.Step >= 20 }, r.ID)
				e.failSite("alpha")
			}
			r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
			if r.State != Failed || r.Site != tc.site {
				t.Fatalf("ended %s at %s: %s", r.State, r.Site, r.Reason)
			}
			if !strings.Contains(r.Reason, "rule "+tc.rule) || !strings.Contains(r.Reason, "not started") {
				t.Errorf("reason %q does not name the rule", r.Reason)
			}
			evs := e.events(r.ID)
			if !hasEvent(evs, "staging-refused: ", "rule "+tc.rule) {
				t.Errorf("timeline lacks the refusal:\n%s", strings.Join(evs, "\n"))
			}
			if e.found(tc.site, r.ID, r.Attempt) {
				t.Errorf("attempt %d was launched at %s despite the refusal", r.Attempt, tc.site)
			}
			if _, err := os.Stat(filepath.Join(e.dir, "sites", tc.site, "store")); !os.IsNotExist(err) {
				t.Errorf("refused site's store was touched: %v", err)
			}
			es, _ := e.st.AuditEntries(ctx, r.ID)
			refusals := 0
			for _, a := range es {
				if a.Kind == audit.KindDecision && strings.Contains(string(a.Payload), `"refuse-transfer"`) {
					refusals++
					if !strings.Contains(string(a.Payload), `"rule":"`+tc.rule) || !strings.Contains(string(a.Payload), `"site":"`+tc.site+`"`) {
						t.Errorf("refusal entry %s", a.Payload)
					}
				}
			}
			if refusals != 1 {
				t.Errorf("%d refusal audit entries, want 1", refusals)
			}
			want := 0
			if tc.migrate {
				want = 1 // the lawful first staging to alpha
			}
			if tr := e.transfers(r.ID); len(tr) != want {
				t.Errorf("ledger %+v, want %d entries", tr, want)
			}
			e.checkSitesClean()
		})
	}
}

func TestStageDeclaredOnly(t *testing.T) {
	e, keys := newDataEnv(t, transfer.BasisLaw{})
	ctx := context.Background()
	res := addDataset(t, e.dir, keys, testData{name: "paper-only", origin: "SG", class: catalog.ClassPublic})
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(10, 5, []string{"paper-only"}, false, res)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded {
		t.Fatalf("ended %s: %s", r.State, r.Reason)
	}
	if evs := e.events(r.ID); !hasEvent(evs, "staging: ", "dataset paper-only declared only (no spec.store); nothing moved to alpha") {
		t.Errorf("timeline lacks the declared-only event:\n%s", strings.Join(evs, "\n"))
	}
	if tr := e.transfers(r.ID); len(tr) != 0 {
		t.Errorf("ledger %+v, want nothing moved", tr)
	}
	e.checkSitesClean()
}

// TestStageReenteredAfterCrash stops the controller between a staging and
// its durable record, as SIGKILL would: the data is at the site and in the
// ledger, but the run still says it is staging. The restarted step stages
// again, sends no byte, and goes on.
func TestStageReenteredAfterCrash(t *testing.T) {
	st, dir := testStore(t)
	traversable(t, dir)
	tk := dataset.TenantKeyrings{Root: dir}
	keys, _ := tk.For("t1")
	// A controller without its loop, stepped by hand.
	cfg := sitesConfig(st, dir)
	cfg.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: tk, Ledger: transfer.AuditLedger{Store: st}}
	c := handStepped(t, cfg)
	e := &env{t: t, st: st, c: c, dir: dir}
	res := addDataset(t, dir, keys, testData{name: "corpus-c", origin: "SG", class: catalog.ClassPublic, stored: true})
	ctx := context.Background()
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(10, 5, []string{"corpus-c"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(ctx, r.ID); err != nil { // planned → staging
		t.Fatal(err)
	}
	r, _ = c.Get(ctx, "t1", r.ID)
	if r.State != Staging || r.Staged != 0 {
		t.Fatalf("run %s staged %d, want staging with nothing staged", r.State, r.Staged)
	}
	// The staging the killed controller did before it could record it.
	w, err := c.world(r)
	if err != nil {
		t.Fatal(err)
	}
	site := *w.Site(r.Site)
	site.Spec.Store = c.SiteStore(w.Site(r.Site))
	job := w.Job(r.Job)
	first, err := c.cfg.Stager.StageJob(ctx, job, w.Datasets, &site, "t1", DataPrefix("t1"), transfer.JobQuery(w, job, c.today()), r.ID)
	if err != nil || len(first) != 1 || first[0].BytesSent == 0 {
		t.Fatalf("first staging %+v %v", first, err)
	}
	// The restarted controller's step stages again.
	if _, err := c.Step(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	r, _ = c.Get(ctx, "t1", r.ID)
	if r.State != Staging || r.Staged != 1 {
		t.Fatalf("run %s staged %d, want attempt 1 recorded", r.State, r.Staged)
	}
	if r.Attempts[0].StagedBytes != 0 {
		t.Errorf("re-entered staging sent %d bytes, want 0", r.Attempts[0].StagedBytes)
	}
	tr := e.transfers(r.ID)
	if len(tr) != 2 || tr[1].BytesSent != 0 || tr[1].ChunksSent != 0 || tr[0].BytesSent != first[0].BytesSent {
		t.Errorf("ledger %+v, want the first staging and a second sending nothing", tr)
	}
	// The key reaches the attempt only through its credential: the
	// manifest answers the attempt's agent with it, and nobody else.
	m, err := c.manifest(ctx, r, r.Attempts[0])
	if err != nil || len(m.Datasets) != 1 || m.Datasets[0].Name != "corpus-c" {
		t.Fatalf("manifest %+v %v", m, err)
	}
	if want, _ := keys.Get("corpus-c"); m.Datasets[0].Key != want.String() {
		t.Errorf("manifest key is not t1's key for corpus-c")
	}
	if _, err := c.Step(ctx, r.ID); err != nil { // submit
		t.Fatal(err)
	}
	c.Cancel(ctx, "t1", r.ID)
	for i := 0; i < 50 && !r.State.Final(); i++ {
		c.Step(ctx, r.ID)
		r, _ = c.Get(ctx, "t1", r.ID)
	}
	if r.State != Cancelled {
		t.Fatalf("run %s after cancel: %s", r.State, r.Reason)
	}
	e.checkSitesClean()
}

// TestDatasetStoreScope: a tenant's Dataset may name only a home store the
// server was given (Config.DatasetStores, by default the state directory's):
// the server opens that store with its own access, so a tenant naming any
// other directory or endpoint is refused when it registers or submits the
// dataset, and a dataset registered before the scope narrowed is never
// staged. Nothing is created at the foreign path.
func TestDatasetStoreScope(t *testing.T) {
	e, keys := newDataEnv(t, transfer.BasisLaw{})
	ctx := context.Background()
	foreign := filepath.Join(t.TempDir(), "not-a-home-store")
	docFor := func(name, url string) string {
		return fmt.Sprintf("apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: %s}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5, store: %q}\n", name, url)
	}
	isScopeErr := func(err error) bool {
		var ie *InputError
		return errors.As(err, &ie) && ie.Field == "spec.store" && strings.Contains(ie.Error(), "not among the home stores")
	}
	for _, url := range []string{"file://" + foreign, "file://" + filepath.Join(e.dir, "store", "..", "keyring"),
		"s3://bucket?endpoint=http://169.254.169.254&use_path_style=true"} {
		if _, err := e.c.Apply(ctx, "t1", []Document{{Name: "ds.yaml", Content: docFor("outside", url)}}, false); !isScopeErr(err) {
			t.Errorf("apply with store %s: %v, want a spec.store refusal", url, err)
		}
	}
	if rs, err := e.c.Resources(ctx, "t1"); err != nil || len(rs) != 0 {
		t.Fatalf("registered after refusals: %v %v", rs, err)
	}
	job := dataJobDoc(20, 10, []string{"outside"}, false, "")
	if _, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{job, {Name: "ds.yaml", Content: docFor("outside", "file://"+foreign)}}}); !isScopeErr(err) {
		t.Errorf("submit with a foreign store: %v, want a spec.store refusal", err)
	}

	// Inside the scope: the state directory's home store.
	inside := addDataset(t, e.dir, keys, testData{name: "inside", origin: "SG", class: catalog.ClassPublic, stored: true})
	if _, err := e.c.Apply(ctx, "t1", []Document{{Name: "ds.yaml", Content: strings.TrimPrefix(inside, "---\n")}}, false); err != nil {
		t.Fatalf("apply inside the home store: %v", err)
	}

	// Registered before the scope narrowed (written past Apply).
	d := &catalog.Dataset{APIVersion: catalog.APIVersion, Kind: catalog.KindDataset, Metadata: catalog.Metadata{Name: "legacy"},
		Spec: catalog.DatasetSpec{Origin: "SG", Classification: catalog.ClassPublic, SizeBytes: 1e5, Store: "file://" + foreign}}
	registerPastApply(t, e, d)
	if _, err := e.c.StageDataset(ctx, "t1", "legacy", StageRequest{Site: "alpha"}); !isScopeErr(err) {
		t.Errorf("staging a legacy dataset: %v, want a spec.store refusal", err)
	}
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(20, 10, []string{"legacy"}, false, "")}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Failed || !strings.Contains(r.Reason, "not among the home stores") {
		t.Errorf("run on a legacy dataset ended %s: %s, want failed naming the store", r.State, r.Reason)
	}
	if _, err := os.Stat(foreign); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the foreign store was touched: %v", err)
	}
}

// TestStageErrorFailsRun: a staging that fails for a reason of its own (not
// cut short, not refused by the law) fails the run with the error, instead
// of being taken for an interrupted one and tried again on every step. (A
// key the server does not hold holds the run instead:
// TestRunHeldWhileItsDatasetKeyIsMissing.)
func TestStageErrorFailsRun(t *testing.T) {
	e, keys := newDataEnv(t, transfer.BasisLaw{})
	ctx := context.Background()
	res := addDataset(t, e.dir, keys, testData{name: "corpus-a", origin: "SG", class: catalog.ClassPersonal, stored: true})
	// The dataset's key is another: its manifest does not authenticate
	// under it, and no later staging would read it either.
	other, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Put("corpus-a", other); err != nil {
		t.Fatal(err)
	}
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(20, 10, []string{"corpus-a"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 20*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Failed || !strings.Contains(r.Reason, "staging attempt 1 to alpha") {
		t.Fatalf("ended %s: %s, want failed by the staging error", r.State, r.Reason)
	}
}

// registerPastApply registers d for tenant t1 straight in e's store, as
// one registered before a check Apply now makes was: past Apply.
func registerPastApply(t *testing.T, e *env, d *catalog.Dataset) {
	t.Helper()
	ctx := context.Background()
	res, err := datasetResource(d)
	if err != nil {
		t.Fatal(err)
	}
	res.Tenant = "t1"
	rec, _ := audit.NewRecord(KindRegister, "", map[string]any{"kind": res.Kind, "name": res.Name})
	if _, err := e.st.PutResource(ctx, &res, 0, rec); err != nil {
		t.Fatal(err)
	}
	e.c.forgetWorlds(ctx, "t1")
}
