package audit

import (
	"strings"
	"testing"
)

// controlFree fails t when s holds a control character: text Verify
// reports is printed to an operator's terminal (audit verify), where an
// escape sequence chosen by whoever wrote the database would act.
func controlFree(t *testing.T, what, s string) {
	t.Helper()
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			t.Errorf("%s holds control character %q: %q", what, r, s)
			return
		}
	}
}

// TestStoredHashesAreHex: without the key (audit verify --state on a
// directory whose audit.key is gone) Verify checks the links, not the
// hashes: a log whose hashes were all replaced by text of the writer's
// choosing, each entry naming the one before, verified, and its head,
// printed by audit verify, was that text. A hash that is not 64 hex
// digits is a modified entry, with the key or without.
func TestStoredHashesAreHex(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 4)
	prev := Genesis
	for i := range es {
		es[i].PrevHash = prev
		es[i].Hash = "\x1b]0;owned\x07\x1b[2J" + strings.Repeat("0", i)
		prev = es[i].Hash
	}
	for name, chain := range map[string]*Chain{"keyed": c, "unkeyed": NewUnkeyedChain()} {
		r := chain.Verify(es)
		if r.OK || r.Problem.Seq != 1 || r.Problem.Kind != Modified {
			t.Errorf("%s: hashes replaced by text: ok %v, head %q, problem %+v; want entry 1 modified", name, r.OK, r.Head, r.Problem)
			continue
		}
		controlFree(t, name+" detail", r.Problem.Detail)
	}
}

// TestForgedAcceptanceTextIsQuoted: what an acceptance records of the break
// it accepted is shown when it does not match the break found; without the
// key every acceptance counts, forged ones too, and their hashes were
// printed as stored.
func TestForgedAcceptanceTextIsQuoted(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 6)
	gap := append(append([]Entry(nil), es[:2]...), es[3:]...) // entry 3 gone
	acc, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: &Problem{Seq: 3, Kind: Deleted,
		Found: &Found{Last: 3, Before: "\x1b]0;owned\x07", Entry: 4, Hash: "\x1b[2J\x1b[H"}}})
	if err != nil {
		t.Fatal(err)
	}
	gap = appendTo(t, c, gap, acc)
	r := NewUnkeyedChain().Verify(gap)
	if r.OK || r.Problem.Seq != 3 || !strings.Contains(r.Problem.Detail, "accepted only the break found then") {
		t.Fatalf("a gap, a forged acceptance of another: %+v", r.Problem)
	}
	controlFree(t, "detail", r.Problem.Detail)
}
