package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
)

// TestAuditVerifyAnchorOthersMayChangeRefused: audit verify --state
// checked the state directory's path, but not the anchor directory it
// reads (--anchor's, or STATE/anchor) nor the anchor and keys in it. A
// local user who could write that directory, or the anchor, or who owned
// them, put back an older anchor.json with the log cut to match, and
// verify printed "audit log intact", exit 0. It now refuses them as serve
// does, naming the flag or the file, the path and the problem (exit 2);
// an anchor directory only this user may change still verifies.
func TestAuditVerifyAnchorOthersMayChangeRefused(t *testing.T) {
	// rolledBack is a state directory whose log was cut from six entries
	// back to three, its anchor put back as it was at three; the anchor
	// directory is moved to adir unless adir is "".
	rolledBack := func(t *testing.T, adir string) state {
		t.Helper()
		st := cliState(t, 2)
		anchorFile := filepath.Join(st.Anchor(), audit.AnchorFile)
		old, err := os.ReadFile(anchorFile)
		if err != nil {
			t.Fatal(err)
		}
		appendViaCLI(t, st, 3)
		execState(t, st, `DELETE FROM audit WHERE seq > 3`)
		if err := os.WriteFile(anchorFile, old, 0o600); err != nil {
			t.Fatal(err)
		}
		if adir != "" {
			if err := os.Rename(st.Anchor(), adir); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}
	refused := func(t *testing.T, st state, args []string, want ...string) {
		t.Helper()
		out, code := runRoot(t, append([]string{"audit", "verify", "--state", st.Path}, args...)...)
		if code != exitBadInput || strings.Contains(out, "audit log intact") {
			t.Errorf("audit verify %v: exit %d, want %d, refused:\n%s", args, code, exitBadInput, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("audit verify %v: output does not say %q:\n%s", args, w, out)
			}
		}
	}

	t.Run("--anchor others may write", func(t *testing.T) {
		adir := filepath.Join(t.TempDir(), "anchor")
		st := rolledBack(t, adir)
		if err := os.Chmod(adir, 0o777); err != nil {
			t.Fatal(err)
		}
		refused(t, st, []string{"--anchor", adir}, "--anchor "+adir+": "+adir+" (mode 0777)", "lets its group and others replace what is in it")
	})
	t.Run("--anchor under a parent its group may write", func(t *testing.T) {
		parent := t.TempDir()
		adir := filepath.Join(parent, "anchor")
		st := rolledBack(t, adir)
		if err := os.Chmod(parent, 0o770); err != nil {
			t.Fatal(err)
		}
		refused(t, st, []string{"--anchor", adir}, "--anchor "+adir+": "+parent+" (mode 0770)", "lets its group replace what is in it")
	})
	t.Run("STATE/anchor others may write", func(t *testing.T) {
		st := rolledBack(t, "")
		if err := os.Chmod(st.Anchor(), 0o707); err != nil {
			t.Fatal(err)
		}
		refused(t, st, nil, "anchor directory "+st.Anchor()+": "+st.Anchor()+" (mode 0707)", "lets others replace what is in it")
	})
	t.Run("anchor.json its group may write", func(t *testing.T) {
		adir := filepath.Join(t.TempDir(), "anchor")
		st := rolledBack(t, adir)
		anchorFile := filepath.Join(adir, audit.AnchorFile)
		if err := os.Chmod(anchorFile, 0o620); err != nil {
			t.Fatal(err)
		}
		refused(t, st, []string{"--anchor", adir}, "audit anchor "+anchorFile+": "+anchorFile+" (mode 0620) lets its group write it")
	})
	t.Run("--anchor owned by another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			// Standing in another user for this one (as the state
			// directory's test does) makes the state directory another's
			// too, refused before the anchor is looked at.
			t.Skip("needs root to give the anchor directory to another user")
		}
		adir := filepath.Join(t.TempDir(), "anchor")
		st := rolledBack(t, adir)
		if err := os.Chown(adir, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		refused(t, st, []string{"--anchor", adir}, "--anchor "+adir+": "+adir+" is owned by uid 4242")
	})
	t.Run("--anchor only this user may change", func(t *testing.T) {
		st := cliState(t, 5)
		parent := t.TempDir()
		if err := os.Chmod(parent, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		adir := filepath.Join(parent, "anchor")
		if err := os.Rename(st.Anchor(), adir); err != nil {
			t.Fatal(err)
		}
		out, code := runRoot(t, "audit", "verify", "--state", st.Path, "--anchor", adir)
		if code != exitOK || !strings.Contains(out, "audit log intact: 6 entries") {
			t.Errorf("audit verify --anchor %s (mode 0700, under a sticky directory): exit %d:\n%s", adir, code, out)
		}
	})
}
