package dataset

import (
	"context"
	"errors"
	"io"
	"iter"
	"runtime"
	"strings"
	"testing"
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
func (lyingBucket) close() error { return nil }

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
