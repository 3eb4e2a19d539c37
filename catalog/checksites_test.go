package catalog

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCheckSites holds a world built from a checked set of sites to the
// world built from the same set unchecked: the same sites, and the same
// errors for everything else; and an invalid set is not marked, so its
// errors are still reported by every world it joins.
func TestCheckSites(t *testing.T) {
	data, err := os.ReadFile("../examples/demo/sites/sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	load := func(text string) *Set {
		t.Helper()
		s, err := Decode("sites.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	job := load(`apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: j}
spec:
  organization: nobody
  model: {parameters: 7e9}
  tokens: 1e9
  method: full
`)

	checked, plain := load(string(data)), load(string(data))
	if err := CheckSites(testKeys, checked); err != nil {
		t.Fatalf("CheckSites on the demo's sites: %v", err)
	}
	if !checked.sitesChecked {
		t.Fatal("a valid set was not marked")
	}
	_, errChecked := Assemble(testKeys, checked, job)
	_, errPlain := Assemble(testKeys, plain, job)
	if errChecked == nil || !strings.Contains(errChecked.Error(), "spec.organization") {
		t.Fatalf("a job's error is not reported beside checked sites: %v", errChecked)
	}
	if errChecked.Error() != errPlain.Error() {
		t.Errorf("errors differ:\nchecked: %v\nplain:   %v", errChecked, errPlain)
	}
	wc, err := Assemble(testKeys, checked)
	if err != nil {
		t.Fatal(err)
	}
	wp, err := Assemble(testKeys, plain)
	if err != nil {
		t.Fatal(err)
	}
	names := func(w *World) (out []string) {
		for _, s := range w.Sites {
			out = append(out, s.Metadata.Name)
		}
		return out
	}
	if diff := cmp.Diff(names(wp), names(wc)); diff != "" {
		t.Errorf("sites differ (-plain +checked):\n%s", diff)
	}

	bad := strings.Replace(string(data), "count: 16, available: 8, pricePerHour: 2.10", "count: 0, available: 8, pricePerHour: 2.10", 1)
	invalid := load(bad)
	err = CheckSites(testKeys, invalid)
	if err == nil || !strings.Contains(err.Error(), "spec.pools[0].count") || !strings.Contains(err.Error(), "sites.yaml:") {
		t.Fatalf("CheckSites on a pool of 0 = %v, want an error naming the file and spec.pools[0].count", err)
	}
	if invalid.sitesChecked {
		t.Fatal("an invalid set was marked")
	}
	if _, err := Assemble(testKeys, invalid); err == nil || !strings.Contains(err.Error(), "spec.pools[0].count") {
		t.Fatalf("Assemble with the invalid set = %v, want its site's error", err)
	}
}
