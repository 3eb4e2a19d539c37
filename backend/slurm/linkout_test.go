package slurm

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// snapshot is every path below dir with its content ("/" for a
// directory), to tell that nothing there changed.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			got[rel] = "/"
			return nil
		}
		data, err := os.ReadFile(p)
		got[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sameSnapshot(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// linkedRecords is a state directory whose component at (relative to it)
// is a link to a directory outside it, with records signed as a
// backend's are; outside holds files named as what the backend removes
// there (the intents), to see that nothing outside is removed either.
func linkedRecords(t *testing.T, at string) (records, string) {
	t.Helper()
	root := t.TempDir()
	state := filepath.Join(root, "state")
	outside := filepath.Join(root, "outside")
	rec, err := newRecords(state)
	if err != nil {
		t.Fatal(err)
	}
	if rec.seal, err = newSealer(options{}, state); err != nil {
		t.Fatal(err)
	}
	// What the link points at looks like the directory it replaces, so
	// that each write finds its way (jobs/KEY inside a linked jobs/).
	for _, d := range []string{"r1-1", "handles", "ended"} {
		if err := os.MkdirAll(filepath.Join(outside, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"submitting", "sweeping", filepath.Join("r1-1", "submitting"), filepath.Join("r1-1", "sweeping")} {
		if err := os.WriteFile(filepath.Join(outside, f), []byte("the server's own\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(state, "jobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(state, at)
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, p); err != nil {
		t.Fatal(err)
	}
	return rec, outside
}

// TestRecordWritesDoNotFollowALinkOut: the state directory is shared with
// the cluster's nodes on the command path, where a workload runs as the
// backend's user; a link it put in place of jobs/KEY, jobs, handles or
// ended had every record written (renamed, removed) there land where the
// link pointed, outside the state directory, on the server's machine.
// Each write now fails, naming the state directory, and nothing outside
// changes.
func TestRecordWritesDoNotFollowALinkOut(t *testing.T) {
	const key = "r1-1"
	writes := []struct {
		what string
		do   func(r records) error
	}{
		{"jobid", func(r records) error { return r.writeRecord(filepath.Join("jobs", key, "jobid"), "777") }},
		{"cancelled", func(r records) error { return r.markCancelled(key) }},
		{"submitting", func(r records) error { return r.markIntent(key) }},
		{"clear submitting", func(r records) error { return r.clearIntent(key) }},
		{"final.json", func(r records) error { return r.saveFinal(key, backend.Status{State: backend.Succeeded}) }},
		{"sweep.json", func(r records) error {
			return r.saveSweep(key, sweepInfo{Command: []string{"agent"}, Root: "/s", Name: "n"})
		}},
		{"swept", func(r records) error { return r.markSwept(key, "none needed") }},
		{"sweeping", func(r records) error { _, err := r.markSweepIntent(key); return err }},
		{"clear sweeping", func(r records) error { return r.clearSweepIntent(key) }},
		{"nodes", func(r records) error { return r.saveNodes(key, "n1") }},
		{"duplicates", func(r records) error { return r.saveDuplicates(key, []string{"778"}) }},
		{"identity.json", func(r records) error { return r.saveIdentity(key, jobIdentity{SubmitTime: 1e9}) }},
		{"submitted", func(r records) error { return r.saveSubmitted(key, time.Unix(1e9, 0), time.Unix(1e9+1, 0)) }},
		{"job dir", func(r records) error { return r.ensureJobDir(key) }},
		{"handles/ID", func(r records) error { return r.writeRecord(filepath.Join("handles", "777"), key) }},
		{"ended/ID", func(r records) error { return r.writeRecord(filepath.Join("ended", "777"), key) }},
		{"record", func(r records) error { return r.record(key, "777") }},
		{"lock", func(r records) error {
			unlock, err := r.lockJob(context.Background(), key)
			if err == nil {
				unlock()
			}
			return err
		}},
	}
	for _, at := range []string{filepath.Join("jobs", key), "jobs", "handles", "ended"} {
		for _, w := range writes {
			rec, outside := linkedRecords(t, at)
			before := snapshot(t, outside)
			err := w.do(rec)
			if after := snapshot(t, outside); !sameSnapshot(before, after) {
				t.Errorf("link at %s, %s: wrote outside the state directory (%q, was %q)", at, w.what, keys(after), keys(before))
			}
			if err != nil && !strings.Contains(err.Error(), rec.dir) {
				t.Errorf("link at %s, %s: error %q does not name the state directory", at, w.what, err)
			}
		}
	}
}

// TestRetireDoesNotFollowALinkOut: Clean's retire renamed (or, signed,
// wrote and removed) a record through links a workload put in place of
// handles or ended, moving a file outside the state directory into it,
// or writing one there.
func TestRetireDoesNotFollowALinkOut(t *testing.T) {
	for _, signed := range []bool{true, false} {
		for _, at := range []string{"handles", "ended"} {
			rec, outside := linkedRecords(t, at)
			if !signed {
				rec.seal = nil
			}
			// The live record, as the workload leaves it for the read
			// (outside when handles is the link).
			data := rec.sealed(filepath.Join("handles", "777"), "r1-1")
			for _, d := range []string{filepath.Join(rec.dir, "handles"), filepath.Join(outside, "handles")} {
				if err := os.WriteFile(filepath.Join(d, "777"), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, outside)
			err := rec.retire("777", "r1-1")
			if after := snapshot(t, outside); !sameSnapshot(before, after) {
				t.Errorf("signed %v, link at %s: retire changed what is outside the state directory (%q, was %q; %v)", signed, at, keys(after), keys(before), err)
			}
		}
	}
}

// TestWorkDirectoryNotMadeOrRemovedThroughALinkOut: a link put in place
// of the state directory's work/ had Submit make the attempt's work
// directory, and Clean remove it with all it held, wherever the link
// pointed. The removal now removes the link itself.
func TestWorkDirectoryNotMadeOrRemovedThroughALinkOut(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "state")
	outside := filepath.Join(root, "outside")
	rec, err := newRecords(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(outside, "r1-2"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "r1-2", "keep"), []byte("the server's own\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(state, "work")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, outside)
	errMk := rec.mkdirAll(filepath.Join(state, "work", "r1-1"), 0o755)
	errRm := rec.removeAll(filepath.Join(state, "work", "r1-2"))
	if after := snapshot(t, outside); !sameSnapshot(before, after) {
		t.Errorf("work directory made or removed outside the state directory (%q, was %q; %v, %v)", keys(after), keys(before), errMk, errRm)
	}
	// The removal takes the link itself away, never what it points to,
	// so that Clean goes on (TestCleanRemovesALinkOutOnTheWorkDirectorysWay).
	if errMk == nil || errRm != nil {
		t.Errorf("mkdir = %v, remove = %v; want the mkdir's error naming the link out, and the link removed", errMk, errRm)
	}
	if _, err := os.Lstat(filepath.Join(state, "work")); !os.IsNotExist(err) {
		t.Errorf("the link in place of work/ is still there after the removal (%v)", err)
	}
}

// TestRecordWritesFollowALinkInside: a link that stays inside the state
// directory is followed (os.Root): a workload may write there anyway.
func TestRecordWritesFollowALinkInside(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	rec, err := newRecords(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "elsewhere"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../elsewhere", filepath.Join(state, "jobs", "r1-1")); err != nil {
		t.Fatal(err)
	}
	if err := rec.markIntent("r1-1"); err != nil {
		t.Fatalf("markIntent through a link inside: %v", err)
	}
	if _, err := os.Stat(filepath.Join(state, "elsewhere", "submitting")); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkWriteRecord measures one signed record's write (temporary
// file, fsync, rename, fsync of its directory).
func BenchmarkWriteRecord(b *testing.B) {
	state := b.TempDir()
	rec, err := newRecords(state)
	if err != nil {
		b.Fatal(err)
	}
	if rec.seal, err = newSealer(options{}, state); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "jobs", "r1-1"), 0o700); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := rec.writeRecord(filepath.Join("jobs", "r1-1", "jobid"), "777"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWorkRootNotMadeThroughALinkOut: a start made the work root by its
// path, following a link a workload put in place of work/: a nested work
// root below the state directory (workDir work/jobs) was made wherever
// the link pointed. The start now fails, naming the state directory, and
// makes nothing outside; a work root reached through no link is made.
func TestWorkRootNotMadeThroughALinkOut(t *testing.T) {
	dir := t.TempDir()
	state, outside := filepath.Join(dir, "state"), filepath.Join(dir, "outside")
	for _, d := range []string{state, outside} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(state, "work")); err != nil {
		t.Fatal(err)
	}
	key := RecordKeyFile(filepath.Join(dir, "settings", "slurm-record-key"))
	_, err := New(catalog.BackendSpec{Type: "slurm", WorkDir: "work/jobs"}, state, key)
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("the start made %s outside the state directory", ents[0].Name())
	}
	if err == nil || !strings.Contains(err.Error(), state) {
		t.Errorf("New with a link out in place of work/ = %v; want an error naming the state directory", err)

	}
	if err := os.Remove(filepath.Join(state, "work")); err != nil {
		t.Fatal(err)
	}
	if _, err := New(catalog.BackendSpec{Type: "slurm", WorkDir: "work/jobs"}, state, key); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(state, "work", "jobs")); err != nil || !fi.IsDir() {
		t.Errorf("work root: %v, %v; want a directory", fi, err)
	}
}

// TestStateDirectoryReachedThroughALink: the state directory as
// configured may be reached through links (a link in a parent, as /tmp
// to /private/tmp, or the state directory itself a link): os.Root is
// opened on that path, so that records, the lock, the work directory and
// retires are written and removed there as with no link.
func TestStateDirectoryReachedThroughALink(t *testing.T) {
	for _, through := range []string{"parent", "itself"} {
		dir := t.TempDir()
		real := filepath.Join(dir, "real", "state")
		if err := os.MkdirAll(real, 0o700); err != nil {
			t.Fatal(err)
		}
		state := filepath.Join(dir, "link", "state")
		link, to := filepath.Join(dir, "link"), filepath.Join(dir, "real")
		if through == "itself" {
			state, link, to = filepath.Join(dir, "state"), filepath.Join(dir, "state"), real
		}
		if err := os.Symlink(to, link); err != nil {
			t.Fatal(err)
		}
		b, err := New(catalog.BackendSpec{Type: "slurm"}, state, RecordKeyFile(filepath.Join(dir, "settings", "slurm-record-key")))
		if err != nil {
			t.Fatalf("through %s: %v", through, err)
		}
		const key = "r1-1"
		wd := b.WorkDir(backend.Spec{RunID: "r1", Attempt: 1})
		steps := []struct {
			what string
			do   func() error
		}{
			{"job dir", func() error { return b.rec.ensureJobDir(key) }},
			{"lock", func() error {
				unlock, err := b.rec.lockJob(context.Background(), key)
				if err == nil {
					unlock()
				}
				return err
			}},
			{"intent", func() error { return b.rec.markIntent(key) }},
			{"record", func() error { return b.rec.record(key, "777") }},
			{"work dir", func() error { return b.rec.mkdirAll(wd, 0o755) }},
			{"remove work dir", func() error { return b.rec.removeAll(wd) }},
			{"retire", func() error { return b.rec.retire("777", key) }},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				t.Errorf("through %s, %s: %v", through, s.what, err)
			}
		}
		if _, err := os.Lstat(filepath.Join(real, "ended", "777")); err != nil {
			t.Errorf("through %s: retire left no record in the state directory: %v", through, err)
		}
	}
}

// TestWorkRootSpelledThroughALinkStaysInside: a work root configured
// below the state directory but spelled through another path to it (the
// state directory given as /tmp/..., the work root as /private/tmp/...)
// was taken for a site's own work root outside it, made and removed by
// its path: a link a workload put in place of work/ had Submit make, and
// Clean remove, the attempt's directory wherever it pointed.
func TestWorkRootSpelledThroughALinkStaysInside(t *testing.T) {
	dir := t.TempDir()
	real, outside := filepath.Join(dir, "real"), filepath.Join(dir, "outside")
	for _, d := range []string{filepath.Join(real, "state"), filepath.Join(outside, "r1-2")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "r1-2", "keep"), []byte("the server's own\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "link", "state")
	site := catalog.BackendSpec{Type: "slurm", WorkDir: filepath.Join(real, "state", "work")}
	b, err := New(site, state, RecordKeyFile(filepath.Join(dir, "settings", "slurm-record-key")))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(real, "state", "work")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(real, "state", "work")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, outside)
	errMk := b.rec.mkdirAll(b.WorkDir(backend.Spec{RunID: "r1", Attempt: 1}), 0o755)
	errRm := b.rec.removeAll(b.WorkDir(backend.Spec{RunID: "r1", Attempt: 2}))
	if after := snapshot(t, outside); !sameSnapshot(before, after) {
		t.Errorf("work directory made or removed outside the state directory (%q, was %q; %v, %v)", keys(after), keys(before), errMk, errRm)
	}
	// The removal takes the link itself away, never what it points to,
	// so that Clean goes on (TestCleanRemovesALinkOutOnTheWorkDirectorysWay).
	if errMk == nil || errRm != nil {
		t.Errorf("mkdir = %v, remove = %v; want the mkdir's error naming the link out, and the link removed", errMk, errRm)
	}
	if _, err := os.Lstat(filepath.Join(real, "state", "work")); !os.IsNotExist(err) {
		t.Errorf("the link in place of work/ is still there after the removal (%v)", err)
	}
}
