package slurm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// retireSite is a site whose poll lists job 4242 running on n1 with 4 of
// its 8 GPUs (3 more held by others), and whose slurmctld has forgotten
// every job it is asked about: a poll reads 7 when the backend counts
// 4242 as its own, 3 when it does not. Each backend of the site keeps
// its records in state and its record key (and so its retire log) in
// server, as the server's backends do.
type retireSite struct {
	t             *testing.T
	state, server string
}

func newRetireSite(t *testing.T) *retireSite {
	bin, dir := t.TempDir(), t.TempDir()
	for name, script := range map[string]string{
		"sinfo": "#!/bin/sh\nprintf '%s\\n' 'n1|gpu*|up|mixed|gpu:h100:8|gpu:h100:5(IDX:0-4)|'\n",
		"squeue": "#!/bin/sh\ncase \"$*\" in\n*tres-per-node*) printf '%s\\n' '4242|n1|gres:gpu:h100:4|' ;;\n" +
			"*) echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1 ;;\nesac\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	server := filepath.Join(dir, "server")
	if err := os.Mkdir(server, 0o700); err != nil {
		t.Fatal(err)
	}
	return &retireSite{t: t, state: filepath.Join(server, "sites", "a"), server: server}
}

// backend is a new backend of the site (a restart, or another process).
func (s *retireSite) backend() *Slurm {
	s.t.Helper()
	b, err := New(catalog.BackendSpec{Type: "slurm", WorkDir: filepath.Join(s.state, "work")}, s.state,
		RecordKeyFile(filepath.Join(s.server, "slurm-record-key")))
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

func (s *retireSite) capacity(b *Slurm) int {
	s.t.Helper()
	got, err := b.Capacity(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return got[backend.SiteAccelerator]
}

// TestCapacityCountsNoRecordPutBackAfterRetireBeforeRestart: a backend
// remembered in memory only the retires it did or saw, so once the
// server restarted (or to another server process on the same state
// directory) a retire was told only by ended/NAME: a workload, as the
// cluster user, that put back a kept copy of the job's handles/ record
// and removed ended/NAME (or put an older signed one of the name in its
// place) had a poll count whatever job slurmctld ran under the id as the
// server's. Each retire is now logged outside the state directory,
// signed, and read at start and on.
func TestCapacityCountsNoRecordPutBackAfterRetireBeforeRestart(t *testing.T) {
	for _, c := range []struct{ name, handle, ended string }{
		{"plain id, ended removed", "4242", "removed"},
		{"later attempt, ended removed", "4242:r2-2", "removed"},
		{"plain id, older ended put back", "4242", "older"},
		{"later attempt, older ended put back", "4242:r2-2", "older"},
	} {
		for _, how := range []string{"restart", "another process"} {
			t.Run(c.name+", "+how, func(t *testing.T) {
				s := newRetireSite(t)
				b := s.backend()
				var other *Slurm
				if how == "another process" {
					other = s.backend()
				}
				key := "r1-1"
				if err := b.rec.record(key, "4242"); err != nil {
					t.Fatal(err)
				}
				if c.handle != "4242" {
					key = "r2-2"
					if h, err := b.rec.recordHandle(key, "4242"); err != nil || h != c.handle {
						t.Fatalf("recordHandle = %q, %v; want %s", h, err, c.handle)
					}
					if err := b.rec.retire("4242", "r1-1"); err != nil {
						t.Fatal(err)
					}
				}
				live := filepath.Join(s.state, "handles", c.handle)
				kept, err := os.ReadFile(live)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(b.rec.jobDir(key), "exitcode"), []byte("0\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if n := s.capacity(b); n != 7 {
					t.Fatalf("capacity before Clean %d; want 7", n)
				}
				if other != nil {
					if n := s.capacity(other); n != 7 {
						t.Fatalf("the other backend's capacity before Clean %d; want 7", n)
					}
				}
				if err := b.Clean(context.Background(), c.handle); err != nil {
					t.Fatal(err)
				}
				if other == nil {
					other = s.backend() // the server restarted
				}
				// The workload puts the signed record back, and removes
				// or replaces the ended record.
				if err := os.WriteFile(live, kept, 0o644); err != nil {
					t.Fatal(err)
				}
				ended := filepath.Join(s.state, "ended", c.handle)
				switch c.ended {
				case "removed":
					if err := os.Remove(ended); err != nil {
						t.Fatal(err)
					}
				case "older":
					if err := b.rec.writeRecord(filepath.Join("ended", c.handle), "r0-1"); err != nil {
						t.Fatal(err)
					}
				}
				if n := s.capacity(other); n != 3 {
					t.Errorf("capacity after %s with %s put back: %d; want 3 (the job under the id is not the server's)", how, c.handle, n)
				}
			})
		}
	}
}

// retireLogPath is the log of retires of s's backends.
func (s *retireSite) retireLogPath(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(s.state)
	if err != nil {
		t.Fatal(err)
	}
	return retireLogName(filepath.Join(s.server, retireLogDir), abs)
}

// retireAndPutBack retires the job 4242 of r1-1 through b, then puts its record
// back and removes its ended record, as a workload can.
func (s *retireSite) retireAndPutBack(b *Slurm) {
	s.t.Helper()
	if err := b.rec.record("r1-1", "4242"); err != nil {
		s.t.Fatal(err)
	}
	live := filepath.Join(s.state, "handles", "4242")
	kept, err := os.ReadFile(live)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := b.rec.retire("4242", "r1-1"); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(live, kept, 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(s.state, "ended", "4242")); err != nil {
		s.t.Fatal(err)
	}
}

// TestRetireLogTornLastLine: a crash mid-append leaves a torn last line.
// A start reads the lines before it, and the next retire, appended after
// it, stands on a line of its own.
func TestRetireLogTornLastLine(t *testing.T) {
	s := newRetireSite(t)
	b := s.backend()
	if err := b.rec.record("r0-1", "99"); err != nil {
		t.Fatal(err)
	}
	if err := b.rec.retire("99", "r0-1"); err != nil {
		t.Fatal(err)
	}
	path := s.retireLogPath(t)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("4242 r1-1 0123abc"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b = s.backend() // restarted after the crash
	if !b.rec.retiredSeen.has("99\x00r0-1") {
		t.Errorf("the retire before the torn line was not read at start")
	}
	s.retireAndPutBack(b)
	b = s.backend()
	if n := s.capacity(b); n != 3 {
		t.Errorf("capacity with the record put back, retired after a torn line and a restart: %d; want 3", n)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "0123abc\n4242 r1-1 ") {
		t.Errorf("log after a torn line:\n%s\nwant the torn line ended, the next retire on a line of its own", data)
	}
}

// TestRetireLogForgedLineRefused: a line of the log that does not verify
// (written by another, or with another key) is no retire: the live job
// it names is still counted.
func TestRetireLogForgedLineRefused(t *testing.T) {
	s := newRetireSite(t)
	b := s.backend()
	if err := b.rec.record("r1-1", "4242"); err != nil {
		t.Fatal(err)
	}
	if err := b.rec.record("r0-1", "99"); err != nil {
		t.Fatal(err)
	}
	if err := b.rec.retire("99", "r0-1"); err != nil {
		t.Fatal(err)
	}
	path := s.retireLogPath(t)
	// The line the backend would write under another key, and a line of
	// its own copied with the name changed.
	forger := &retireLog{dir: b.rec.retireLog.dir, key: []byte("0123456789abcdef-other")}
	own, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copied := strings.Replace(strings.TrimSpace(string(own)), "99 r0-1", "4242 r1-1", 1)
	if err := os.WriteFile(path, []byte(string(own)+forger.line("4242", "r1-1")+copied+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b = s.backend()
	if n := s.capacity(b); n != 7 {
		t.Errorf("capacity with forged retires of the live job logged: %d; want 7 (the job is the server's)", n)
	}
	if !b.rec.retiredSeen.has("99\x00r0-1") {
		t.Errorf("the signed retire beside the forged lines was not read")
	}
}

// TestRetireLogCompacted: the log holds at most 2*maxSeen lines; past
// that it is rewritten with the latest maxSeen retires, which a start
// still reads.
func TestRetireLogCompacted(t *testing.T) {
	old := maxSeen
	maxSeen = 4
	t.Cleanup(func() { maxSeen = old })
	s := newRetireSite(t)
	b := s.backend()
	for i := 1; i <= 20; i++ {
		id, key := fmt.Sprint(1000+i), fmt.Sprintf("r%d-1", i)
		if err := b.rec.record(key, id); err != nil {
			t.Fatal(err)
		}
		if err := b.rec.retire(id, key); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(s.retireLogPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n > 2*maxSeen {
		t.Errorf("log holds %d lines; want at most %d", n, 2*maxSeen)
	}
	b = s.backend()
	for i := 17; i <= 20; i++ {
		if e := fmt.Sprintf("%d\x00r%d-1", 1000+i, i); !b.rec.retiredSeen.has(e) {
			t.Errorf("retire %q, among the latest, not read after compaction", e)
		}
	}
}
