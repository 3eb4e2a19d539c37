package screen

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// rekeyHistory is a decisions history of n dismissals, each of another
// organisation and recorded with an earlier hash of its entry, as an
// install that upgraded holds them: an import carries each over.
func rekeyHistory(t testing.TB, n int) ([]Decision, *List) {
	s := &Store{Dir: t.TempDir()}
	l, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv"))
	if err != nil {
		t.Fatal(err)
	}
	ds := make([]Decision, n)
	for i := range ds {
		e := &l.Entries[i%len(l.Entries)]
		ds[i] = Decision{Org: fmt.Sprintf("org-%d", i), Tenant: catalog.DefaultTenant, Fingerprint: fmt.Sprintf("fp-%d", i), EntryID: e.ID,
			Action: Dismiss, By: "a.person", Reason: "other company", EntrySHA256: e.contentHashV1()}
	}
	return ds, l
}

// BenchmarkRekey is an import's carrying over of the dismissals of a
// long history recorded with earlier hashes.
func BenchmarkRekey(b *testing.B) {
	ds, l := rekeyHistory(b, 20_000)
	next := &List{File: "next.csv", ImportedAt: time.Now()}
	for b.Loop() {
		if got := rekey(ds, l, next); len(got) != len(ds) {
			b.Fatalf("%d carried over, want %d", len(got), len(ds))
		}
	}
}

// TestRekeyAsEachLaterDecisionSays: rekey carries a dismissal over exactly
// when no later decision supersedes it, on random histories of a few
// organisations, fingerprints, tenants and entries, whatever way it finds
// them.
func TestRekeyAsEachLaterDecisionSays(t *testing.T) {
	_, l := rekeyHistory(t, 0)
	next := &List{File: "next.csv", ImportedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	for range 500 {
		ds := make([]Decision, r.IntN(12))
		for i := range ds {
			e := &l.Entries[r.IntN(3)]
			ds[i] = Decision{Org: pick("a", "b"), Tenant: pick("", catalog.DefaultTenant, "lab"), Fingerprint: pick("", "f1", "f2"),
				EntryID: e.ID, Action: pick(Dismiss, Dismiss, Confirm), EntrySHA256: pick(e.contentHashV1(), e.contentHashV2(), e.ContentHash(), "", "other")}
		}
		// Each dismissal judged against every decision after it.
		var want []Decision
		for _, d := range rekeyEach(ds, l) {
			d.Rekeyed = &Rekeyed{From: d.EntrySHA256, ListSHA256: l.SHA256, File: next.File, At: next.ImportedAt}
			for i := range l.Entries {
				if l.Entries[i].ID == d.EntryID {
					d.EntrySHA256 = l.Entries[i].ContentHash()
				}
			}
			want = append(want, d)
		}
		if got := rekey(slices.Clone(ds), l, next); !reflect.DeepEqual(got, want) {
			t.Fatalf("history %+v:\ncarried over %+v,\nwant %+v", ds, got, want)
		}
	}
}

// rekeyEach is the dismissals of ds that rekey carries over, each judged
// against every decision after it (supersedes).
func rekeyEach(ds []Decision, prev *List) []Decision {
	var out []Decision
	for j, d := range ds {
		if d.Action != Dismiss || d.EntrySHA256 == "" {
			continue
		}
		var e *Entry
		for i := range prev.Entries {
			if prev.Entries[i].ID == d.EntryID {
				e = &prev.Entries[i]
			}
		}
		if e == nil || d.EntrySHA256 == e.ContentHash() || d.EntrySHA256 != e.contentHashV2() && d.EntrySHA256 != e.contentHashV1() {
			continue
		}
		if !slices.ContainsFunc(ds[j+1:], func(k Decision) bool { return supersedes(&k, &d) }) {
			out = append(out, d)
		}
	}
	return out
}
