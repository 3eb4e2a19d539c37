package audit

import "testing"

// TestSealed: only an entry as sealed under the chain's key, at its own
// seq, is sealed; a chain without its key vouches for none.
func TestSealed(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 3)
	if !c.Sealed(es[1]) {
		t.Fatal("an entry as sealed is not Sealed")
	}
	moved := es[1]
	moved.Seq = 3
	forged := es[1]
	forged.Payload = []byte(`{"key":"00"}`)
	format := es[1]
	format.Version = 7
	for name, e := range map[string]Entry{"moved": moved, "forged": forged, "format": format} {
		if c.Sealed(e) {
			t.Errorf("%s entry is Sealed", name)
		}
	}
	if NewChain([]byte("another key 1234")).Sealed(es[1]) {
		t.Error("an entry is Sealed under another key")
	}
	if NewUnkeyedChain().Sealed(es[1]) {
		t.Error("a chain without its key calls an entry Sealed")
	}
}
