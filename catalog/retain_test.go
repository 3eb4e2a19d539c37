package catalog

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// TestDocSourceKeepsOnlyItsDocument: a small job read beside a large other
// document keeps its own document's text for finding its fields' lines,
// not the whole file: a run's job is kept for as long as its world, and
// was keeping every other document of the file it came from with it.
func TestDocSourceKeepsOnlyItsDocument(t *testing.T) {
	job := `apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: small}
spec:
  organization: lab
  model: {parameters: 7e9}
  tokens: 1e9
  deadline: 30d
`
	// 4 MiB of other documents (each within MaxDocumentBytes).
	var big strings.Builder
	for n := 0; big.Len() < 4<<20; n++ {
		fmt.Fprintf(&big, "---\napiVersion: meridian.dev/v1alpha1\nkind: Organization\nspec:\n  headquarters: SG\nmetadata:\n  name: lab%d\n  labels:\n", n)
		for i := 0; i < 4000; i++ {
			fmt.Fprintf(&big, "    key%07d: %s\n", i, strings.Repeat("x", 100))
		}
	}
	data := []byte(job + big.String())
	set, err := Decode("both.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Jobs) != 1 {
		t.Fatalf("%d jobs", len(set.Jobs))
	}
	src := set.Jobs[0].Pos.src
	if src == nil {
		t.Fatal("the job kept no source")
	}
	if len(src.data) > len(job) {
		t.Errorf("the job keeps %d bytes of source; its document is %d bytes", len(src.data), len(job))
	}
	// Its text and values are its own, not windows into the file's array.
	start := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	within := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= start && p < start+uintptr(len(data))
	}
	if within(src.data) || within(set.Jobs[0].Metadata.Name) {
		t.Error("the job's source points into the file's bytes: the whole file stays alive with it")
	}
	// Lines are still those of the file.
	if got := set.Jobs[0].Pos.At("spec.deadline"); got != "both.yaml:8" {
		t.Errorf("spec.deadline at %s, want both.yaml:8", got)
	}
	if got := set.Organizations[0].Pos.At("spec.headquarters"); got != "both.yaml:13" {
		t.Errorf("spec.headquarters at %s, want both.yaml:13", got)
	}
}
