package screen

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// screenerWithDismissal is a store with the sample list imported and a
// match of fuzzy dismissed, and a screener looking at it at every call.
func screenerWithDismissal(t *testing.T) (*Store, *Screener, *catalog.Organization) {
	t.Helper()
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	fuzzy := org("exemplar", "DE", "Exemplar Lab GmbH")
	if _, err := s.Decide("", fuzzy, "e1003", Dismiss, "a.person", "different register number"); err != nil {
		t.Fatal(err)
	}
	return s, &Screener{Store: s, Recheck: time.Nanosecond}, fuzzy
}

// replaceDecisions writes the decisions file anew, as dismissed holds it
// when n is even and its dismissal made a confirmation when n is odd (a
// file of another inode, as an atomic write leaves).
func replaceDecisions(t *testing.T, s *Store, dismissed []byte, n int) {
	t.Helper()
	data := dismissed
	if n%2 == 1 {
		data = bytes.Replace(dismissed, []byte(`"`+Dismiss+`"`), []byte(`"`+Confirm+`"`), 1)
	}
	tmp := s.decisionsPath() + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, s.decisionsPath()); err != nil {
		t.Fatal(err)
	}
}

// TestScreenerReadsOutsideItsLock: a newly imported list was read, decoded
// and indexed with the screener's lock held, and every screening (of
// organisations screened long before) waited for it: seconds, for a large
// list. The files are read without the lock now.
func TestScreenerReadsOutsideItsLock(t *testing.T) {
	s, scr, fuzzy := screenerWithDismissal(t)
	reads, underLock := 0, 0
	scr.testHookRead = func() {
		reads++
		if scr.mu.TryLock() {
			scr.mu.Unlock()
		} else {
			underLock++
		}
	}
	if sc := scr.Screening(fuzzy); sc == nil || sc.Status != catalog.RestrictedNone {
		t.Fatalf("dismissed: %+v", sc)
	}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	if sc := scr.Screening(fuzzy); sc == nil || sc.Status != catalog.RestrictedNone {
		t.Fatalf("dismissed, after an import: %+v", sc)
	}
	if reads != 2 || underLock != 0 {
		t.Errorf("%d of %d reads of the files were made with the screener's lock held, want none", underLock, reads)
	}
}

// TestScreenerReadsAgainFilesChangedWhileRead: a decision recorded while
// the files were read was put in force as read before it, under a stamp
// of before it (a stamp taken after the read missed it for good); files
// read while they changed are read again, and files that change at every
// read leave screening undetermined, failing closed, after a bounded
// number of reads.
func TestScreenerReadsAgainFilesChangedWhileRead(t *testing.T) {
	s, scr, fuzzy := screenerWithDismissal(t)
	dismissed, err := os.ReadFile(s.decisionsPath())
	if err != nil {
		t.Fatal(err)
	}
	// Confirmed during the first read: the answer is the confirmation.
	reads := 0
	scr.testHookRead = func() {
		reads++
		if reads == 1 {
			replaceDecisions(t, s, dismissed, 1)
		}
	}
	if sc := scr.Screening(fuzzy); sc == nil || sc.Status == catalog.RestrictedNone {
		t.Errorf("confirmed while the files were read: %+v, want the confirmation in force", sc)
	}
	if reads != 2 {
		t.Errorf("%d reads, want 2 (the files read again once changed)", reads)
	}

	// Changed during every read: undetermined, naming why, and the
	// reads bounded.
	s2, scr2, fuzzy2 := screenerWithDismissal(t)
	dismissed2, err := os.ReadFile(s2.decisionsPath())
	if err != nil {
		t.Fatal(err)
	}
	reads = 0
	scr2.testHookRead = func() {
		reads++
		replaceDecisions(t, s2, dismissed2, reads)
	}
	sc := scr2.Screening(fuzzy2)
	if sc == nil || sc.Status != catalog.RestrictedUndetermined || !strings.Contains(sc.Source, "changed during each of") {
		t.Errorf("files changing at every read: %+v, want undetermined", sc)
	}
	if reads != maxReadTries {
		t.Errorf("files changing at every read: %d reads, want %d", reads, maxReadTries)
	}
	// At rest again: read at the next look.
	scr2.testHookRead = nil
	if sc := scr2.Screening(fuzzy2); sc == nil || sc.Status == catalog.RestrictedUndetermined {
		t.Errorf("the files at rest: %+v, want them read", sc)
	}
}
