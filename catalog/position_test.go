package catalog

import (
	"fmt"
	"testing"
)

// TestAtAllNotedMatchesTree: the lines a job notes while it is decoded give
// the same answers as walking its parsed document, for present, missing,
// nested, dotted and aliased fields.
func TestAtAllNotedMatchesTree(t *testing.T) {
	doc := `apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: j}
spec:
  organization: lab
  model: {parameters: 7e9}
  tokens: 1e9
  deadline: 30d
  constraints: &c
    countries: {allow: [SG, MY]}

    accelerators:
      allow:
        - nvidia-h100-sxm
  assumptions:
    mfu.nvidia-h100-sxm: 0.4
`
	set, err := Decode("job.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	job := set.Jobs[0]
	if job.Pos.src == nil || len(job.Pos.src.lines) == 0 {
		t.Fatal("the job noted no lines")
	}
	fields := []string{"spec.constraints.sites", "spec.constraints.countries", "spec.constraints.accelerators",
		"spec.constraints.minAccelerators", "spec.budgetUSD", "spec.deadline", "spec", "spec.model.parameters",
		"spec.assumptions.mfu.nvidia-h100-sxm", "spec.assumptions.mfu.other", "nothing.here", "metadata.name", "spec.constraints.accelerators.allow", "spec.constraints.countries.allow"}
	noted := job.Pos.AtAll(fields)
	tree := Position{File: job.Pos.File, Line: job.Pos.Line, src: &docSource{data: job.Pos.src.data, firstLine: job.Pos.src.firstLine}}
	walked := tree.AtAll(fields)
	for _, f := range fields {
		if noted[f] != walked[f] {
			t.Errorf("%s: noted %s, tree %s", f, noted[f], walked[f])
		}
	}
	if got, want := noted["spec.constraints.countries"], fmt.Sprintf("job.yaml:%d", 10); got != want {
		t.Errorf("countries at %s, want %s", got, want)
	}
	// Sequence paths are not noted: they still come from the tree.
	if got := job.Pos.AtAll([]string{"spec.constraints.accelerators.allow[0]"}); got["spec.constraints.accelerators.allow[0]"] != "job.yaml:14" {
		t.Errorf("sequence item: %v", got)
	}
}
