package dataset

import (
	"context"
	"errors"
	"io"
	"iter"
	"runtime"
	"strings"
	"testing"
	"time"
)

// lyingBucket declares every object 1 GiB long and sends a few bytes: a
// hostile S3 endpoint that answers with a large Content-Length and then
// stops (or drips).
type lyingBucket struct{ body string }

func (b lyingBucket) get(context.Context, string) (io.ReadCloser, int64, error) {
	return io.NopCloser(strings.NewReader(b.body)), 1 << 30, nil
}
func (lyingBucket) put(context.Context, string, []byte) error { return errors.New("read-only") }
func (lyingBucket) del(context.Context, string) error         { return errors.New("read-only") }
func (lyingBucket) delMany(context.Context, []string) error   { return errors.New("read-only") }
func (lyingBucket) list(context.Context, string) iter.Seq2[Object, error] {
	return func(func(Object, error) bool) {}
}
func (lyingBucket) abortUploads(context.Context, string, time.Time, int) (int, error) {
	return 0, nil
}
func (lyingBucket) uploads(context.Context, string, func(string) bool, int) ([]Unfinished, error) {
	return nil, nil
}
func (lyingBucket) abortUpload(context.Context, string, string) error { return nil }
func (lyingBucket) close() error                                      { return nil }

// A store's declared size is a claim: reading a manifest (whose limit is
// 1 GiB) from a store that declares 1 GiB and sends 10 bytes must cost
// memory in proportion to the bytes sent, not to the claim.
func TestReadObjectDeclaredSizeIsNotAllocated(t *testing.T) {
	st := &Store{b: lyingBucket{body: "0123456789"}, URL: "s3://liar"}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := ReadObject(context.Background(), st, ManifestKey("d"), MaxManifestBytes)
	runtime.ReadMemStats(&after)
	if err != nil || string(got) != "0123456789" {
		t.Fatalf("ReadObject = %q, %v; want the 10 bytes sent", got, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Errorf("reading 10 bytes allocated %d MiB because the store declared 1 GiB", n>>20)
	}
}

// unsizedBucket serves every object without declaring its length, as a
// server streaming its answer does.
type unsizedBucket struct{ lyingBucket }

func (b unsizedBucket) get(context.Context, string) (io.ReadCloser, int64, error) {
	return io.NopCloser(strings.NewReader(b.body)), -1, nil
}

// An object whose length the store does not declare is read up to the
// caller's limit: it was taken as declared empty, and every such object
// refused as longer than declared.
func TestReadObjectOfUndeclaredLength(t *testing.T) {
	st := &Store{b: unsizedBucket{lyingBucket{body: "0123456789"}}, URL: "s3://streams"}
	got, err := ReadObject(context.Background(), st, ManifestKey("d"), 64)
	if err != nil || string(got) != "0123456789" {
		t.Fatalf("ReadObject = %q, %v; want the 10 bytes sent", got, err)
	}
	if got, err := ReadObject(context.Background(), st, ManifestKey("d"), 9); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadObject over its limit = %q, %v; want ErrTooLarge", got, err)
	}
}

// SameObject compares an object of undeclared length by reading it.
func TestSameObjectOfUndeclaredLength(t *testing.T) {
	st := &Store{b: unsizedBucket{lyingBucket{body: "0123456789"}}, URL: "s3://streams"}
	for want, same := range map[string]bool{"0123456789": true, "012345678": false, "0123456789a": false} {
		if got, err := SameObject(context.Background(), st, "k", []byte(want)); err != nil || got != same {
			t.Errorf("SameObject(%q) = %v, %v; want %v", want, got, err, same)
		}
	}
}
