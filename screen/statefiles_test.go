package screen

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestStoreFilesNotRegular: a FIFO at the stored list's or the decisions'
// name is refused at once, naming the file, rather than waited on for a
// writer; a link to /dev/zero there is refused rather than read until
// memory runs out; a file over its bound is refused unread. Screening is
// undetermined meanwhile (it fails closed), and an import replaces a list
// file it cannot read.
func TestStoreFilesNotRegular(t *testing.T) {
	for _, file := range []string{"list.json", "decisions.json"} {
		for _, kind := range []string{"a FIFO", "a character device", "too large"} {
			t.Run(file+"/"+kind, func(t *testing.T) {
				s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
				if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
					t.Fatal(err)
				}
				path, bound := s.listPath(), maxListBytes
				if file == "decisions.json" {
					path, bound = s.decisionsPath(), maxDecisionsBytes
				}
				os.Remove(path)
				want := path + ": not a regular file (" + kind + ")"
				switch kind {
				case "a FIFO":
					if err := syscall.Mkfifo(path, 0o600); err != nil {
						t.Fatal(err)
					}
				case "a character device":
					if err := os.Symlink("/dev/zero", path); err != nil {
						t.Fatal(err)
					}
				default:
					// Sparse: no disk is spent on it.
					f, err := os.Create(path)
					if err != nil {
						t.Fatal(err)
					}
					if err := f.Truncate(bound + 1); err != nil {
						t.Fatal(err)
					}
					f.Close()
					want = path + ": file too large"
				}
				scr := &Screener{Store: s, Recheck: time.Nanosecond}
				for what, check := range map[string]func() string{
					"Screen": func() string {
						_, err := s.Screen("", org("exemplar", "DE", "Exemplar Lab GmbH"))
						if err == nil {
							return "no error"
						}
						return err.Error()
					},
					"Screener": func() string {
						sc := scr.Screening(org("exemplar", "DE", "Exemplar Lab GmbH"))
						if sc == nil || sc.Status != catalog.RestrictedUndetermined {
							return "not undetermined"
						}
						return sc.Source
					},
				} {
					done := make(chan string, 1)
					go func() { done <- check() }()
					select {
					case got := <-done:
						if !strings.Contains(got, want) {
							t.Errorf("%s: %s, want a refusal naming the file (%s)", what, got, want)
						}
					case <-time.After(5 * time.Second):
						if kind != "a FIFO" {
							panic(what + ": " + path + " as " + kind + ": still reading after 5s") // before memory runs out
						}
						// Let the blocked open through.
						if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
							f.Close()
						}
						t.Fatalf("%s: %s as %s: still waiting after 5s", what, path, kind)
					}
				}
				if file == "list.json" {
					// An import told to replace it is how a list that
					// cannot be read is repaired; one not told is
					// refused (TestImportOverDamagedListRefused).
					if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); !errors.Is(err, ErrStoredListDamaged) {
						t.Fatalf("import over %s, not told to replace it: %v, want ErrStoredListDamaged", kind, err)
					}
					done := make(chan error, 1)
					go func() {
						_, _, err := s.ImportWith("consolidated.csv", read(t, "csl-sample-id.csv"), ImportOptions{Damaged: true})
						done <- err
					}()
					select {
					case err := <-done:
						if err != nil {
							t.Fatalf("import over %s: %v", kind, err)
						}
					case <-time.After(5 * time.Second):
						if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
							f.Close()
						}
						t.Fatalf("import over %s: still waiting after 5s", kind)
					}
					if _, err := s.List(); err != nil {
						t.Errorf("after the import: %v", err)
					}
				}
			})
		}
	}
}

// TestStoreWritesNothingItCannotRead: a decision or an import that would
// take its file over the bound it is read back with is refused, and the
// file is left as it was, rather than written and then refused by every
// screening after it.
func TestStoreWritesNothingItCannotRead(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	o := org("exemplar", "DE", "Exemplar Lab GmbH")
	if _, err := s.Decide("", o, "e1003", Dismiss, "a.person", "different register number"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.decisionsPath())
	if err != nil {
		t.Fatal(err)
	}
	defer func(m int64) { maxDecisionsBytes = m }(maxDecisionsBytes)
	maxDecisionsBytes = fi.Size() + 10
	if _, err := s.Decide("", o, "e1003", Confirm, "a.person", "same register number"); err == nil || !strings.Contains(err.Error(), "bound") {
		t.Errorf("a decision over the bound: %v", err)
	}
	ds, err := s.Decisions()
	if err != nil || len(ds) != 1 || ds[0].Action != Dismiss {
		t.Errorf("decisions after a refused one: %+v %v", ds, err)
	}

	before, err := os.ReadFile(s.listPath())
	if err != nil {
		t.Fatal(err)
	}
	defer func(m int64) { maxListBytes = m }(maxListBytes)
	// Half the list's size: the list records its import's time, whose
	// text is a few bytes shorter when its nanoseconds end in zeros, so
	// the same import again may be shorter than before by a byte or two.
	maxListBytes = int64(len(before)) / 2
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err == nil || !strings.Contains(err.Error(), "bound") {
		t.Errorf("an import over the bound: %v", err)
	}
	maxListBytes = int64(len(before))
	if _, err := s.List(); err != nil {
		t.Errorf("the list after a refused import: %v", err)
	}
}
