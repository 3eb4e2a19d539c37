package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStateDirOthersMayChangeRefused: serve refused a state directory
// that another local user could change (it, or a directory above it,
// writable by its group or others, or owned by another user), but the
// other commands that read or write it did not: that user could swap the
// audit log and its key under `audit verify --state`, the screening lists
// under `plan` and `screen import`, client.json (the server a token goes
// to) under `get`, the keyring and ledger under `dataset`. Each now
// refuses it as serve does, naming the path and the problem; a sticky
// directory above it (as /tmp, where t.TempDir lives) is no problem.
func TestStateDirOthersMayChangeRefused(t *testing.T) {
	list := filepath.Join("..", "..", "screen", "testdata", "csl-sample.csv")
	job := filepath.Join("..", "..", "examples", "qwen-offshore.yaml")
	commands := [][]string{
		{"audit", "verify", "--state", "STATE"},
		{"screen", "import", list},
		{"plan", "-f", job, "--as-of", "2025-06-01"},
		{"get", "runs"},
		{"dataset", "ledger"},
	}
	type result struct {
		out  string
		code int
	}
	run := func(t *testing.T, home string) map[string]result {
		t.Helper()
		isolatedConfig(t)
		t.Setenv("MERIDIAN_HOME", home)
		res := map[string]result{}
		for _, c := range commands {
			args := append([]string(nil), c...)
			for i, a := range args {
				if a == "STATE" {
					args[i] = home
				}
			}
			out, code := runRoot(t, args...)
			res[strings.Join(c[:2], " ")] = result{out, code}
		}
		return res
	}
	refused := func(t *testing.T, home, bad string, problem string) {
		t.Helper()
		for cmd, r := range run(t, home) {
			if r.code != exitBadInput || !strings.Contains(r.out, "state directory "+home+": "+bad) || !strings.Contains(r.out, problem) {
				t.Errorf("%s with MERIDIAN_HOME %s: exit %d, want %d, refused, naming %s and %q:\n%s", cmd, home, r.code, exitBadInput, bad, problem, r.out)
			}
		}
	}

	t.Run("state directory others may write", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(home, 0o777); err != nil {
			t.Fatal(err)
		}
		refused(t, home, home+" (mode 0777)", "lets its group and others replace what is in it")
	})
	t.Run("parent its group may write", func(t *testing.T) {
		parent := t.TempDir()
		if err := os.Chmod(parent, 0o770); err != nil {
			t.Fatal(err)
		}
		home := filepath.Join(parent, "state")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		refused(t, home, parent+" (mode 0770)", "lets its group replace what is in it")
	})
	t.Run("not there yet under a parent others may write", func(t *testing.T) {
		parent := t.TempDir()
		if err := os.Chmod(parent, 0o707); err != nil {
			t.Fatal(err)
		}
		home := filepath.Join(parent, "state")
		refused(t, home, parent+" (mode 0707)", "lets others replace what is in it")
		if _, err := os.Lstat(home); err == nil {
			t.Errorf("%s was made under a directory others may write", home)
		}
	})
	t.Run("owned by another user", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		uid := 4242
		if os.Geteuid() == 0 {
			if err := os.Chown(home, uid, uid); err != nil {
				t.Fatal(err)
			}
		} else {
			// Stand in another user for this one: the directory (and
			// the temporary ones above it) are then another's.
			defer func(f func() int) { geteuid = f }(geteuid)
			me := os.Geteuid()
			geteuid = func() int { return me + 1 }
			uid = me
			home = filepath.Dir(home)
		}
		for cmd, r := range run(t, home) {
			if r.code != exitBadInput || !strings.Contains(r.out, "state directory "+home+": ") || !strings.Contains(r.out, "is owned by uid "+strconv.Itoa(uid)) {
				t.Errorf("%s with MERIDIAN_HOME %s owned by uid %d: exit %d, want %d, refused, saying so:\n%s", cmd, home, uid, r.code, exitBadInput, r.out)
			}
		}
	})
	t.Run("sticky parent as /tmp", func(t *testing.T) {
		parent := t.TempDir()
		if err := os.Chmod(parent, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		home := filepath.Join(parent, "state")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		for cmd, r := range run(t, home) {
			if strings.Contains(r.out, "replace what is in it") || strings.Contains(r.out, "is owned by uid") {
				t.Errorf("%s with MERIDIAN_HOME %s under a sticky directory: refused:\n%s", cmd, home, r.out)
			}
		}
		if out, code := runRoot(t, "screen", "import", list); code != exitOK {
			t.Errorf("screen import under a sticky directory: exit %d:\n%s", code, out)
		}
	})
}
