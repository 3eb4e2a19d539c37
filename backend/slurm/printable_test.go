package slurm

import (
	"testing"

	"meridian.dev/meridian/internal/textsafe"
)

// TestSiteWordsInStatusAreSafe: the site's words that a status, a check
// or an error repeats (a job's reason, a node's name and state, a
// partition's state) had only their C0 controls and DEL turned to
// spaces: a C1 control, a bidirectional override or a line separator
// from slurmctld or slurmrestd reached a run's reason as itself. Every
// character textsafe flags is now a space.
func TestSiteWordsInStatusAreSafe(t *testing.T) {
	for _, w := range hostileErrorWords {
		if got := printable([]byte(w), 200); !textsafe.Safe(got) {
			t.Errorf("printable(%q) = %q, which holds what textsafe flags", w, got)
		}
		st := mapJobState("FAILED", w, 1, 0)
		if !textsafe.Safe(st.Reason) {
			t.Errorf("the reason of a job failed for %q is %q, which holds what textsafe flags", w, st.Reason)
		}
	}
	if got := printable([]byte(" a\x1b[2Jb\u202ec\u200bd "), 200); got != "a [2Jb c d" {
		t.Errorf("printable = %q; want the flagged characters as spaces, the rest as sent", got)
	}
}
