package dataset

import (
	"context"
	"errors"
	"io"
	"testing"
)

// downBucket fails every read and write, as a store that refuses the
// server does, in words of its own.
type downBucket struct{ lyingBucket }

var errDownBucket = errors.New("the store says: no (server words)")

func (downBucket) get(context.Context, string) (io.ReadCloser, int64, error) {
	return nil, 0, errDownBucket
}
func (downBucket) put(context.Context, string, []byte) error { return errDownBucket }
func (downBucket) del(context.Context, string) error         { return errDownBucket }

// TestStoreErrorsNameTheirObject: a failed read, write or removal of one
// object is an ObjectError naming the object's key as the caller gave it
// (not the Sub store's prefix, which is the server's layout), and still
// wraps the store's error; a read too large is one too. A caller that
// keeps the error's words from whom it reports to (a run's tenant) had
// to parse them to say which object failed.
func TestStoreErrorsNameTheirObject(t *testing.T) {
	ctx := context.Background()
	key := ChunkPrefix("people") + "ab/abcd"
	down := (&Store{b: downBucket{}}).Sub("t/acme/data/")
	calls := map[string]error{
		"Put":    Put(ctx, down, key, []byte("x")),
		"Delete": down.Delete(ctx, key),
	}
	_, calls["ReadObject"] = ReadObject(ctx, down, key, 10)
	_, calls["SameObject"] = SameObject(ctx, down, key, []byte("x"))
	_, calls["ReadObject of one too large"] = ReadObject(ctx, (&Store{b: lyingBucket{body: "x"}}).Sub("t/acme/data/"), key, 10)
	for what, err := range calls {
		got, ok := FailedObject(err)
		if !ok || got != key {
			t.Errorf("%s: %v names object %q (%v); want %q", what, err, got, ok, key)
		}
	}
	for _, what := range []string{"Put", "Delete", "ReadObject", "SameObject"} {
		if !errors.Is(calls[what], errDownBucket) {
			t.Errorf("%s: %v does not wrap the store's error", what, calls[what])
		}
	}
	if !errors.Is(calls["ReadObject of one too large"], ErrTooLarge) {
		t.Errorf("ReadObject of one too large: %v, want ErrTooLarge", calls["ReadObject of one too large"])
	}
	if _, ok := FailedObject(errDownBucket); ok {
		t.Error("FailedObject names an object of an error that names none")
	}
}
