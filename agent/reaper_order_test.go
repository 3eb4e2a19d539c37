package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestReaperKillsParentsBeforeChildren: the reaper killed what was below
// it in a map's order, so a child could die first and its parent, not yet
// killed, run on to see it: a workload's "sleep 5; echo workload-ended"
// said workload-ended after the agent had killed it for its disk. It now
// kills each process before any below it, and none lives to see a child
// die. (Each of the workload's subshells writes to woke once its sleep
// has died; SIGTERM, ignored, ends nothing.)
func TestReaperKillsParentsBeforeChildren(t *testing.T) {
	dir := t.TempDir()
	script := fmt.Sprintf(`trap '' TERM
cd %q
i=0
while [ $i -lt 40 ]; do
  (sleep 1000; echo $i >> woke) &
  i=$((i+1))
done
echo $$$$ > main
wait`, dir)
	srv, _, _, done := startAgent(t, script, 0, nil)
	started(t, filepath.Join(dir, "main"))
	srv.stop.Store(true)
	srv.kill.Store(true)
	select {
	case r := <-done:
		if code := r[0].(int); code != 128+int(syscall.SIGKILL) {
			t.Errorf("Run = %v; want %d, the workload killed", r, 128+int(syscall.SIGKILL))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the workload runs on 30 s after the server said its time to stop has passed")
	}
	if woke, err := os.ReadFile(filepath.Join(dir, "woke")); err == nil {
		t.Errorf("subshells of the killed workload ran on after their sleep died: %q", woke)
	}
}
