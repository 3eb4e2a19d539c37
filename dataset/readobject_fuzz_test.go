package dataset

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"testing"
	"testing/iotest"
	"time"
)

// claimBucket serves one object: the bytes body, declared to be size
// long (-1: undeclared), read in pieces of at most piece bytes, and
// failing after them with readErr when set. It is a store that may lie
// about every part of its answer.
type claimBucket struct {
	body    []byte
	size    int64
	piece   int
	readErr error
}

func (b claimBucket) get(context.Context, string) (io.ReadCloser, int64, error) {
	var r io.Reader = bytes.NewReader(b.body)
	if b.piece > 0 {
		r = &pieces{r: r, n: b.piece}
	}
	if b.readErr != nil {
		r = io.MultiReader(r, iotest.ErrReader(b.readErr))
	}
	return io.NopCloser(r), b.size, nil
}
func (claimBucket) put(context.Context, string, []byte) error { return errors.New("read-only") }
func (claimBucket) del(context.Context, string) error         { return errors.New("read-only") }
func (claimBucket) delMany(context.Context, []string) error   { return errors.New("read-only") }
func (claimBucket) list(context.Context, string) iter.Seq2[Object, error] {
	return func(func(Object, error) bool) {}
}
func (claimBucket) abortUploads(context.Context, string, time.Time, int) (int, error) {
	return 0, nil
}
func (claimBucket) uploads(context.Context, string, func(string) bool, int) ([]Unfinished, error) {
	return nil, nil
}
func (claimBucket) abortUpload(context.Context, string, string) error { return nil }
func (claimBucket) close() error                                      { return nil }

// pieces reads at most n bytes a call.
type pieces struct {
	r io.Reader
	n int
}

func (p *pieces) Read(b []byte) (int, error) { return p.r.Read(b[:min(len(b), p.n)]) }

// FuzzReadObject: whatever length a store declares, whatever it sends and
// however it cuts its answer, ReadObject returns exactly the bytes sent,
// and only when they and the declared length are within the caller's
// limit, no more than declared, and end cleanly; SameObject says "the
// same" only for exactly the bytes wanted, declared at their length.
func FuzzReadObject(f *testing.F) {
	f.Add([]byte("0123456789"), int64(10), int64(10), 0, false, []byte("0123456789"))
	f.Add([]byte("0123456789"), int64(1<<30), int64(1<<30), 3, false, []byte("01234"))
	f.Add([]byte("0123456789"), int64(-1), int64(5), 1, false, []byte("0123456789"))
	f.Add([]byte("0123456789"), int64(4), int64(100), 7, true, []byte("0123"))
	f.Add([]byte{}, int64(0), int64(0), 0, false, []byte{})
	f.Fuzz(func(t *testing.T, body []byte, size, limit int64, piece int, fail bool, want []byte) {
		if limit < 0 || limit > 1<<20 || size < -1 || piece < 0 {
			return
		}
		b := claimBucket{body: body, size: size, piece: piece}
		if fail {
			b.readErr = errors.New("connection reset")
		}
		st := &Store{b: b, URL: "s3://fuzz"}
		ctx := context.Background()
		got, err := ReadObject(ctx, st, "k", limit)
		// A declared length above what arrives is not caught here (an S3
		// answer's body that stops short is the transport's error, and
		// every caller checks the length it expects); one below it is.
		whole := !fail && int64(len(body)) <= limit && size <= limit && (size < 0 || size >= int64(len(body)))
		switch {
		case err == nil && !whole:
			t.Fatalf("body %d bytes, declared %d, limit %d, failing %v: read %d bytes without an error", len(body), size, limit, fail, len(got))
		case err == nil && !bytes.Equal(got, body):
			t.Fatalf("read %q, sent %q", got, body)
		case err != nil && whole:
			t.Fatalf("body %d bytes, declared %d, limit %d: %v", len(body), size, limit, err)
		case err != nil && int64(len(body)) > limit && size <= limit && !errors.Is(err, ErrTooLarge):
			t.Fatalf("body %d bytes over the limit %d: %v, want ErrTooLarge", len(body), limit, err)
		}
		same, err := SameObject(ctx, st, "k", want)
		exact := !fail && bytes.Equal(body, want) && (size < 0 || size == int64(len(body)))
		if same != exact || (err != nil && !fail) {
			t.Fatalf("SameObject(body %q declared %d, want %q, failing %v) = %v, %v", body, size, want, fail, same, err)
		}
	})
}
