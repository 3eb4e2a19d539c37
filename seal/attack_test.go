package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// A host that holds several objects' ciphertext may put one in another's
// place. Each object has its own keys (a dataset's are derived from its key
// and name; a run's checkpoints share the run key, one name a step), so a
// chunk or manifest moved from one to another fails to authenticate there,
// and its chunk ids do not even name the same content.
func TestReplayAcrossObjects(t *testing.T) {
	tenantKey, _ := NewKey()
	otherTenantKey, _ := NewKey()
	runKey, _ := NewKey()
	cases := []struct {
		name     string
		from, to *Sealer
	}{
		{"another dataset under the same key", mustNew(t, tenantKey, "corpus"), mustNew(t, tenantKey, "corpus-b")},
		{"another tenant's dataset of the same name", mustNew(t, tenantKey, "corpus"), mustNew(t, otherTenantKey, "corpus")},
		{"another step's checkpoint of the same run", mustNew(t, runKey, "ckpt-run-0a1b2c3d4e5f-a1-100"), mustNew(t, runKey, "ckpt-run-0a1b2c3d4e5f-a1-200")},
		{"another attempt's checkpoint of the same step", mustNew(t, runKey, "ckpt-run-0a1b2c3d4e5f-a1-100"), mustNew(t, runKey, "ckpt-run-0a1b2c3d4e5f-a2-100")},
		{"a checkpoint in place of a dataset", mustNew(t, runKey, "ckpt-run-0a1b2c3d4e5f-a1-100"), mustNew(t, tenantKey, "ckpt-run-0a1b2c3d4e5f-a1-100")},
	}
	plain := []byte("weights of step 100, or rows of a table")
	manifest := []byte(`{"version":1,"dataset":"corpus","files":[]}`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.from.ChunkID(plain)
			if tc.to.ChunkID(plain) == id {
				t.Fatal("the same content has the same chunk id in both objects")
			}
			sealed, err := tc.from.Seal(nil, id, plain)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tc.to.Open(nil, id, sealed); !errors.Is(err, ErrAuth) {
				t.Fatalf("chunk moved across objects: Open = %v, want ErrAuth", err)
			}
			if err := tc.to.CheckMAC(manifest, tc.from.MAC(manifest)); !errors.Is(err, ErrAuth) {
				t.Fatalf("manifest moved across objects: CheckMAC = %v, want ErrAuth", err)
			}
		})
	}
}

func mustNew(t *testing.T, k Key, name string) *Sealer {
	t.Helper()
	s, err := New(k, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The keys derived for each purpose differ from each other and from the
// dataset key itself, so that no output of one use (a chunk id, a MAC,
// chunk boundaries) is computed under another's key.
func TestDerivedKeysSeparate(t *testing.T) {
	s, k := mustSealer(t, "ds")
	keys := map[string][]byte{"dataset key": k[:], "name": s.nameKey, "mac": s.macKey, "seed": s.seed}
	seen := map[string]string{}
	for what, b := range keys {
		if len(b) != 32 {
			t.Fatalf("%s key: %d bytes", what, len(b))
		}
		if prev, ok := seen[string(b)]; ok {
			t.Fatalf("the %s key equals the %s key", what, prev)
		}
		seen[string(b)] = what
	}
}

// Every truncation, every extension and every single-bit change of a sealed
// chunk fails to authenticate.
func TestOpenRejectsEveryCutAndFlip(t *testing.T) {
	s, _ := mustSealer(t, "ds")
	plain := []byte("a chunk of forty-odd bytes of training data")
	id := s.ChunkID(plain)
	sealed, _ := s.Seal(nil, id, plain)
	for n := range len(sealed) {
		if _, err := s.Open(nil, id, sealed[:n]); !errors.Is(err, ErrAuth) {
			t.Fatalf("cut to %d of %d bytes: %v", n, len(sealed), err)
		}
	}
	for _, tail := range [][]byte{{0}, {1, 2, 3}, sealed} {
		if _, err := s.Open(nil, id, append(bytes.Clone(sealed), tail...)); !errors.Is(err, ErrAuth) {
			t.Fatalf("extended by %d bytes: %v", len(tail), err)
		}
	}
	for i := range len(sealed) * 8 {
		b := bytes.Clone(sealed)
		b[i/8] ^= 1 << (i % 8)
		if _, err := s.Open(nil, id, b); !errors.Is(err, ErrAuth) {
			t.Fatalf("bit %d flipped: %v", i, err)
		}
	}
}

// A failed Open returns nothing, and a good one leaves what dst held.
func TestOpenDst(t *testing.T) {
	s, _ := mustSealer(t, "ds")
	plain := []byte("payload")
	id := s.ChunkID(plain)
	sealed, _ := s.Seal(nil, id, plain)
	got, err := s.Open([]byte("prefix:"), id, sealed)
	if err != nil || string(got) != "prefix:payload" {
		t.Fatalf("Open onto a prefix = %q, %v", got, err)
	}
	sealed[len(sealed)-1] ^= 1
	if got, err := s.Open([]byte("prefix:"), id, sealed); got != nil || err == nil {
		t.Fatalf("altered chunk: Open = %q, %v; want nil and an error", got, err)
	}
}

// TestNewRefusesZeroKey: a Key never assigned (a field set later, on a path
// that skipped the assignment) is all zeros, and New derived a Sealer from
// it as from any key: a run's checkpoints or a dataset sealed under it,
// and pushed to a site's store, were readable and forgeable by anyone.
// New refuses it; its text form, which nothing generates, is refused too
// by ParseKey.
func TestNewRefusesZeroKey(t *testing.T) {
	if s, err := New(Key{}, "ds"); !errors.Is(err, ErrZeroKey) || s != nil {
		t.Fatalf("New(zero key) = %v, %v; want ErrZeroKey", s, err)
	}
	// A tenant's key, given to the server (PutKey), is text: the zero
	// key's is refused there, at the door, and not at the first staging.
	if k, err := ParseKey(Key{}.String()); !errors.Is(err, ErrZeroKey) || !strings.HasPrefix(err.Error(), "dataset key: ") {
		t.Fatalf("ParseKey(zero key's text) = %v, %v; want ErrZeroKey naming the dataset key", k, err)
	}
	if _, err := New(Key{31: 1}, "ds"); err != nil {
		t.Fatalf("a key with one bit set: %v", err)
	}
}
