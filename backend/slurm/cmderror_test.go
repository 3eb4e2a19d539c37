package slurm

import (
	"errors"
	"strings"
	"testing"
)

// TestCmdErrorKeepsWhatItShows: a failed client's error kept all of its
// stderr (up to the 64 KiB read of it) while it lived, though its text
// shows 2 KiB: a site's wrapper that writes pages of noise before
// slurm's own words made each failed poll pin them. It keeps what it
// shows, and still tells an unknown job anywhere in the whole stderr.
func TestCmdErrorKeepsWhatItShows(t *testing.T) {
	stderr := strings.Repeat("noise from the site's wrapper ", 2000) + "scancel: error: Invalid job id specified"
	var err error = newCmdError("scancel", errors.New("exit status 1"), stderr)
	var ce *cmdError
	if !errors.As(err, &ce) {
		t.Fatal("not a cmdError")
	}
	if len(ce.stderr) > maxClientErrorText+8 {
		t.Errorf("the error keeps %d bytes of stderr; want at most what it shows (%d)", len(ce.stderr), maxClientErrorText)
	}
	if !isInvalidJob(err) {
		t.Error("an unknown job said past the shown part of stderr is not told")
	}
	if !strings.HasPrefix(err.Error(), "scancel: exit status 1: noise") {
		t.Errorf("text %.80q", err.Error())
	}
}
