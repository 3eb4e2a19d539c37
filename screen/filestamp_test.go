package screen

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestScreenerSeesFileReplacedWithSameSizeAndTime: a decisions file
// replaced by one of the same size and modification time (rsync -a, a
// restore from a backup) is read again. Its stamp was size and time only,
// and the confirmation restored below was never seen: the organisation
// stayed dismissed, clear to run.
func TestScreenerSeesFileReplacedWithSameSizeAndTime(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	fuzzy := org("exemplar", "DE", "Exemplar Lab GmbH")
	if _, err := s.Decide("", fuzzy, "e1003", Dismiss, "a.person", "different register number"); err != nil {
		t.Fatal(err)
	}
	path := s.decisionsPath()
	dismissed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	scr := &Screener{Store: s, Recheck: time.Nanosecond}
	if sc := scr.Screening(fuzzy); sc == nil || sc.Status != catalog.RestrictedNone {
		t.Fatalf("dismissed: %+v", sc)
	}
	confirmed := bytes.Replace(dismissed, []byte(`"`+Dismiss+`"`), []byte(`"`+Confirm+`"`), 1)
	if len(confirmed) != len(dismissed) || bytes.Equal(confirmed, dismissed) {
		t.Fatalf("the confirmation is not the same size: %q", confirmed)
	}
	tmp := filepath.Join(s.Dir, "decisions.json.restore")
	if err := os.WriteFile(tmp, confirmed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if after, err := os.Stat(path); err != nil || after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("the replacement's size and time differ: %v %v", after, err)
	}
	if sc := scr.Screening(fuzzy); sc == nil || sc.Status == catalog.RestrictedNone {
		t.Errorf("after a same-size, same-time replacement confirming the match: %+v, want the confirmation read", sc)
	}
}
