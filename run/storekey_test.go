package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// TestDataOwnedWhateverItsSpelling: a tenant's dataset is its store and
// name; another tenant that names the same store another way (a trailing
// "/", a doubled "/", a ".") is refused as one naming it the same way is.
// The spelling was compared as written, so another tenant could register
// the same data under each spelling it liked.
func TestDataOwnedWhateverItsSpelling(t *testing.T) {
	root := t.TempDir()
	e := newEnv(t, func(c *Config) { c.DatasetStores = []string{"file://" + root} })
	ctx := context.Background()
	doc := corpusInStore
	if _, err := e.c.Apply(ctx, "t1", doc("file://"+root+"/shared"), false); err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{"/shared", "/shared/", "//shared", "/shared/.", "/other/../shared"} {
		_, err := e.c.Apply(ctx, "t2", doc("file://"+root+spelling), false)
		if err == nil || !strings.Contains(err.Error(), "registered already") {
			t.Errorf("another tenant registering %s: %v, want a conflict", spelling, err)
		}
	}
}

// TestCatalogHasExtraSites: the sites tenants are shown (GET
// /v1/catalog/sites, the console's map) include the server's extra sites
// (serve's local site), where plans place runs too; they were left out, and
// asking for the local site by name answered 404.
func TestCatalogHasExtraSites(t *testing.T) {
	set, err := catalog.Decode("local.yaml", []byte(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: local}
spec:
  country: SG
  location: {lat: 1.3, lon: 103.8}
  operator: {name: this-machine, headquarters: SG}
  pools: [{accelerator: nvidia-h100-sxm, count: 1, available: 1, pricePerHour: 0}]
  network: {egressPerGB: 0, gbps: 1}
  backend: {type: local}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.ExtraSites = set.Sites })
	sites, err := e.c.Sites()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sites {
		names = append(names, s.Metadata.Name)
	}
	if !slices.Contains(names, "local") || !slices.Contains(names, "alpha") {
		t.Errorf("sites %v, want the catalog's and local", names)
	}
	if s, err := e.c.Site("local"); err != nil || s.Spec.Country != "SG" {
		t.Errorf("site local: %+v %v", s, err)
	}
}

// wholeReads counts the store's reads of whole runs, documents and all,
// in n, and, when v is set, of their owner and version in v. With
// notLoop, the reads under the controller loop's fenced context (its
// steps, law checks and sweeps) are not counted: only those of the
// requests a test makes.
type wholeReads struct {
	store.Store
	n, v    *atomic.Int64
	notLoop bool
}

func (w wholeReads) RunVersionOf(ctx context.Context, id string) (string, int64, error) {
	if w.v != nil {
		w.v.Add(1)
	}
	return w.Store.RunVersionOf(ctx, id)
}

func (w wholeReads) GetRun(ctx context.Context, id string) (*store.Run, error) {
	if _, fenced := store.FenceOf(ctx); !w.notLoop || !fenced {
		w.n.Add(1)
	}
	return w.Store.GetRun(ctx, id)
}

// TestTimelineAndLogsReadNoDocuments: a run's timeline and output, which a
// followed stream asks for every second, read the run whole (its
// documents may be megabytes) once a version, and otherwise only its
// version; the run itself still has its documents.
func TestTimelineAndLogsReadNoDocuments(t *testing.T) {
	var whole atomic.Int64
	// The loop's own reads are not the reads under test: a step of the
	// run that the loop listed just before the run ended (or the step
	// after the one that ended it) reads it whole once more, as it
	// reads any run it steps, after the test saw the end.
	e := newEnv(t, func(c *Config) { c.Store = wholeReads{Store: c.Store, n: &whole, notLoop: true} })
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(20, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	// The run may still be written after its end (its attempt cleaned
	// up): each version it has while read may be read whole once.
	versions := map[int64]bool{}
	seen := func() {
		if _, v, err := e.st.RunVersionOf(ctx, r.ID); err == nil {
			versions[v] = true
		}
	}
	before := whole.Load()
	for range 10 {
		seen()
		if _, err := e.c.EventsAfter(ctx, "t1", r.ID, 0, 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.c.LogsFrom(ctx, "t1", r.ID, 0, 1<<20); err != nil {
			t.Fatal(err)
		}
		if b, err := e.c.Brief(ctx, "t1", r.ID); err != nil || len(b.Documents) != 0 || b.State != Succeeded {
			t.Fatalf("brief: %+v %v", b, err)
		}
	}
	if _, err := e.c.Brief(ctx, "t2", r.ID); err != ErrNotFound {
		t.Errorf("another tenant's brief read: %v, want ErrNotFound", err)
	}
	seen()
	if n := whole.Load() - before; n > int64(len(versions)) {
		t.Errorf("30 reads of the timeline and output read the run whole %d times, over its %d versions meanwhile; want once a version", n, len(versions))
	}
	if got, err := e.c.Get(ctx, "t1", r.ID); err != nil || len(got.Documents) == 0 {
		t.Errorf("the run itself lost its documents: %v", err)
	}
}

// TestBriefsKeptPastTheirBound: with more runs followed than Brief keeps
// (maxBriefs), read in turn as streams poll them, most reads still find
// their run kept: one run makes room for another, where the whole cache
// was emptied and nearly every read was a whole one.
func TestBriefsKeptPastTheirBound(t *testing.T) {
	ctx := context.Background()
	st, dir := testStore(t)
	var whole atomic.Int64
	c := New(Config{Store: wholeReads{Store: st, n: &whole}, StateDir: dir, CatalogDir: "testdata/sites"})
	const runs, rounds = maxBriefs + 76, 6
	for i := range runs {
		row := &store.Run{ID: fmt.Sprintf("r%d", i), Tenant: "t1", Job: "j", State: string(Running),
			Data: []byte(`{"documents":[{"name":"job.yaml","content":"x"}],"asOf":"2026-12-01","attempts":[{"n":1,"site":"alpha"}]}`)}
		if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	var reads, whole0 int64
	for round := range rounds {
		if round == 2 { // the first rounds fill the cache
			whole0 = whole.Load()
		}
		for i := range runs {
			if b, err := c.Brief(ctx, "t1", fmt.Sprintf("r%d", i)); err != nil || b.ID != fmt.Sprintf("r%d", i) {
				t.Fatalf("brief r%d: %v", i, err)
			}
			if round >= 2 {
				reads++
			}
		}
	}
	missed := whole.Load() - whole0
	if hit := 1 - float64(missed)/float64(reads); hit < 0.7 {
		t.Errorf("%d runs briefed in turn: %d of %d reads read the run whole (%.0f%% kept), want at least 70%% kept", runs, missed, reads, 100*hit)
	}
	c.mu.Lock()
	n := len(c.briefs)
	c.mu.Unlock()
	if n > maxBriefs {
		t.Errorf("%d runs kept, want at most %d", n, maxBriefs)
	}
}

// BenchmarkBrief: a run with 4 MiB of documents, read as GET
// /v1/runs/{id} reads it (whole) and as a followed stream reads it at every
// poll (Brief: its version, then the run only when it changed).
func BenchmarkBrief(b *testing.B) {
	ctx := context.Background()
	st, dir := testStore(b)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites"})
	doc := strings.Repeat("x", 4<<20)
	row := &store.Run{ID: "r1", Tenant: "t1", Job: "j", State: string(Running),
		Data: []byte(`{"documents":[{"name":"job.yaml","content":"` + doc + `"}],"asOf":"2026-12-01","attempts":[{"n":1,"site":"alpha"}]}`)}
	if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
		b.Fatal(err)
	}
	for _, brief := range []bool{false, true} {
		b.Run(fmt.Sprintf("brief=%v", brief), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				get := c.Get
				if brief {
					get = c.Brief
				}
				if _, err := get(ctx, "t1", "r1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestVerifyHoldsSiteToStagedVersion: the server's verification of a
// staged dataset holds the site to the version its ledger says the last
// staging put there: a host that puts back the version before it (a
// genuine manifest whose chunks are there and authenticate) is reported
// replaced, where every chunk read good.
func TestVerifyHoldsSiteToStagedVersion(t *testing.T) {
	e, _ := lawEnv(t, nil)
	ctx := context.Background()
	stageCorpus(t, e.c, e.dir)
	site, err := e.c.Site("alpha")
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(strings.TrimPrefix(e.c.SiteStore(site), "file://"), filepath.FromSlash(DataPrefix("t1")+dataset.ManifestKey("corpus")))
	first, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	// A second version at home, staged.
	keys, err := dataset.TenantKeyrings{Root: e.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(e.dir, "src-corpus")
	if err := os.WriteFile(filepath.Join(src, "added.txt"), []byte("the second version\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := keys.GetOrCreate("corpus")
	sealer, _ := seal.New(key, "corpus")
	home, err := dataset.OpenStore(ctx, "file://"+filepath.Join(e.dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.Add(ctx, dataset.AddOptions{Name: "corpus", Root: src, Store: home, Sealer: sealer}); err != nil {
		t.Fatal(err)
	}
	home.Close()
	if _, err := e.c.StageDataset(ctx, "t1", "corpus", StageRequest{Site: "alpha", Organization: "lab"}); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.c.VerifyDataset(ctx, "t1", "corpus", "alpha"); err != nil || !rep.Good() {
		t.Fatalf("the staged version: %+v %v", rep, err)
	}
	if err := os.WriteFile(manifest, first, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := e.c.VerifyDataset(ctx, "t1", "corpus", "alpha")
	if err != nil || rep.Good() || rep.ManifestReplaced == "" {
		t.Errorf("a site that holds the version before: %+v %v", rep, err)
	}
}

// TestRunWithoutHorizonGetsOne: a live run with no horizon (its move could
// not compute one, the ledger unreadable for a moment) has it computed
// again by the controller's next look at it: without one, a run went on
// past the end of its own organisation's licence, a day no law check
// covers.
func TestRunWithoutHorizonGetsOne(t *testing.T) {
	e, _ := lawEnv(t, nil)
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 1000)}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("running", 30*time.Second, func(r *Run) bool { return r.State == Running }, r.ID)
	if _, err := e.c.update(ctx, r.ID, func(r *Run, ch *store.Change) error { r.Law = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	got := e.waitFor("a horizon again", 30*time.Second, func(r *Run) bool { return r.Law != nil }, r.ID)
	if got.Law.CheckedOn == "" || got.State != Running {
		t.Errorf("horizon %+v, state %s", got.Law, got.State)
	}
	e.c.Cancel(ctx, "t1", r.ID)
}

// TestRelativeFileStoreRefused: a Dataset whose spec.store is a file URL
// that does not name its directory absolutely is refused, naming the
// field, whether registered or sent with a run. The server found a
// relative directory from the one it was started in, and keyed the data
// by that: the document's writer meant another place, and after a start
// elsewhere the rows' keys named a directory no longer opened, leaving the
// one opened free for another tenant to register.
func TestRelativeFileStoreRefused(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.DatasetStores = []string{"file://" + wd} })
	ctx := context.Background()
	doc := corpusInStore
	refused := func(err error) bool {
		var ie *InputError
		return errors.As(err, &ie) && ie.Field == "spec.store" && strings.Contains(ie.Error(), "not an absolute directory")
	}
	for _, s := range []string{"file://./testdata", "file://testdata/sites", "file:testdata", "file://./"} {
		if _, err := e.c.Apply(ctx, "t1", doc(s), false); !refused(err) {
			t.Errorf("registering store %s: %v, want a spec.store refusal", s, err)
		}
		job := dataJobDoc(20, 10, []string{"corpus"}, false, "")
		if _, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: append(doc(s), job)}); !refused(err) {
			t.Errorf("submitting with store %s: %v, want a spec.store refusal", s, err)
		}
	}
	if rs, err := e.c.Resources(ctx, "t1"); err != nil || len(rs) != 0 {
		t.Fatalf("registered after refusals: %v %v", rs, err)
	}
	// Named absolutely, the same directory registers.
	if _, err := e.c.Apply(ctx, "t1", doc("file://"+filepath.Join(wd, "testdata")), false); err != nil {
		t.Fatalf("registering the directory named absolutely: %v", err)
	}
}

// corpusInStore is the public dataset "corpus", from SG, whose home is
// store: the documents of an apply.
func corpusInStore(store string) []Document {
	return []Document{{Name: "ds.yaml", Content: fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Dataset
metadata: {name: corpus}
spec: {origin: SG, classification: public, sizeBytes: 1000, store: %q}
`, store)}}
}
