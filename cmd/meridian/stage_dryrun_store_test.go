package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDatasetStageDryRunRefusesDatasetWithoutStore: the CLI's dry run of
// dataset stage said "would be allowed" of a dataset declared without
// spec.store, which the staging then refuses (there is nothing to copy);
// the server's dry run already made the staging's check. The dry run, and
// the staging, now refuse it as bad input, naming the dataset and the
// field, and say nothing would be allowed.
func TestDatasetStageDryRunRefusesDatasetWithoutStore(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	_, siteFile, _ := publicDatasetAndSite(t)
	declared := filepath.Join(t.TempDir(), "declared.yaml")
	if err := os.WriteFile(declared, []byte(`apiVersion: meridian.dev/v1alpha1
kind: Dataset
metadata: {name: declared}
spec: {origin: SG, classification: public, sizeBytes: 1000}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--dry-run"}, nil} {
		out, err := runCLI(t, append([]string{"dataset", "stage", "declared", "--to", "test-site", "-f", siteFile, "-f", declared}, args...)...)
		if err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), `dataset "declared": no spec.store`) || strings.Contains(out, "would be allowed") {
			t.Errorf("dataset stage %v of a dataset without spec.store: %v, want it refused (exit %d) naming the dataset and spec.store\n%s", args, err, exitBadInput, out)
		}
	}
	// A stored dataset's dry run is as before.
	if out, err := runCLI(t, "dataset", "stage", "pub", "--to", "test-site", "-f", siteFile, "--dry-run"); err != nil || !strings.Contains(out, "would be allowed") {
		t.Errorf("dry run of a stored dataset: %v\n%s", err, out)
	}
}
