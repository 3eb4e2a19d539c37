package main

import (
	"bytes"
	"strings"
	"testing"

	"meridian.dev/meridian/dataset"
)

// TestDatasetVerifyShowsNamesAsText: dataset verify names the files each
// missing or altered chunk is used by, and why a manifest is not the
// version staged. A file name holds any bytes but / and NUL, and the
// reason comes from what the site's store holds: an escape sequence in
// either reached the terminal as it was. Each is now shown as text, one
// line a chunk.
func TestDatasetVerifyShowsNamesAsText(t *testing.T) {
	esc := "x\x1b]52;c;ZXZpbA==\x07\x1b[2J\nforged line\u009b31m\u202e"
	for _, rep := range []*dataset.VerifyReport{
		{Chunks: 2, OK: 1, Missing: []dataset.ChunkProblem{{ID: "c1", Files: []string{"a" + esc, "b.txt"}, Reason: "missing"}}},
		{ManifestReplaced: "manifest " + esc},
	} {
		var b bytes.Buffer
		if err := printDatasetVerify(&b, "ds", "file:///store", rep); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if strings.ContainsFunc(l, escaped) || strings.HasPrefix(l, "forged") {
				t.Errorf("a line the report should not hold: %q in %q", l, out)
			}
		}
		if !strings.Contains(out, `x\x1b]52;c;ZXZpbA==\x07\x1b[2J\x0aforged line\x9b31m\u202e`) {
			t.Errorf("the name is not shown as text: %q", out)
		}
	}
}
