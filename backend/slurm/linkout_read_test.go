package slurm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// outsideSecret is what the files a link out leads to hold where the
// reader shows what it read.
const outsideSecret = "the server's own"

// readThroughLink is a state directory with signed records whose
// component at (jobs/r1-1, jobs, handles or ended) is a link to a
// directory outside, which holds, named as each record of attempt r1-1
// and job 777 is, a record that reads well: as the one at rel inside.
func readThroughLink(t *testing.T, at string) (records, string) {
	t.Helper()
	dir := t.TempDir()
	state, outside := filepath.Join(dir, "state"), filepath.Join(dir, "outside")
	rec, err := newRecords(state)
	if err != nil {
		t.Fatal(err)
	}
	if rec.seal, err = newSealer(options{}, state); err != nil {
		t.Fatal(err)
	}
	final, _ := json.Marshal(backend.Status{State: backend.Succeeded})
	sweep, _ := json.Marshal(sweepInfo{Command: []string{"agent"}, Root: "/s", Name: "n"})
	jobFiles := map[string][]byte{
		"jobid":         rec.sealed(filepath.Join("jobs", "r1-1", "jobid"), "777"),
		"cancelled":     rec.sealed(filepath.Join("jobs", "r1-1", "cancelled"), "2026-01-01T00:00:00Z"),
		"final.json":    final,
		"sweep.json":    sweep,
		"sweeping":      []byte("2026-01-01T00:00:00Z 0123456789abcdef0123456789abcdef\n"),
		"swept":         []byte("none needed\n"),
		"nodes":         []byte("n1\n"),
		"identity.json": []byte(`{"submit_time":1000000000}`),
		"submitted":     []byte("1000000000 1000000001\n"),
		"started":       []byte(""),
		"exitcode":      []byte(outsideSecret + "\n"),
	}
	write := func(p string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	switch at {
	case filepath.Join("jobs", "r1-1"):
		for name, data := range jobFiles {
			write(filepath.Join(outside, name), data)
		}
	case "jobs":
		for name, data := range jobFiles {
			write(filepath.Join(outside, "r1-1", name), data)
		}
	default: // handles, ended
		write(filepath.Join(outside, "777"), rec.sealed(filepath.Join(at, "777"), "r1-1"))
	}
	p := filepath.Join(state, at)
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, p); err != nil {
		t.Fatal(err)
	}
	return rec, state
}

// TestRecordReadsDoNotFollowALinkOut: writes below the state directory
// went through its os.Root, but reads did not: a workload, as the
// backend's user on the shared state directory, could put a link to a
// directory outside in place of jobs/KEY, jobs, handles or ended, and the
// server took the files there as the attempt's records (its job id, a
// cancel, a final status, the intents, where it ran, its exit code, which
// a Status that could not parse it showed). Each read now fails, naming
// the state directory, and nothing outside is taken; a missing record
// still reads as absent. A job's start mark that cannot be looked at so
// reads as one that may be there, never as absent.
func TestRecordReadsDoNotFollowALinkOut(t *testing.T) {
	const key = "r1-1"
	type read struct {
		what string
		do   func(r records) (taken string) // "" when nothing outside was taken
	}
	jobReads := []read{
		{"jobid", func(r records) string { h, _ := r.recordedErr(key); return h }},
		{"cancelled", func(r records) string { return yes(r.cancelled(key)) }},
		{"final.json", func(r records) string {
			st, ok, err := r.final(key)
			if ok {
				return string(st.State)
			}
			if err == nil || !strings.Contains(err.Error(), r.dir) {
				return "final: no error naming the state directory: " + errText(err)
			}
			return ""
		}},
		{"sweep.json", func(r records) string { info, _ := r.sweep(key); return info.Root }},
		{"sweeping", func(r records) string { tok, _ := r.sweepIntent(key); return tok }},
		{"swept", func(r records) string { return yes(r.swept(key)) }},
		{"nodes", func(r records) string { return r.nodes(key) }},
		{"identity.json", func(r records) string { _, ok := r.identity(key); return yes(ok) }},
		{"submitted", func(r records) string { _, _, ok := r.submitted(key); return yes(ok) }},
		{"exitcode", func(r records) string { return yes(r.exited(key)) }},
		{"started", func(r records) string {
			// Not taken as absent: a mark that cannot be looked at is
			// named as one that may be there (the job may have started).
			if m := r.ranMark(key); !strings.HasPrefix(m, "started (which cannot be looked at: ") || !strings.Contains(m, r.dir) {
				return fmt.Sprintf("ranMark %q; want the start mark named as one that cannot be looked at, naming the state directory", m)
			}
			return ""
		}},
		{"status", func(r records) string {
			st, err := r.forgottenStatus("777", handleRef{id: "777", key: key})
			switch {
			case err != nil && strings.Contains(err.Error(), outsideSecret):
				return err.Error()
			case err != nil && !strings.Contains(err.Error(), r.dir):
				return "status: no error naming the state directory: " + err.Error()
			case !st.Started.IsZero():
				return "started " + st.Started.String()
			}
			return ""
		}},
	}
	idReads := []read{
		{"keyOf", func(r records) string { return r.keyOf("777") }},
		{"idOwner", func(r records) string { k, _ := r.idOwner("777"); return k }},
		{"laterListed", func(r records) string { return yes(r.laterListed("777")) }},
	}
	handlesReads := append(idReads, read{"listing", func(r records) string {
		ids, _, err := r.recordedIDs()
		if len(ids) > 0 {
			return "listed job 777"
		}
		if err == nil || !strings.Contains(err.Error(), r.dir) {
			return "listing: no error naming the state directory: " + errText(err)
		}
		return ""
	}})
	for _, c := range []struct {
		at    string
		reads []read
	}{
		{filepath.Join("jobs", key), jobReads},
		{"jobs", jobReads},
		{"handles", handlesReads},
		{"ended", idReads},
	} {
		rec, _ := readThroughLink(t, c.at)
		for _, rd := range c.reads {
			if got := rd.do(rec); got != "" {
				t.Errorf("link out at %s: %s read what is outside the state directory: %q", c.at, rd.what, got)
			}
		}
		// The submit's intent: looked at outside, none there read as
		// none; one that cannot be looked at counts.
		if c.at != "handles" && c.at != "ended" {
			os.Remove(filepath.Join(filepath.Dir(rec.dir), "outside", "submitting"))
			os.Remove(filepath.Join(filepath.Dir(rec.dir), "outside", key, "submitting"))
			if !rec.intent(key) {
				t.Errorf("link out at %s: intent looked outside the state directory (found none there)", c.at)
			}
		}
	}

	// A record that is not there is absent, not an error.
	state := filepath.Join(t.TempDir(), "state")
	rec, err := newRecords(state)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := rec.final(key); ok || err != nil {
		t.Errorf("final of an attempt with no record = %v, %v; want absent", ok, err)
	}
	if rec.intent(key) || rec.cancelled(key) || rec.swept(key) || rec.keyOf("777") != "" {
		t.Error("an attempt with no records reads as having some")
	}
	if _, ok := rec.sweepIntent(key); ok {
		t.Error("sweepIntent of an attempt with no record = true")
	}
}

func yes(b bool) string {
	if b {
		return "true"
	}
	return ""
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// BenchmarkReadRecord measures one signed record's read (handles/ID), as
// a capacity poll reads each listed job's.
func BenchmarkReadRecord(b *testing.B) {
	state := b.TempDir()
	rec, err := newRecords(state)
	if err != nil {
		b.Fatal(err)
	}
	if rec.seal, err = newSealer(options{}, state); err != nil {
		b.Fatal(err)
	}
	if err := rec.writeRecord(filepath.Join("handles", "777"), "r1-1"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if rec.keyOf("777") != "r1-1" {
			b.Fatal("record not read")
		}
	}
}
