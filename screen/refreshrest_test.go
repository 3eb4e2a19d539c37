package screen

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestScreenerRestsAfterFailedRead: a list that does not read (corrupt for
// good) is not read again at every look, under the lock every screening
// waits on: it was decoded every second for as long as the server ran.
// Organisations stay undetermined meanwhile; the files are read again
// after the rest, and at once when they change.
func TestScreenerRestsAfterFailedRead(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(s.listPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.listPath(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	scr := &Screener{Store: s, Recheck: time.Second, now: func() time.Time { return now }}
	listed := org("exac", "CN", "Example Advanced Computing Co., Ltd.")
	for i := 0; i < 30; i++ {
		if sc := scr.Screening(listed); sc == nil || sc.Status != catalog.RestrictedUndetermined || !strings.Contains(sc.Source, "could not be read") {
			t.Fatalf("look %d at a list that does not read: %+v, want undetermined", i, sc)
		}
		if d := scr.Digest(); !strings.HasPrefix(d, "unreadable: ") {
			t.Fatalf("look %d: digest %q, want unreadable", i, d)
		}
		now = now.Add(time.Second)
	}
	if scr.reads != 1 {
		t.Errorf("30 looks in 30 s at a list that does not read read it %d times, want 1 (then a rest)", scr.reads)
	}
	now = now.Add(minRetry)
	if sc := scr.Screening(listed); sc == nil || sc.Status != catalog.RestrictedUndetermined {
		t.Fatalf("after the rest: %+v, want undetermined", sc)
	}
	if scr.reads != 2 {
		t.Errorf("after the rest: %d reads, want 2", scr.reads)
	}
	// Corrected (a new import, a restore): read at the next look, in the
	// middle of a rest.
	now = now.Add(time.Second)
	tmp := s.listPath() + ".new"
	if err := os.WriteFile(tmp, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, s.listPath()); err != nil {
		t.Fatal(err)
	}
	if sc := scr.Screening(listed); sc == nil || sc.Status != catalog.RestrictedEntityList {
		t.Errorf("the list corrected during a rest: %+v, want it read at once", sc)
	}
	if scr.reads != 3 {
		t.Errorf("the list corrected: %d reads, want 3", scr.reads)
	}
}

// BenchmarkScreenerUnreadableList is what a screening costs while a large
// stored list does not read, looked at each time (Recheck 1 ns).
func BenchmarkScreenerUnreadableList(b *testing.B) {
	var csv strings.Builder
	csv.WriteString("source,name,alt_names,addresses\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&csv, "Entity List (EL) - BIS,Zqx%d Northwind Research Institute %d,Alias%d One Corp; Other%d Holding,\"Tianjin, CN\"\n", i, i, i, i)
	}
	s := &Store{Dir: b.TempDir()}
	l, err := s.Import("big.csv", []byte(csv.String()))
	if err != nil {
		b.Fatal(err)
	}
	l.Counts = nil // decodes, but is not the list imported
	data, err := json.Marshal(l)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(s.listPath(), data, 0o600); err != nil {
		b.Fatal(err)
	}
	scr := &Screener{Store: s, Recheck: time.Nanosecond}
	o := org("exemplar", "DE", "Exemplar Lab GmbH")
	for b.Loop() {
		scr.Screening(o)
	}
}
