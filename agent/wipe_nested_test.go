package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// nestDeep makes depth directories, each in the one before, under dir,
// each made and opened relative to the one above it, and a file of
// plaintext at the bottom.
func nestDeep(t *testing.T, dir string, depth int) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range depth {
		if err := unix.Mkdirat(fd, "d", 0o700); err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, "d", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	defer unix.Close(fd)
	f, err := unix.Openat(fd, "plain", unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(f, []byte("secret"))
	unix.Close(f)
}

// lowNofile is the descriptor limit the deep-removal tests run under,
// in a process of their own: the depth they nest is far past it.
const lowNofile = 128

// TestAttackWipeDeeperThanDescriptors: a workload nests directories
// thousands deep and copies its data to the bottom. The wipe held a
// directory open for every level: past the process's descriptor limit it
// failed (EMFILE), left the scratch for the sweep, and every sweep failed
// the same way, the plaintext left at the site. Now no more than
// maxOpenDepth levels are held open; deeper ones are moved up and
// removed from the top. Both the wipe and the sweep are run in a process
// whose descriptor limit is well under the depth.
func TestAttackWipeDeeperThanDescriptors(t *testing.T) {
	if wd := os.Getenv("MERIDIAN_TEST_DEEP_WIPE"); wd != "" {
		lim := unix.Rlimit{Cur: lowNofile, Max: lowNofile}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		switch os.Getenv("MERIDIAN_TEST_DEEP_HOW") {
		case "wipe":
			if leave := wipeScratch(checkedAttempt(t, wd).scratch, wd, t.Logf); leave {
				t.Error("the wipe left the scratch for the sweep")
			}
		case "sweep":
			if n, err := Sweep(filepath.Dir(wd)); n != 1 || err != nil {
				t.Errorf("Sweep removed %d scratch directories (%v); want 1", n, err)
			}
		}
		return
	}
	const depth = 10 * lowNofile
	for _, how := range []string{"wipe", "sweep"} {
		t.Run(how, func(t *testing.T) {
			root := t.TempDir()
			wd := filepath.Join(root, "scratch")
			if err := os.MkdirAll(filepath.Join(wd, "data"), 0o700); err != nil {
				t.Fatal(err)
			}
			if how == "sweep" {
				// A lock no agent holds: its agent died.
				if err := os.WriteFile(wd+LockSuffix, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			nestDeep(t, filepath.Join(wd, "data"), depth)
			cmd := exec.Command(os.Args[0], "-test.run", "^"+t.Name()[:len(t.Name())-len(how)-1]+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "MERIDIAN_TEST_DEEP_WIPE="+wd, "MERIDIAN_TEST_DEEP_HOW="+how)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("the %s under a limit of %d descriptors, %d directories deep: %v\n%s", how, lowNofile, depth, err, out)
			}
			what := wd
			if how == "wipe" {
				ents, _ := os.ReadDir(wd)
				if len(ents) != 0 {
					t.Errorf("after the wipe the scratch holds %v; want nothing", names(ents))
				}
			} else if _, err := os.Lstat(wd); !os.IsNotExist(err) {
				t.Errorf("after the sweep the scratch is still there (%v)", err)
			}
			// For TempDir's cleanup, which walks as deep as it is.
			removeAllAt(unix.AT_FDCWD, what)
		})
	}
}
