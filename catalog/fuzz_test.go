package catalog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the loader: decoding, adding to the
// built-in world and validating must never panic, and every error must name
// the file. The seed corpus is in testdata/fuzz/FuzzDecode; the valid test
// world and the built-in site files are added as seeds too.
func FuzzDecode(f *testing.F) {
	seeds := []string{filepath.Join("testdata", "valid.yaml")}
	sites, _ := filepath.Glob(filepath.Join("data", "sites", "*.yaml"))
	seeds = append(seeds, sites...)
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.yaml"
		set, err := Decode(name, data)
		if err != nil {
			checkFuzzError(t, name, err)
			return
		}
		w, err := Builtin()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(set); err != nil {
			checkFuzzError(t, name, err)
			return
		}
		if err := w.Validate(testKeys); err != nil {
			checkFuzzError(t, name, err)
			return
		}
		// A valid world prints as JSON (what -o json does).
		for _, s := range set.Sites {
			if _, err := json.Marshal(s); err != nil {
				t.Fatalf("valid site does not marshal: %v", err)
			}
		}
		for _, j := range set.Jobs {
			if _, err := json.Marshal(j); err != nil {
				t.Fatalf("valid job does not marshal: %v", err)
			}
		}
	})
}

func checkFuzzError(t *testing.T, name string, err error) {
	t.Helper()
	msg := err.Error()
	if msg == "" {
		t.Fatal("empty error message")
	}
	if strings.Contains(msg, internalErrorMsg) {
		t.Fatalf("decoder panicked: %v", err)
	}
	for _, line := range strings.Split(msg, "\n") {
		if !strings.HasPrefix(line, name) {
			t.Fatalf("error line does not name the file: %q", line)
		}
	}
}
