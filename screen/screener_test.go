package screen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestScreener: a long-lived screener answers from the imported list,
// sees a new decision or import once its files change, and fails closed
// on a list it cannot read.
func TestScreener(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	scr := &Screener{Store: s, Recheck: time.Nanosecond}
	fuzzy := org("exemplar", "DE", "Exemplar Lab GmbH")
	if sc := scr.Screening(fuzzy); sc != nil {
		t.Fatalf("no list imported, yet a screening result: %+v", sc)
	}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	sc := scr.Screening(fuzzy)
	if sc == nil || sc.Status != catalog.RestrictedUndetermined || !strings.Contains(sc.Source, "e1003") {
		t.Fatalf("after import: %+v", sc)
	}
	if got := scr.Screening(fuzzy); got != sc {
		t.Errorf("the same organisation was screened again: %p then %p", sc, got)
	}
	// The same name in another organisation is screened on its own facts.
	if other := scr.Screening(org("exemplar", "FR", "Laboratoire Propre SAS")); other == nil || other.Status != catalog.RestrictedNone {
		t.Errorf("an organisation with the same name but other facts: %+v", other)
	}
	if _, err := s.Decide("", fuzzy, "e1003", Dismiss, "a.person", "different register number"); err != nil {
		t.Fatal(err)
	}
	if sc := scr.Screening(fuzzy); sc == nil || sc.Status != catalog.RestrictedNone || !strings.Contains(sc.Source, "dismissed by a.person") {
		t.Fatalf("after a dismissal: %+v", sc)
	}
	if err := os.WriteFile(s.listPath(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if sc := scr.Screening(fuzzy); sc == nil || sc.Status != catalog.RestrictedUndetermined || !strings.Contains(sc.Source, "could not be read") {
		t.Fatalf("an unreadable list must fail closed: %+v", sc)
	}
	if sc := scr.Screening(nil); sc != nil {
		t.Errorf("no organisation: %+v", sc)
	}
}

// BenchmarkScreenerHit is the cost a plan's query pays once the
// organisation has been screened.
func BenchmarkScreenerHit(b *testing.B) {
	s := &Store{Dir: b.TempDir()}
	data, err := os.ReadFile("testdata/csl-sample-id.csv")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Import("consolidated.csv", data); err != nil {
		b.Fatal(err)
	}
	scr := &Screener{Store: s}
	o := org("exemplar", "DE", "Exemplar Lab GmbH")
	scr.Screening(o)
	b.ResetTimer()
	for b.Loop() {
		scr.Screening(o)
	}
}

// TestScreenerSlowScreeningBlocksNoOne: screening an organisation the
// screener has not seen reads the whole list (seconds on a large one);
// another organisation's answer, already known, does not wait for it.
func TestScreenerSlowScreeningBlocksNoOne(t *testing.T) {
	var b strings.Builder
	b.WriteString("source,name,alt_names,addresses\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "Entity List (EL) - BIS,Zqx%d Northwind Research Institute %d,Alias%d One Corp; Other%d Holding,\"Tianjin, CN\"\n", i, i, i, i)
	}
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("big.csv", []byte(b.String())); err != nil {
		t.Fatal(err)
	}
	scr := &Screener{Store: s, Recheck: time.Hour}
	known := org("known", "DE", "Known Lab GmbH")
	scr.Screening(known)
	// As many aliases as the catalog lets its names total: with more
	// (64 of these) the organisation is not screened but held at once,
	// and there was nothing to wait for.
	newOrg := org("new", "DE", "Example Frontier Model Lab")
	for i := 0; ; i++ {
		a := fmt.Sprintf("Example Frontier Model Lab %d GmbH", i)
		if newOrg.ScreeningText()+len(a) > catalog.MaxScreeningText {
			break
		}
		newOrg.Spec.Aliases = append(newOrg.Spec.Aliases, a)
	}
	done := make(chan time.Duration)
	start := time.Now()
	go func() {
		scr.Screening(newOrg)
		done <- time.Since(start)
	}()
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	scr.Screening(known)
	fast := time.Since(t0)
	slow := <-done
	if slow < 400*time.Millisecond {
		t.Skipf("the slow screening took only %v: nothing to wait for", slow)
	}
	if fast > slow/2 {
		t.Errorf("a known organisation's answer took %v, waiting for another's screening (%v)", fast, slow)
	}
}

// TestScreenerReadErrorPasses: a list or decisions file that could not be
// read is read again after a rest, even when its size and time are as
// before (the read failed, not the file changed): the organisations are
// undetermined only while the error lasts, and a rest.
func TestScreenerReadErrorPasses(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	clean := org("clean-lab", "FR", "Laboratoire Propre SAS")
	if _, err := s.Decide("", clean, "e1003", Dismiss, "a.person", "not them"); err != nil {
		t.Fatal(err)
	}
	path := s.decisionsPath()
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// A read that fails: the same size and time, bytes that do not parse.
	bad := []byte(strings.Repeat("x", len(good)))
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	scr := &Screener{Store: s, Recheck: time.Nanosecond, now: func() time.Time { return now }}
	if sc := scr.Screening(clean); sc == nil || sc.Status != catalog.RestrictedUndetermined {
		t.Fatalf("while the file cannot be read: %+v", sc)
	}
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	now = now.Add(minRetry)
	if sc := scr.Screening(clean); sc == nil || sc.Status != catalog.RestrictedNone {
		t.Errorf("once the file reads again: %+v", sc)
	}
}

// TestStoredListThatIsNoListDenies: a list file that decodes but holds no
// list (null, no entries, fewer entries than its counts say, an entry
// without a name or id) is a list that failed to load: every organisation
// is undetermined, naming the problem, and the command line's screening
// fails. It was read as a list of no entries, against which the listed
// party below, and every other, screened none.
func TestStoredListThatIsNoListDenies(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	l, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv"))
	if err != nil {
		t.Fatal(err)
	}
	listed := org("exac", "CN", "Example Advanced Computing Co., Ltd.")
	cut := *l
	cut.Entries = l.Entries[:3]
	noName := *l
	noName.Entries = append([]Entry{}, l.Entries...)
	noName.Entries[0].Name = " "
	noID := *l
	noID.Entries = append([]Entry{}, l.Entries...)
	noID.Entries[1].ID = ""
	noCounts := *l
	noCounts.Counts = nil
	for name, doc := range map[string]any{"null": nil, "an empty object": map[string]any{}, "no entries": List{File: l.File, SHA256: l.SHA256, Counts: map[string]int{}},
		"fewer entries than counted": cut, "an entry without a name": noName, "an entry without an id": noID, "no counts": noCounts} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(s.listPath(), b, 0o600); err != nil {
				t.Fatal(err)
			}
			scr := &Screener{Store: s}
			if sc := scr.Screening(listed); sc == nil || sc.Status != catalog.RestrictedUndetermined || !strings.Contains(sc.Source, "could not be read") {
				t.Errorf("screening %s: %+v, want undetermined, the list unreadable", name, sc)
			}
			if _, err := s.Screen("", listed); err == nil || !strings.Contains(err.Error(), "list.json") {
				t.Errorf("Store.Screen: %v, want an error naming the file", err)
			}
		})
	}
	// The list as imported reads.
	good, _ := json.Marshal(l)
	if err := os.WriteFile(s.listPath(), good, 0o600); err != nil {
		t.Fatal(err)
	}
	if sc := (&Screener{Store: s}).Screening(listed); sc == nil || sc.Status != catalog.RestrictedEntityList {
		t.Errorf("the list as imported: %+v", sc)
	}
}

// TestListLostAfterDecisionsDenies: decisions are only recorded against
// an imported list, so a state directory with decisions and no list file
// lost its list (a partial restore, a file removed by hand): every
// organisation is undetermined, saying so, and the command line's
// screening fails. It was read as "no list imported", and the listed
// party below screened as the status it declares, none.
func TestListLostAfterDecisionsDenies(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decide("", org("exemplar", "DE", "Exemplar Lab GmbH"), "e1003", Dismiss, "a.person", "different register number"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.listPath()); err != nil {
		t.Fatal(err)
	}
	listed := org("exac", "CN", "Example Advanced Computing Co., Ltd.")
	if sc := (&Screener{Store: s}).Screening(listed); sc == nil || sc.Status != catalog.RestrictedUndetermined || !strings.Contains(sc.Source, "list.json") {
		t.Errorf("the list lost, decisions kept: %+v, want undetermined naming the missing list", sc)
	}
	if _, err := s.Screen("", listed); err == nil || errors.Is(err, ErrNoList) {
		t.Errorf("Store.Screen: %v, want an error other than no list imported", err)
	}
	// With neither file, no list was ever imported: screening is off.
	if err := os.Remove(s.decisionsPath()); err != nil {
		t.Fatal(err)
	}
	if sc := (&Screener{Store: s}).Screening(listed); sc != nil {
		t.Errorf("no list ever imported: %+v, want no screening", sc)
	}
}
