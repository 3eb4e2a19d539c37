package slurm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/internal/textsafe"
)

// siteClientWords are what a site's Slurm client (or a wrapper around
// it, or slurmctld's message it repeats) may print: a terminal escape, a
// line break, a C1 control, a bidirectional override, a line separator,
// a byte that is not UTF-8.
var siteClientWords = []string{
	"clear\x1b[2J\x1b]0;owned\x07",
	"line\nforged: ok",
	"c1\u0085next\u009bline",
	"user \u202eeman\u202c admin",
	"sep\u2028ara\u2029tor",
	"bad\xffbyte",
}

// shellPrintf is s as a printf format that prints it (octal escapes).
func shellPrintf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "\\%03o", s[i])
	}
	return b.String()
}

// TestClientStderrInErrorsIsEscaped: a failed client's stderr was
// repeated as written in the error (only cut to 2 KiB), which is logged
// at every poll and may become a run's reason: a site's squeue, sbatch or
// scancel, or a wrapper around them, put terminal escapes, line breaks,
// C1 controls and bidirectional overrides there as themselves, as it did
// in the job ids a lookup names. They are now escaped, as every other
// word of the site's is.
func TestClientStderrInErrorsIsEscaped(t *testing.T) {
	for _, w := range siteClientWords {
		fail := "#!/bin/sh\nprintf '" + shellPrintf(w) + "' >&2\nexit 1\n"
		stateDir := t.TempDir()
		b := fakeSlurm(t, stateDir, map[string]string{"squeue": fail, "sbatch": fail, "sinfo": "#!/bin/sh\necho up\n"})
		_, err := b.Status(context.Background(), "4242")
		if err == nil {
			t.Fatalf("Status with squeue failing: no error")
		}
		if !textsafe.Safe(err.Error()) {
			t.Errorf("Status's error with squeue's stderr %q is %q, which holds what textsafe flags", w, err.Error())
		}
		_, err = b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
		if err == nil {
			t.Fatalf("Submit with sbatch failing: no error")
		}
		if !textsafe.Safe(err.Error()) {
			t.Errorf("Submit's error with sbatch's stderr %q is %q, which holds what textsafe flags", w, err.Error())
		}
	}
}

// TestFindNamesSafeJobIDs: when no job has the attempt's batch script but
// squeue lists jobs by the attempt's name, the lookup's error named what
// squeue printed as their ids as it was.
func TestFindNamesSafeJobIDs(t *testing.T) {
	for _, w := range siteClientWords {
		stateDir := t.TempDir()
		squeue := "#!/bin/sh\ncase \"$*\" in *--name=*) printf '" + shellPrintf(w) + "\\n';; esac\n"
		b := fakeSlurm(t, stateDir, map[string]string{"squeue": squeue})
		if err := os.MkdirAll(filepath.Join(stateDir, "jobs", "r1-1"), 0o700); err != nil {
			t.Fatal(err)
		}
		_, _, err := b.Find(context.Background(), "r1", 1)
		if err == nil {
			t.Fatalf("Find with a job of the attempt's name listed: no error")
		}
		if !textsafe.Safe(err.Error()) {
			t.Errorf("Find's error with squeue listing %q is %q, which holds what textsafe flags", w, err.Error())
		}
	}
}
