package dataset

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestSameObject: the read-back check after a write says yes only for the
// very bytes, across piece boundaries, and tells a missing object apart.
func TestSameObject(t *testing.T) {
	ctx := context.Background()
	b, err := OpenStore(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320,000 bytes: several pieces
	if err := Put(ctx, b, "k", data); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(data)
	flipped[200000] ^= 1
	for _, c := range []struct {
		name string
		want []byte
		same bool
	}{
		{"the same bytes", data, true},
		{"one byte flipped past the first piece", flipped, false},
		{"shorter", data[:len(data)-1], false},
		{"longer", append(bytes.Clone(data), 'x'), false},
		{"empty", nil, false},
	} {
		got, err := SameObject(ctx, b, "k", c.want)
		if err != nil || got != c.same {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.same)
		}
	}
	if _, err := SameObject(ctx, b, "missing", data); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing object: %v", err)
	}
}
