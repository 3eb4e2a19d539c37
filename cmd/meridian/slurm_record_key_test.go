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

// TestCatalogCheckMakesASiteKeyedSlurmBackend: a Slurm site whose
// backend.recordKeyFile names its own key needs a key file of the
// server's settings too, beside which its backend keeps its log of
// retires (out of the site's directory, which its workloads write).
// catalog check, which makes the backend outside the server, gives it one
// of its own, beside the check's throwaway state directory: the site is
// checked, not refused for want of it.
func TestCatalogCheckMakesASiteKeyedSlurmBackend(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "settings", "site.key")
	if err := os.MkdirAll(filepath.Dir(key), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := catalog.BackendSpec{Type: catalog.BackendSlurm, RecordKeyFile: key}
	state := filepath.Join(dir, "check", "0")
	if _, err := checkBackends(state).For(spec, state); err != nil {
		t.Fatalf("the backend of a site with its own record key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(state, "slurm-retired")); !os.IsNotExist(err) {
		t.Errorf("a log of retires in the site's state directory: %v", err)
	}
}
