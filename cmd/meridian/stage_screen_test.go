package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDatasetStageScreensTheOrganisation: once a screening list is
// imported into the state directory, `dataset stage` screens the exporting
// organisation as `plan` and the server do. An organisation whose match
// awaits a person's decision moves no data, dry run or not, and stages
// once a person dismisses the match.
func TestDatasetStageScreensTheOrganisation(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte(strings.Repeat("record\n", 1000)), 0o644)
	siteStore := filepath.Join(dir, "sitestore")
	siteFile := testSiteFile(t, dir, "file://"+siteStore)
	// The fixture's Entity List entry e1003 is "Examplar Lab GmbH" in DE:
	// the same legal name headquartered in CN is a possible match, which
	// leaves the organisation undetermined until a person decides.
	orgFile := filepath.Join(dir, "org.yaml")
	os.WriteFile(orgFile, []byte("apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: exemplar}\nspec: {headquarters: CN, legalName: \"Exemplar Lab GmbH\"}\n"), 0o644)

	if _, err := runCLI(t, "dataset", "add", "logs", "--from", src, "--origin", "CN", "--classification", "personal",
		"--subjects", "200000", "--basis", "cn-standard-contract"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "screen", "import", filepath.Join("..", "..", "screen", "testdata", "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}

	out, err := runCLI(t, "dataset", "stage", "logs", "--to", "test-site", "-f", siteFile, "-f", orgFile, "--org", "exemplar", "--dry-run")
	if !isCode(err, exitNoPlacement) || !strings.Contains(out, "would be refused") || !strings.Contains(out, "restricted-party status is undetermined") {
		t.Fatalf("dry run for an undetermined organisation: %v\n%s", err, out)
	}
	// Each denial names its rule once, as a staging's refusal does.
	if strings.Contains(out, "meridian-fail-closed: meridian-fail-closed:") {
		t.Errorf("the dry run names the rule twice:\n%s", out)
	}
	_, err = runCLI(t, "dataset", "stage", "logs", "--to", "test-site", "-f", siteFile, "-f", orgFile, "--org", "exemplar")
	if !isCode(err, exitNoPlacement) || !strings.Contains(err.Error(), "restricted-party status is undetermined") || !strings.Contains(err.Error(), "Examplar Lab GmbH") {
		t.Fatalf("stage for an undetermined organisation: %v", err)
	}
	if _, err := os.Stat(siteStore); err == nil {
		t.Fatal("the site's store was written for an organisation the screening holds undetermined")
	}

	if _, err := runCLI(t, "screen", "dismiss", "exemplar", "e1003", "-f", orgFile, "--by", "a.person", "--reason", "a different company"); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "dataset", "stage", "logs", "--to", "test-site", "-f", siteFile, "-f", orgFile, "--org", "exemplar")
	if err != nil || !strings.Contains(out, "staged logs to test-site") {
		t.Fatalf("stage after the match was dismissed: %v\n%s", err, out)
	}
}
