package run

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
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
	doc := func(store string) []Document {
		return []Document{{Name: "ds.yaml", Content: fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Dataset
metadata: {name: corpus}
spec: {origin: SG, classification: public, sizeBytes: 1000, store: %q}
`, store)}}
	}
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
