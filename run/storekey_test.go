package run

import (
	"context"
	"fmt"
	"strings"
	"testing"
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
