package audit

import "testing"

// TestSumGolden pins the entry hash of both formats, keyed and not: a log
// sealed by any version must verify under every later one, so how an
// entry is hashed may be written anew but never changed.
func TestSumGolden(t *testing.T) {
	e := Entry{Time: "2026-01-02T03:04:05.000000000Z", Kind: "state", RunID: "r1", Payload: []byte(`{"i":1}`), PrevHash: Genesis}
	for _, c := range []struct {
		version int
		tenant  string
		key     []byte
		want    string
	}{
		{1, "acme", []byte("0123456789abcdef"), "e03dac6aff8508e05dd5efea0ca66a3dc376863580a01b0a4e7e569feedfb301"},
		{1, "acme", nil, "d24e7c6a256e880248e5522c8b6f7e63fbb36654474b7b8bef49012da5ba0f6e"},
		{2, "acme", []byte("0123456789abcdef"), "702922d0a6f0f5a4da40596c96e823e8ead1ec7bda787d2ad3b42d1323584b1c"},
		{2, "acme", nil, "87b65dee935561cf36de5c834b8b62e2f4ca047beea711873e6887e92817f872"},
	} {
		e.Version, e.Tenant = c.version, c.tenant
		if got := NewChain(c.key).sum(e, 7); got != c.want {
			t.Errorf("format %d, key %q: %s, want %s", c.version, c.key, got, c.want)
		}
	}
}
