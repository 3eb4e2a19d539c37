package agent

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	// The filesystem the scratch lies on is shared with whatever else
	// runs (other tests, other packages' at once): its real free counts
	// move under the test, and a floor set just below them was crossed
	// late, or at once. The filesystem here is the real one's shape with
	// a free count that only the scratch's own files move: 1 GiB and
	// 100,000 inodes free before the workload writes.
	const freeBytes, freeInodes = 1 << 30, 100000
	old := fstatfs
	t.Cleanup(func() { fstatfs = old })
	fstatfs = func(fd int, st *unix.Statfs_t) error {
		if err := old(fd, st); err != nil {
			return err
		}
		var n, size int64
		// The agent asks through the scratch's descriptor: its /proc
		// entry is a link, and the slash has the walk go through it.
		filepath.WalkDir(fmt.Sprintf("/proc/self/fd/%d/", fd), func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			n++
			if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
				size += info.Size()
			}
			return nil
		})
		st.Bsize, st.Blocks, st.Files = 4096, 100<<30/4096, 1<<24
		st.Bavail = uint64(max(0, freeBytes-size) / 4096)
		st.Bfree, st.Ffree = st.Bavail, uint64(max(0, freeInodes-n))
		return nil
	}
	for _, tc := range []struct {
		name, script, limit string
		floor               func(*Config)
	}{
		{"many empty files", `cd "$TMPDIR" && seq 1 20000 | xargs touch && sleep 120`, EnvScratchInodeFloor,
			func(c *Config) { c.ScratchInodeFloor = freeInodes - 5000 }},
		{"many files of 1 MiB", `cd "$TMPDIR" && i=0; while [ $i -lt 256 ]; do head -c 1048576 /dev/zero > f$i; i=$((i+1)); done; sleep 120`, EnvScratchFloor,
			func(c *Config) { c.ScratchFloor = freeBytes - 64<<20 }},
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
			// The workload sleeps 120 s once past the floor: an end well
			// before that is the agent's kill, whatever the machine's load
			// (under load the 20,000 files alone took 9 s).
			if d := time.Since(start); d > 100*time.Second {
				t.Errorf("the workload ran on for %s past the floor", d)
			}
		})
	}
}

// BenchmarkScratchFloor is one look at the scratch's filesystem, made at
// every poll (checkpointPoll) while the workload runs.
// The agent asks through the scratch held open (fstatfs).
func BenchmarkScratchFloor(b *testing.B) {
	dir := b.TempDir()
	held, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer held.Close()
	f, err := scratchFloor(Config{}, held, dir)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if why, err := f.below(held, dir); err != nil || why != "" {
			b.Fatal(fmt.Sprint(why, err))
		}
	}
}

// TestScratchFloorOnlyRaised: the site's floors are read from the agent's
// environment, which may pass through a tenant's hands: they raise the
// agent's own floor, never lower or turn it off, and a value that is not a
// number above 0 is refused, naming the variable.
func TestScratchFloorOnlyRaised(t *testing.T) {
	wd := t.TempDir()
	dir, err := os.Open(wd)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	def, err := scratchFloor(Config{}, dir, wd)
	if err != nil {
		t.Fatal(err)
	}
	if def.bytes == 0 || def.inodes == 0 {
		t.Fatalf("the default floor is %+v; want bytes and inodes kept free", def)
	}
	low, _ := scratchFloor(Config{ScratchFloor: 1, ScratchInodeFloor: 1}, dir, wd)
	if low != def {
		t.Errorf("floors of 1 made %+v of the default %+v; want it kept", low, def)
	}
	high, _ := scratchFloor(Config{ScratchFloor: int64(def.bytes) + 1, ScratchInodeFloor: int64(def.inodes) + 1}, dir, wd)
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

// TestSiteFloorLowersTheDefault: on a small disk the default floors kept
// every workload from starting, and the site's variables could only raise
// them. The backend's flags on the agent's command line now set them,
// lower too, while the environment still only raises what they set. (A
// filesystem of 10 GiB with 100 MiB free: the default keeps 200 MiB.)
func TestSiteFloorLowersTheDefault(t *testing.T) {
	old := fstatfs
	t.Cleanup(func() { fstatfs = old })
	fstatfs = func(fd int, st *unix.Statfs_t) error {
		*st = unix.Statfs_t{Bsize: 4096, Blocks: 10 << 30 / 4096, Bfree: 100 << 20 / 4096, Bavail: 100 << 20 / 4096,
			Files: 1 << 20, Ffree: 1 << 19}
		return nil
	}
	for _, tc := range []struct {
		name  string
		cfg   func(*Config)
		start bool
	}{
		{"default", func(*Config) {}, false},
		{"site floor of 50 MiB", func(c *Config) { c.SiteScratchFloor = 50 << 20 }, true},
		{"site floor of 50 MiB, the environment's of 1", func(c *Config) { c.SiteScratchFloor, c.ScratchFloor = 50<<20, 1 }, true},
		{"site floor of 50 MiB, the environment's of 150 MiB", func(c *Config) { c.SiteScratchFloor, c.ScratchFloor = 50<<20, 150<<20 }, false},
		{"site inode floor above what is free", func(c *Config) { c.SiteScratchFloor, c.SiteScratchInodeFloor = 50<<20, 1<<19+1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, done := startAgentConfig(t, "exit 0", "", 0, nil, nil, tc.cfg)
			code, err := wait(t, done)
			if tc.start && (code != 0 || err != nil) {
				t.Fatalf("the agent returned %d, %v; want the workload run", code, err)
			}
			if !tc.start && (code != ExitSetup || err == nil || !strings.Contains(err.Error(), "not starting the workload")) {
				t.Fatalf("the agent returned %d, %v; want the workload not started", code, err)
			}
		})
	}
}

// TestSiteFloorFlags: the floor flags come off the front of the agent's
// command line; a bad one is refused, naming it.
func TestSiteFloorFlags(t *testing.T) {
	rest, floor, err := siteFloorFlags([]string{"--scratch-floor=4096", "--scratch-inode-floor=100", "reap", "--scratch-floor=1"})
	if err != nil || floor != [2]int64{4096, 100} || len(rest) != 2 || rest[0] != "reap" {
		t.Errorf("got %q, %v, %v", rest, floor, err)
	}
	for _, args := range [][]string{
		{"--scratch-floor=0"}, {"--scratch-floor=-1"}, {"--scratch-floor=1GiB"}, {"--scratch-floor"},
		{"--scratch-inode-floor="}, {"--scratch-floor=1", "--scratch-floor=2"}, {"--scratch-flor=1"},
	} {
		name, _, _ := strings.Cut(args[len(args)-1], "=")
		if _, _, err := siteFloorFlags(args); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%q: %v; want it refused, naming %s", args, err, name)
		}
	}
}
