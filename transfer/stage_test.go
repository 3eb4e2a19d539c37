package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/tinyfs"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/seal"
)

// fixture is an owner with one dataset in a home store and a site store.
type fixture struct {
	src      string
	home     string // home store URL
	siteDir  string
	keys     dataset.Keyring
	ds       *catalog.Dataset
	site     *catalog.Site
	ledger   *FileLedger
	manifest *dataset.Manifest
}

func writeRandom(t testing.TB, p string, size int, seed uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	rand.NewChaCha8(s).Read(b)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func newFixture(t testing.TB, files, size int, siteStore string) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		src:     filepath.Join(dir, "src"),
		home:    "file://" + filepath.Join(dir, "home"),
		siteDir: filepath.Join(dir, "site"),
		keys:    dataset.Keyring{Dir: filepath.Join(dir, "keyring")},
		ledger:  &FileLedger{Path: filepath.Join(dir, "ledger.jsonl")},
	}
	for i := range files {
		writeRandom(t, filepath.Join(f.src, "shard-"+strings.Repeat("0", 3-len(itoa(i)))+itoa(i)), size, uint64(i+1))
	}
	if siteStore == "" {
		siteStore = "file://" + f.siteDir
	}
	f.ds = &catalog.Dataset{Metadata: catalog.Metadata{Name: "chat-logs"}, Spec: catalog.DatasetSpec{
		Origin: "CN", Classification: catalog.ClassPersonal, Subjects: 1000,
		TransferBases: []string{"cn-standard-contract"}, Store: f.home}}
	f.site = &catalog.Site{Metadata: catalog.Metadata{Name: "my-johor-1"}, Spec: catalog.SiteSpec{Country: "MY", Store: siteStore}}
	f.add(t)
	return f
}

func itoa(i int) string {
	s := ""
	for {
		s = string(rune('0'+i%10)) + s
		i /= 10
		if i == 0 {
			return s
		}
	}
}

func (f *fixture) add(t testing.TB) *dataset.AddResult {
	t.Helper()
	ctx := context.Background()
	key, err := f.keys.GetOrCreate(f.ds.Metadata.Name)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := seal.New(key, f.ds.Metadata.Name)
	st, err := dataset.OpenStore(ctx, f.home)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := dataset.Add(ctx, dataset.AddOptions{Name: f.ds.Metadata.Name, Root: f.src, Store: st, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	f.manifest = res.Manifest
	return res
}

// oneKeyring serves one keyring for every tenant, for tests of the stager
// alone (the run controller's tests cover tenants' keyrings).
type oneKeyring struct{ dataset.Keyring }

func (k oneKeyring) Get(_, name string) (seal.Key, error) { return k.Keyring.Get(name) }

// testDay is the clock's date in these tests.
var testDay = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

func (f *fixture) stager() *Stager {
	return &Stager{Law: BasisLaw{}, Ledger: f.ledger, Keys: oneKeyring{f.keys}, Workers: 3, Now: func() time.Time { return testDay }}
}

func (f *fixture) request() Request {
	return Request{Dataset: f.ds, Site: f.site, Query: policy.Query{AsOf: catalog.MustDate("2026-01-15")}, RunID: "run-1"}
}

func (f *fixture) verifyAtSite(t *testing.T) *dataset.VerifyReport {
	t.Helper()
	ctx := context.Background()
	key, _ := f.keys.Get(f.ds.Metadata.Name)
	s, _ := seal.New(key, f.ds.Metadata.Name)
	st, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := dataset.Verify(ctx, st, s, f.ds.Metadata.Name, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// strayFiles lists files in dir that are neither a chunk nor a manifest.
func strayFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == dataset.ManifestKey("chat-logs") {
			return nil
		}
		if rest, ok := strings.CutPrefix(rel, dataset.ChunkPrefix("chat-logs")); ok && len(rest) == 67 {
			return nil
		}
		out = append(out, rel)
		return nil
	})
	return out
}

func TestStageDeniedTouchesNothing(t *testing.T) {
	f := newFixture(t, 2, 10<<10, "")
	f.ds.Spec.TransferBases = nil
	_, err := f.stager().Stage(context.Background(), f.request())
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("Stage: %v, want *DeniedError", err)
	}
	if len(de.Denials) != 1 || de.Denials[0].Rule != RuleBasis || de.Denials[0].Source == "" {
		t.Fatalf("denials = %+v", de.Denials)
	}
	if msg := err.Error(); !strings.Contains(msg, "rule "+RuleBasis) || !strings.Contains(msg, "CN to MY") {
		t.Fatalf("message %q lacks rule or countries", msg)
	}
	if _, err := os.Stat(f.siteDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("site store touched after a denial: %v", err)
	}
	if _, ents, _ := ReadFileLedger(f.ledger.Path, ""); len(ents) != 0 {
		t.Fatalf("ledger has %d entries after a denial", len(ents))
	}
}

// failClosedLaw allows nothing and gives no reason, like a broken engine.
type failClosedLaw struct{}

func (failClosedLaw) EvaluateTransfer(policy.Query, *catalog.Dataset, string) policy.Decision {
	return policy.Decision{}
}

func TestStageFailsClosedWithoutReasons(t *testing.T) {
	f := newFixture(t, 1, 1000, "")
	st := f.stager()
	st.Law = failClosedLaw{}
	_, err := st.Stage(context.Background(), f.request())
	var de *DeniedError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "failing closed") {
		t.Fatalf("Stage: %v", err)
	}
}

func TestStageThenRestageSendsNothing(t *testing.T) {
	f := newFixture(t, 6, 700<<10, "")
	ctx := context.Background()
	st := f.stager()
	r1, err := st.Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	chunks := f.manifest.UniqueChunks()
	var sealedTotal int64
	for _, c := range chunks {
		sealedTotal += int64(seal.SealedSize(int(c.Size)))
	}
	mfst := manifestBytes(t, f)
	// The manifest that crossed is the home's, byte for byte.
	sum := sha256.Sum256(homeManifest(t, f))
	pin := hex.EncodeToString(sum[:])
	want := Entry{Kind: KindDataset, Dataset: "chat-logs", Site: "my-johor-1", From: "CN", To: "MY", Basis: "cn-standard-contract",
		Rules: []string{}, AsOf: "2026-01-15", RunID: "run-1", Chunks: len(chunks), ChunksSent: len(chunks),
		Bytes: 6 * 700 << 10, BytesSent: sealedTotal + mfst, Complete: true,
		Totals: &Totals{ChunksSent: len(chunks), BytesSent: sealedTotal + mfst}, ManifestSHA256: pin,
		Origin: "CN", Classification: "personal", Subjects: 1000, Registration: f.staged()}
	if d := cmp.Diff(want, r1.Entry, cmpopts.IgnoreFields(Entry{}, "Staging")); d != "" {
		t.Fatalf("first stage (-want +got):\n%s", d)
	}
	if rep := f.verifyAtSite(t); !rep.Good() || rep.OK != len(chunks) {
		t.Fatalf("verify at site: %+v", rep)
	}
	r2, err := f.stager().Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	if r2.ChunksSent != 0 || r2.BytesSent != 0 || r2.Skipped != len(chunks) {
		t.Fatalf("restage sent %d chunks, %d bytes (skipped %d)", r2.ChunksSent, r2.BytesSent, r2.Skipped)
	}
	// The ledger confirms exactly the bytes at the site: every chunk once,
	// the manifest once; the second staging confirmed nothing.
	sums, err := Summarize(ctx, f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].BytesConfirmed != sealedTotal+mfst || sums[0].ChunksSent != len(chunks) || sums[0].OpenIntents != 0 {
		t.Fatalf("ledger totals %+v, want %d chunks, %d bytes, no open intent", sums, len(chunks), sealedTotal+mfst)
	}
	_, ents, err := ReadFileLedger(f.ledger.Path, "chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	if last := ents[len(ents)-1]; !last.Complete || last.Totals == nil || last.Totals.BytesSent != 0 || last.Totals.Skipped != len(chunks) || last.ManifestSHA256 != pin {
		t.Fatalf("second staging's record %+v, want complete with nothing sent", last)
	}
	if _, other, _ := ReadFileLedger(f.ledger.Path, "other"); len(other) != 0 {
		t.Fatalf("ledger filter returned %d entries for another dataset", len(other))
	}
}

func TestStageOnePercentChangeSendsAboutOnePercent(t *testing.T) {
	f := newFixture(t, 100, 1<<20, "")
	ctx := context.Background()
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	// Rewrite one file of the hundred, then add and stage again.
	writeRandom(t, filepath.Join(f.src, "shard-042"), 1<<20, 9999)
	f.add(t)
	r, err := f.stager().Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	frac := float64(r.BytesSent) / float64(r.Bytes)
	if frac < 0.005 || frac > 0.02 {
		t.Fatalf("changing 1%% of files sent %.2f%% of the bytes (%d of %d)", 100*frac, r.BytesSent, r.Bytes)
	}
	if rep := f.verifyAtSite(t); !rep.Good() {
		t.Fatalf("verify at site: %+v", rep)
	}
}

// cancelAfter cancels a context once n chunks have been sent.
type cancelAfter struct {
	n      int64
	seen   atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Start(string, int64) {}
func (c *cancelAfter) Done()               {}
func (c *cancelAfter) Add(int64) {
	if c.seen.Add(1) == c.n {
		c.cancel()
	}
}

func TestStageResumesAfterInterrupt(t *testing.T) {
	f := newFixture(t, 12, 900<<10, "")
	total := len(f.manifest.UniqueChunks())
	ctx, cancel := context.WithCancel(context.Background())
	st := f.stager()
	st.Workers = 1
	st.Progress = &cancelAfter{n: 3, cancel: cancel}
	if _, err := st.Stage(ctx, f.request()); err == nil {
		t.Fatal("interrupted Stage returned no error")
	}
	if _, err := os.Stat(filepath.Join(f.siteDir, filepath.FromSlash(dataset.ManifestKey("chat-logs")))); err == nil {
		t.Fatal("manifest written by an interrupted stage")
	}
	if s := strayFiles(t, f.siteDir); len(s) > 0 {
		t.Fatalf("partial files visible after interrupt: %v", s)
	}
	key, _ := f.keys.Get("chat-logs")
	sealer, _ := seal.New(key, "chat-logs")
	site, _ := dataset.OpenStore(context.Background(), f.site.Spec.Store)
	before, _ := dataset.ListChunks(context.Background(), site, "chat-logs")
	site.Close()
	if len(before) < 3 || len(before) >= total {
		t.Fatalf("after interrupt %d of %d chunks at site; want some but not all", len(before), total)
	}
	_ = sealer
	r, err := f.stager().Stage(context.Background(), f.request())
	if err != nil {
		t.Fatal(err)
	}
	if r.ChunksSent != total-len(before) {
		t.Fatalf("resume sent %d chunks, want %d (total %d, already there %d)", r.ChunksSent, total-len(before), total, len(before))
	}
	if rep := f.verifyAtSite(t); !rep.Good() || rep.OK != total {
		t.Fatalf("verify after resume: %+v", rep)
	}
}

func TestStageRefusesAlteredOrTruncatedSource(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"altered", func(b []byte) []byte { b[len(b)/3] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-7] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 1, 100<<10, "")
			c := f.manifest.UniqueChunks()[0]
			p := filepath.Join(strings.TrimPrefix(f.home, "file://"), filepath.FromSlash(dataset.ChunkKey("chat-logs", c.ID)))
			data, _ := os.ReadFile(p)
			os.WriteFile(p, tc.damage(data), 0o644)
			_, err := f.stager().Stage(context.Background(), f.request())
			if !errors.Is(err, seal.ErrAuth) || !strings.Contains(err.Error(), c.ID.String()) {
				t.Fatalf("Stage: %v; want an authentication error naming chunk %s", err, c.ID)
			}
			if n := len(strayFiles(t, f.siteDir)); n != 0 {
				t.Fatalf("%d stray files at site", n)
			}
			site, _ := dataset.OpenStore(context.Background(), f.site.Spec.Store)
			defer site.Close()
			if have, _ := dataset.ListChunks(context.Background(), site, "chat-logs"); len(have) != 0 {
				t.Fatalf("damaged chunk copied to the site")
			}
		})
	}
}

func TestStageWrongKeyRefused(t *testing.T) {
	f := newFixture(t, 1, 1000, "")
	other := dataset.Keyring{Dir: filepath.Join(t.TempDir(), "other")}
	other.GetOrCreate("chat-logs")
	st := f.stager()
	st.Keys = oneKeyring{other}
	_, err := st.Stage(context.Background(), f.request())
	if !errors.Is(err, dataset.ErrManifestAuth) {
		t.Fatalf("Stage with the wrong key: %v", err)
	}
}

// TestStageFullDisk stages onto a 1 MiB tmpfs: the copy must fail with the
// disk's error and leave no partial chunk and no manifest.
func TestStageFullDisk(t *testing.T) {
	dir := tinyfs.Mount(t, "1m")
	f := newFixture(t, 4, 700<<10, "file://"+dir)
	_, err := f.stager().Stage(context.Background(), f.request())
	if !errors.Is(err, syscall.ENOSPC) && !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Stage to a full disk: %v; want no space left on device", err)
	}
	if s := strayFiles(t, dir); len(s) != 0 {
		t.Fatalf("partial files left on the full disk: %v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(dataset.ManifestKey("chat-logs")))); err == nil {
		t.Fatal("manifest written to a full disk")
	}
	// Whatever chunks did land are whole and genuine.
	if rep := f.verifyPresent(t); rep != "" {
		t.Fatal(rep)
	}
}

// verifyPresent authenticates every chunk present at the site and describes the first bad one.
func (f *fixture) verifyPresent(t *testing.T) string {
	ctx := context.Background()
	key, _ := f.keys.Get("chat-logs")
	s, _ := seal.New(key, "chat-logs")
	st, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	have, _ := dataset.ListChunks(ctx, st, "chat-logs")
	for _, c := range f.manifest.UniqueChunks() {
		if _, ok := have[c.ID]; ok {
			if _, err := dataset.ReadChunk(ctx, st, s, "chat-logs", c, nil); err != nil {
				return err.Error()
			}
		}
	}
	return ""
}

// TestStageS3 stages to a real S3-compatible server (versitygw) started by
// scripts/s3-up.sh, which exports MERIDIAN_TEST_S3_URL and credentials.
func TestStageS3(t *testing.T) {
	url := os.Getenv("MERIDIAN_TEST_S3_URL")
	if url == "" {
		t.Skip("MERIDIAN_TEST_S3_URL not set: run scripts/s3-up.sh (scripts/test.sh does)")
	}
	f := newFixture(t, 5, 800<<10, url)
	ctx := context.Background()
	st := f.stager()
	r, err := st.Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	if r.ChunksSent == 0 {
		// The bucket may hold a previous run's chunks under the same name only
		// with a different key; ids are keyed, so they never match.
		t.Fatalf("nothing sent to a fresh bucket prefix: %+v", r.Entry)
	}
	if rep := f.verifyAtSite(t); !rep.Good() || rep.OK != r.Chunks {
		t.Fatalf("verify on S3: %+v", rep)
	}
	r2, err := f.stager().Stage(ctx, f.request())
	if err != nil || r2.ChunksSent != 0 {
		t.Fatalf("restage to S3: %v, sent %d", err, r2.ChunksSent)
	}
	// Unseal from S3 gives back the source bytes.
	key, _ := f.keys.Get("chat-logs")
	s, _ := seal.New(key, "chat-logs")
	store, _ := dataset.OpenStore(ctx, url)
	defer store.Close()
	out := filepath.Join(t.TempDir(), "out")
	if _, err := dataset.UnsealDir(ctx, store, s, "chat-logs", out); err != nil {
		t.Fatal(err)
	}
	for _, fl := range f.manifest.Files {
		a, _ := os.ReadFile(filepath.Join(f.src, fl.Path))
		b, _ := os.ReadFile(filepath.Join(out, fl.Path))
		if string(a) != string(b) {
			t.Fatalf("%s differs after S3 round trip", fl.Path)
		}
	}
	// Clean up our objects.
	for _, c := range f.manifest.UniqueChunks() {
		store.Delete(ctx, dataset.ChunkKey("chat-logs", c.ID))
	}
	store.Delete(ctx, dataset.ManifestKey("chat-logs"))
}

// manifestBytes is the size of the fixture's sealed manifest.
func manifestBytes(t *testing.T, f *fixture) int64 {
	t.Helper()
	return int64(len(homeManifest(t, f)))
}

// homeManifest is the stored form of f's dataset's manifest at its home.
func homeManifest(t *testing.T, f *fixture) []byte {
	t.Helper()
	st, err := dataset.OpenStore(context.Background(), f.home)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := dataset.ReadObject(context.Background(), st, dataset.ManifestKey(f.ds.Metadata.Name), dataset.MaxManifestBytes)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
