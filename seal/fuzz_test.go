package seal

import "testing"

// FuzzParseKey: no input panics; an accepted key prints back to itself.
func FuzzParseKey(f *testing.F) {
	f.Add("meridian-dataset-key-v1:AQIDBAUGBwgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("meridian-dataset-key-v1:")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			return
		}
		if k2, err := ParseKey(k.String()); err != nil || k2 != k {
			t.Fatalf("round trip of %q failed", s)
		}
	})
}

// FuzzParseID: no input panics; an accepted id prints back to the input.
func FuzzParseID(f *testing.F) {
	f.Add("8663147fe58241cdead05d0bbe89cdedce2f37730d5b28c6426235a2e632b6ac")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q) prints as %q", s, id)
		}
	})
}

// FuzzOpen: arbitrary sealed bytes never panic and never authenticate.
func FuzzOpen(f *testing.F) {
	s, err := New(Key{7}, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	id := s.ChunkID([]byte("x"))
	good, _ := s.Seal(nil, id, []byte("x"))
	f.Add(good[:len(good)-1])
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := s.Open(nil, id, b); err == nil && string(b) != string(good) {
			// A different valid sealing of "x" under the same key is only
			// possible with the key; the fuzzer cannot find one.
			t.Fatalf("forged chunk authenticated: %x", b)
		}
	})
}
