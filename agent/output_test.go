package agent

import (
	"io"
	"strings"
	"testing"
)

// TestProgressOnlyFromWholeLines: a progress line counts only from the
// start of a line. A line longer than the agent's buffer is read in pieces;
// a piece from the middle of one (text the workload printed from its data,
// say) that happens to read "step=… loss=…" is not the workload's progress.
func TestProgressOnlyFromWholeLines(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      int64
	}{
		{"a long line's tail", "step=5 loss=1.5\n" + strings.Repeat("a", 64<<10) + "step=999999 loss=0.01\n", 5},
		{"a long line's tail, the buffer twice over", "step=5 loss=1.5\n" + strings.Repeat("a", 128<<10) + "step=999999 loss=0.01\nmore\n", 5},
		{"after a long line", strings.Repeat("a", 100<<10) + "\nstep=7 loss=1.5\n", 7},
		{"a line cut at the end", "step=5 loss=1.5\n" + strings.Repeat("a", 64<<10) + "step=999999 loss=0.01", 5},
	} {
		a := &attempt{cfg: Config{Stdout: io.Discard}, m: &Manifest{LogLimit: 1 << 30}}
		a.readOutput(strings.NewReader(tc.out))
		if a.progress == nil || a.progress.Step != tc.want {
			t.Errorf("%s: progress %+v; want step %d", tc.name, a.progress, tc.want)
		}
		if got := string(a.logs.pending); got != tc.out {
			t.Errorf("%s: %d bytes kept of %d", tc.name, len(got), len(tc.out))
		}
	}
}
