package run

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// swappingBackend is a hostile site: as each job is submitted it puts
// manifest, another genuine version of a dataset, where the staged one is.
type swappingBackend struct {
	backend.Backend
	path     string
	manifest []byte
}

func (b *swappingBackend) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	if err := os.WriteFile(b.path, b.manifest, 0o600); err != nil {
		return "", err
	}
	return b.Backend.Submit(ctx, spec)
}

// TestStagedManifestPinned: a job reads the version of a dataset staged for
// its attempt. A site that serves another genuine version in its place (an
// older staging's manifest, whose chunks it still holds) is caught: the
// agent refuses it and the run does not train on it. Before, the manifest
// authenticated and the job read the old data.
func TestStagedManifestPinned(t *testing.T) {
	ctx := context.Background()
	var old []byte
	var manifestPath string
	var keys dataset.Keyring
	e := newEnv(t, func(c *Config) {
		tk := dataset.TenantKeyrings{Root: c.StateDir}
		keys, _ = tk.For("t1")
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := backend.For(site.Spec.Backend, root)
			if err != nil {
				return nil, err
			}
			return &swappingBackend{Backend: b, path: manifestPath, manifest: old}, nil
		}
	})
	res := addDataset(t, e.dir, keys, testData{name: "corpus-a", origin: "SG", class: catalog.ClassPublic, stored: true})
	// Version 1's manifest, as a site that staged it would keep it; then
	// version 2, the same files and one more, so that version 1's chunks
	// all reach the site with version 2's.
	manifestPath = filepath.Join(e.dir, "sites", "alpha", "store", filepath.FromSlash(DataPrefix("t1")+dataset.ManifestKey("corpus-a")))
	home, err := dataset.OpenStore(ctx, "file://"+filepath.Join(e.dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	if old, err = dataset.ReadObject(ctx, home, dataset.ManifestKey("corpus-a"), dataset.MaxManifestBytes); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(e.dir, "src-corpus-a")
	if err := os.WriteFile(filepath.Join(src, "zz-more.txt"), []byte("version two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := keys.Get("corpus-a")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(key, "corpus-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.Add(ctx, dataset.AddOptions{Name: "corpus-a", Root: src, Store: home, Sealer: sealer}); err != nil {
		t.Fatal(err)
	}
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(20, 10, []string{"corpus-a"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if got, err := os.ReadFile(manifestPath); err != nil || string(got) != string(old) {
		t.Fatalf("the site did not swap the manifest (%v): the test tries nothing", err)
	}
	if r.State == Succeeded {
		t.Fatalf("the run trained on the swapped version and succeeded:\n%s", strings.Join(e.events(r.ID), "\n"))
	}
	if !strings.Contains(r.Reason+strings.Join(e.events(r.ID), "\n"), "manifest is not the version recorded") {
		t.Errorf("ended %s without naming the swapped manifest: %s\n%s", r.State, r.Reason, strings.Join(e.events(r.ID), "\n"))
	}
	t.Logf("ended %s: %s", r.State, r.Reason)
	if len(r.Attempts) == 0 || len(r.Attempts[0].Manifests["corpus-a"]) != 64 {
		t.Errorf("attempt 1 records no manifest digest: %+v", r.Attempts)
	}
}
