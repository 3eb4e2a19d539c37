package main

import (
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// TestSlurmRecordKeyInServerSettings: a Slurm site's backend kept nothing
// outside its own directory (sites/NAME), which the cluster's nodes
// write: a workload could write the records naming the server's jobs. The
// server now gives it a key of its own state directory to sign them with,
// made 0600 on first use, and none is made in the site's directory.
func TestSlurmRecordKeyInServerSettings(t *testing.T) {
	state := t.TempDir()
	site := &catalog.Site{Metadata: catalog.Metadata{Name: "s1"}}
	site.Spec.Backend = catalog.BackendSpec{Type: catalog.BackendSlurm}
	root := filepath.Join(state, "sites", "s1")
	if _, err := backendsFor(0, state, nil)(site, root); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(state, slurmRecordKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the server's Slurm record key: %v, %v; want a file of mode 0600", fi, err)
	}
	if _, err := os.Stat(filepath.Join(root, slurm.DefaultRecordKeyFile)); !os.IsNotExist(err) {
		t.Errorf("a record key in the site's directory, which the cluster's nodes write: %v", err)
	}
}
