package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stageRuleDir writes a rule pack of one transfer rule that denies when
// condition holds, in force from the date from, into a directory of its
// own, and returns the directory (for --rules).
func stageRuleDir(t *testing.T, id, from, condition string) string {
	t.Helper()
	dir := t.TempDir()
	pack := `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: ` + id + `}
rules:
  - id: ` + id + `
    title: "test rule"
    jurisdiction: ORG
    kind: data-transfer
    scope: transfer
    effect: deny
    effectiveFrom: ` + from + `
    enforcement: in-force
    confidence: confirmed
    sources: ["test pack"]
    message: dataset {dataset.name} would move to {transfer.to}
    condition: "` + condition + `"
`
	if err := os.WriteFile(filepath.Join(dir, id+".yaml"), []byte(pack), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDatasetStageDryRunJudgesLikeTheStaging: a dry run of dataset stage
// for today asked the law on the UTC day about the dataset as declared,
// while the staging itself asks on every date it is somewhere on Earth
// (a rule in force from tomorrow already holds east of UTC from 10:00
// UTC). The dry run said "would be allowed" of a staging that is refused.
// It now judges as the staging does; a dry run asked about another date
// (--as-of) judges that date.
func TestDatasetStageDryRunJudgesLikeTheStaging(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	_, siteFile, _ := publicDatasetAndSite(t)
	defer func(f func() time.Time) { stageNow = f }(stageNow)
	// 11:00 UTC on 10 June: the 11th has begun east of UTC+13.
	stageNow = func() time.Time { return time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC) }
	dry := func(args ...string) (string, error) {
		return runCLI(t, append([]string{"dataset", "stage", "pub", "--to", "test-site", "-f", siteFile, "--dry-run"}, args...)...)
	}
	refused := func(what, rule string, out string, err error) {
		t.Helper()
		var ce *codeError
		if !errors.As(err, &ce) || ce.code != exitNoPlacement || !strings.Contains(out, "would be refused") || !strings.Contains(out, rule) {
			t.Errorf("%s: %v, want it refused by %s (exit %d)\n%s", what, err, rule, exitNoPlacement, out)
		}
	}

	t.Run("a rule in force from a day begun east of UTC", func(t *testing.T) {
		rules := stageRuleDir(t, "test-no-my-from-june-11", "2026-06-11", "transfer.to == 'MY'")
		out, err := dry("--rules", rules)
		refused("a dry run for today at 11:00 UTC, the rule's day begun east of UTC", "test-no-my-from-june-11", out, err)
		if !strings.Contains(out, "as of 2026-06-11") {
			t.Errorf("the dry run does not name the day that refused:\n%s", out)
		}
		// Asked about the 10th itself, the rule is not in force.
		if out, err := dry("--rules", rules, "--as-of", "2026-06-10"); err != nil || !strings.Contains(out, "would be allowed") {
			t.Errorf("--as-of 2026-06-10: %v\n%s", err, out)
		}
		// At 09:00 UTC the 11th has begun nowhere.
		stageNow = func() time.Time { return time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC) }
		defer func() { stageNow = func() time.Time { return time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC) } }()
		if out, err := dry("--rules", rules); err != nil || !strings.Contains(out, "would be allowed") {
			t.Errorf("a dry run at 09:00 UTC: %v\n%s", err, out)
		}
	})
}
