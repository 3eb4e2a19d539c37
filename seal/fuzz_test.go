package seal

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseKey: no input panics; an accepted key prints back to itself,
// and to the text it was read from, less surrounding space.
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
		if k.String() != strings.TrimSpace(s) {
			t.Fatalf("ParseKey(%q) took another spelling of %q", s, k.String())
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

// FuzzUnwrapKey: arbitrary bytes offered as a wrapped key never panic, and
// nothing but a genuine wrapping (which only the seeds are: age
// authenticates what it decrypts) yields a key, and then the wrapped one.
func FuzzUnwrapKey(f *testing.F) {
	want := Key{1, 2, 3}
	good := wrapText(f, want.String())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(wrapText(f, "meridian-dataset-key-v1:"))
	f.Add(wrapText(f, want.String()+strings.Repeat(" ", 5000)))
	f.Add([]byte("-----BEGIN AGE ENCRYPTED FILE-----\n-----END AGE ENCRYPTED FILE-----\n"))
	f.Add([]byte("age-encryption.org/v1\n-> X25519 AAAA\nAAAA\n--- AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		IsWrapped(b)
		k, err := UnwrapKey(b, testIdentity)
		if err == nil && k != want {
			t.Fatalf("unwrapped a key that was never wrapped: %x", b)
		}
	})
}

// FuzzRecipientsOf: no identity file panics, and every recipient returned
// is one WrapKey takes.
func FuzzRecipientsOf(f *testing.F) {
	f.Add(testIdentity)
	f.Add("# created: 2026-01-01\n" + testIdentity + "\n")
	f.Add("AGE-SECRET-KEY-1")
	f.Add("AGE-PLUGIN-YUBIKEY-1QQQQQQ")
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := RecipientsOf(s)
		if err != nil {
			return
		}
		if _, err := WrapKey(Key{}, rs...); err != nil {
			t.Fatalf("RecipientsOf(%q) = %q, which WrapKey refuses: %v", s, rs, err)
		}
	})
}

// FuzzWrapKeyError: whatever is given as a recipient, WrapKey's error
// quotes it only when it reads as an X25519 recipient (age1…, lower case):
// anything else may be a secret given there by mistake.
func FuzzWrapKeyError(f *testing.F) {
	f.Add(testIdentity)
	f.Add(Key{1}.String())
	f.Add("age1notarecipient")
	f.Add("AGE1QQQQ")
	f.Fuzz(func(t *testing.T, r string) {
		_, err := WrapKey(Key{1}, r)
		if err == nil {
			return
		}
		r = strings.TrimSpace(r)
		if strings.HasPrefix(r, "age1") && !strings.HasPrefix(r, "age1pq1") && strings.ToLower(r) == r {
			return
		}
		if r != "" && strings.Contains(err.Error(), strconv.Quote(r)) {
			t.Fatalf("WrapKey's error quotes %q: %v", r, err)
		}
	})
}
