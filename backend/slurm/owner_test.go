package slurm

import "testing"

// TestJobOwnerTakesEitherUser: over slurmrestd's socket a job of the user
// slurmrestd runs as, or of this process's user (a slurmrestd started by
// root runs jobs as the connecting user), is this backend's; no other
// user's is, and a job without a uid never is.
func TestJobOwnerTakesEitherUser(t *testing.T) {
	o := jobOwner{uid: 0, alsoUID: 1000}
	for uid, want := range map[int64]bool{0: true, 1000: true, 1001: false} {
		if got := o.owns(&uid, ""); got != want {
			t.Errorf("a job of uid %d: owned %v, want %v", uid, got, want)
		}
	}
	if o.owns(nil, "root") {
		t.Error("a job without a uid is owned")
	}
}
