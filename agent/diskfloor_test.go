package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAttackWorkloadFillsTheScratchDisk: the local backend's limit on a
// file's size bounds no sum, and a workload writing many files, or many
// empty ones, filled the disk its scratch lies on, which on the local
// backend holds the server's database, audit log and every other run's
// scratch. The agent now keeps a floor of free bytes and inodes on the
// scratch's filesystem: below it, it kills the workload and the attempt
// fails naming the limit. (The floors here are set just below what is
// free now, so that the workload crosses them with little.)
func TestAttackWorkloadFillsTheScratchDisk(t *testing.T) {
	free := func() (bytes, inodes int64) {
		var st unix.Statfs_t
		if err := unix.Statfs(t.TempDir(), &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * int64(st.Bsize), int64(st.Ffree)
	}
	for _, tc := range []struct {
		name, script, limit string
		floor               func(*Config)
	}{
		{"many empty files", `cd "$TMPDIR" && seq 1 20000 | xargs touch && sleep 10`, EnvScratchInodeFloor,
			func(c *Config) { _, n := free(); c.ScratchInodeFloor = n - 5000 }},
		{"many files of 1 MiB", `cd "$TMPDIR" && i=0; while [ $i -lt 256 ]; do head -c 1048576 /dev/zero > f$i; i=$((i+1)); done; sleep 10`, EnvScratchFloor,
			func(c *Config) { b, _ := free(); c.ScratchFloor = b - 64<<20 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			srv, _, _, done := startAgentConfig(t, tc.script, "", 0, nil, nil, tc.floor)
			code, err := wait(t, done)
			srv.mu.Lock()
			exits := append([]Exit(nil), srv.exits...)
			srv.mu.Unlock()
			if code == 0 || err == nil || !strings.Contains(err.Error(), tc.limit) {
				t.Fatalf("the agent returned %d, %v after %s; want the workload killed, naming %s", code, err, time.Since(start).Round(time.Millisecond), tc.limit)
			}
			if len(exits) != 1 || exits[0].Code == 0 || !strings.Contains(exits[0].Detail, tc.limit) {
				t.Errorf("the attempt's end reported %+v; want a failure naming %s", exits, tc.limit)
			}
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("the workload ran on for %s past the floor", d)
			}
		})
	}
}

// BenchmarkScratchFloor is one look at the scratch's filesystem, made at
// every poll (checkpointPoll) while the workload runs.
func BenchmarkScratchFloor(b *testing.B) {
	dir := b.TempDir()
	f, err := scratchFloor(Config{}, dir)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if why, err := f.below(dir); err != nil || why != "" {
			b.Fatal(fmt.Sprint(why, err))
		}
	}
}

// TestScratchFloorOnlyRaised: the site's floors are read from the agent's
// environment, which may pass through a tenant's hands: they raise the
// agent's own floor, never lower or turn it off, and a value that is not a
// number above 0 is refused, naming the variable.
func TestScratchFloorOnlyRaised(t *testing.T) {
	dir := t.TempDir()
	def, err := scratchFloor(Config{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if def.bytes == 0 || def.inodes == 0 {
		t.Fatalf("the default floor is %+v; want bytes and inodes kept free", def)
	}
	low, _ := scratchFloor(Config{ScratchFloor: 1, ScratchInodeFloor: 1}, dir)
	if low != def {
		t.Errorf("floors of 1 made %+v of the default %+v; want it kept", low, def)
	}
	high, _ := scratchFloor(Config{ScratchFloor: int64(def.bytes) + 1, ScratchInodeFloor: int64(def.inodes) + 1}, dir)
	if high.bytes != def.bytes+1 || high.inodes != def.inodes+1 {
		t.Errorf("higher floors made %+v; want them taken", high)
	}
	t.Setenv(EnvServer, "http://127.0.0.1:7420")
	t.Setenv(EnvRun, "run-1")
	t.Setenv(EnvAttempt, "1")
	t.Setenv(EnvToken, "tok")
	for _, name := range []string{EnvScratchFloor, EnvScratchInodeFloor} {
		for _, v := range []string{"0", "-1", "1GiB"} {
			t.Setenv(name, v)
			if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: %v; want it refused, naming it", name, v, err)
			}
		}
		t.Setenv(name, "4096")
		if cfg, err := FromEnv(); err != nil || cfg.ScratchFloor+cfg.ScratchInodeFloor != 4096 {
			t.Errorf("%s=4096: %+v, %v", name, cfg, err)
		}
		t.Setenv(name, "")
	}
}
