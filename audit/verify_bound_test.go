package audit

import (
	"strings"
	"testing"
	"time"
)

// An attacker who can write the database edits one entry and gives the
// last entry an enormous seq. Verify must still report the edit promptly:
// the search for where a broken entry was written must not be sized by a
// seq the attacker chose.
func TestVerifyHostileSeqBounded(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 6)
	es[2].Payload = []byte(`{"i":99}`)
	es[5].Seq = 1 << 60
	done := make(chan Result, 1)
	go func() { done <- c.Verify(es) }()
	select {
	case got := <-done:
		if got.OK || got.Problem == nil || got.Problem.Seq != 3 || got.Problem.Kind != Modified {
			t.Fatalf("got %+v, want entry 3 modified", got.Problem)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Verify did not finish within 5 s on a log whose last entry claims seq 2^60")
	}
}

// A log of many entries, one of them large (a transfer intent lists every
// chunk of its dataset), and that one edited: the search for where the
// edited entry was written hashed it at every position up to twice the
// log's length, its whole payload each time (here 40,000 times 4 MiB,
// minutes of hashing), and the server's start waited for it. The search
// is bounded in bytes hashed, and a moved entry is still placed.
func TestVerifyLargeEditedEntryBounded(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	const n, big = 20000, 9999
	es := make([]Entry, 0, n)
	var prev *Entry
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; i < n; i++ {
		payload := map[string]any{"i": i}
		if i == big {
			payload["objects"] = strings.Repeat("c", 4<<20)
		}
		rec, err := NewRecord(KindIntentForTest, "", payload)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, c.Seal(prev, t0.Add(time.Duration(i)*time.Millisecond), rec))
		prev = &es[len(es)-1]
	}
	es[big].Payload = []byte(strings.Replace(string(es[big].Payload), "ccc", "ddd", 1))
	done := make(chan Result, 1)
	start := time.Now()
	go func() { done <- c.Verify(es) }()
	select {
	case got := <-done:
		if got.OK || got.Problem == nil || got.Problem.Seq != big+1 || got.Problem.Kind != Modified {
			t.Fatalf("got %+v, want entry %d modified", got.Problem, big+1)
		}
		t.Logf("verified %d entries, one of 4 MiB edited, in %v", n, time.Since(start))
	case <-time.After(30 * time.Second):
		t.Fatal("Verify did not finish within 30 s on a log of 20,000 entries with one 4 MiB entry edited")
	}

	// An intact entry moved elsewhere is still found where it was written.
	moved := append([]Entry(nil), es[:n/2]...)
	moved = append(moved[:100:100], moved[101:]...)
	for i := 100; i < len(moved); i++ {
		moved[i].Seq--
	}
	got := c.Verify(moved)
	if got.OK || got.Problem.Seq != 101 || got.Problem.Kind != Deleted || !strings.Contains(got.Problem.Detail, "written as 102") {
		t.Fatalf("entry 101 deleted and later ones renumbered: %+v", got.Problem)
	}
}

// KindIntentForTest stands for the transfer package's intents.
const KindIntentForTest = "transfer-intent"

// seqOfCount is a Source that counts its SeqOf calls by hash.
type seqOfCount struct {
	Source
	calls map[string]int
}

func (s *seqOfCount) SeqOf(hash string) (int64, bool, error) {
	s.calls[hash]++
	return s.Source.SeqOf(hash)
}

// At a break Verify asks the log where the entry the broken one names as
// its predecessor is; a store answers by reading its whole log (it has no
// index on hash). An entry moved from elsewhere had that asked twice for
// the same hash: once to find where the entry was written, once to tell a
// reorder from a deletion.
func TestVerifyLooksUpEachHashOnce(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	for _, tc := range []struct {
		name   string
		edit   func(es []Entry) []Entry
		seq    int64
		kind   string
		detail string
	}{
		{"moved", func(es []Entry) []Entry {
			es[2], es[4] = es[4], es[2]
			es[2].Seq, es[4].Seq = 3, 5
			return es
		}, 3, Reordered, "holds the entry written as 5"},
		{"deleted and renumbered", func(es []Entry) []Entry {
			es = append(es[:2], es[3:]...)
			for i := 2; i < len(es); i++ {
				es[i].Seq--
			}
			return es
		}, 3, Deleted, "holds the entry written as 4; the one before it is gone and later entries were renumbered"},
		{"predecessor replaced", func(es []Entry) []Entry {
			es[3].PrevHash = es[0].Hash
			return es
		}, 4, Modified, "its contents no longer match its hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &seqOfCount{Source: SliceSource(tc.edit(chainOf(t, c, 8))), calls: map[string]int{}}
			r, err := c.VerifySource(src)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK || r.Problem.Seq != tc.seq || r.Problem.Kind != tc.kind || r.Problem.Detail != tc.detail {
				t.Fatalf("got %+v, want entry %d %s: %s", r.Problem, tc.seq, tc.kind, tc.detail)
			}
			for h, n := range src.calls {
				if n > 1 {
					t.Errorf("hash %s looked up %d times", h[:8], n)
				}
			}
		})
	}
}

// TestOriginKeepsToItsBudget: the search for where an unsound entry was
// written hashes it at nearby positions within a budget of bytes, but
// tried at least 16 positions whatever the entry's size: an entry of a
// gigabyte edited in the database cost 16 GB of hashing at each
// verification (every start, every tenant's request). Here the entry moved
// three positions away is found with the budget Verify uses, and not
// searched for with a budget below its size.
func TestOriginKeepsToItsBudget(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 40)
	moved := es[19] // written as entry 20
	moved.Seq = 23
	unknown := func(string) (int64, bool, error) { return 0, false, nil }
	budget := int64(originBudget)
	at, ok, _, err := c.origin(moved, 81, &budget, unknown)
	if err != nil || !ok || at != 20 {
		t.Fatalf("within the budget: found at %d, %v, %v; want 20", at, ok, err)
	}
	budget = 1
	if at, ok, searched, err := c.origin(moved, 81, &budget, unknown); err != nil || ok || searched {
		t.Fatalf("with a budget of 1 byte the entry was hashed at other positions (found at %d, %v, searched %v, %v)", at, ok, searched, err)
	}
}
