package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/internal/syncbuf"
)

// TestRunLeavesForTheSweepWhatTheWipeLeft: Run hands the wipe's answer,
// that the scratch is left for the sweep, to the release of the lock that
// runs after it. A release given the answer as it stood when it was
// deferred (false, before any wipe) removed the lock of a scratch whose
// path names a directory the wipe never emptied, and no sweep would ever
// remove that. Here the workload puts another directory, with something
// in it, in its scratch's place, in one rename over the scratch it
// emptied (a path naming nothing for a moment has the agent kill it).
func TestRunLeavesForTheSweepWhatTheWipeLeft(t *testing.T) {
	var logged syncbuf.Buffer
	var wd string
	script := `w="$PWD"; mkdir "$w.new" && echo x > "$w.new/left" && rm -rf "$w"/* && mv -T "$w.new" "$w"`
	_, _, _, done := startAgentConfig(t, script, "", time.Minute, nil, nil, func(cfg *Config) {
		cfg.Stderr = &logged
		wd = cfg.WorkDir
	})
	wait(t, done)
	if !strings.Contains(logged.String(), "no longer names") {
		t.Fatalf("the agent's log: %q; want the wipe to have left the scratch for the sweep", logged.String())
	}
	if _, err := os.Lstat(wd + LockSuffix); err != nil {
		t.Fatalf("the lock of the scratch left: %v; want it kept for the sweep", err)
	}
	if n, err := Sweep(filepath.Dir(wd)); n != 1 || err != nil {
		t.Errorf("Sweep = %d, %v; want the scratch left removed", n, err)
	}
	if _, err := os.Lstat(filepath.Join(wd, "left")); !os.IsNotExist(err) {
		t.Errorf("what the workload put in the scratch's place: %v; want it swept", err)
	}
}
