package dataset

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestAttackTrickleS3Object: a site's S3 server that sends an object one
// byte at a time, each just inside the idle bound, never tripped it, and
// held a read (and a reconcile reading many) for as long as it cared to.
// The read now has a deadline from the object's size at the store's floor
// rate, and fails past it with ErrReadDeadline, the object not yet whole.
func TestAttackTrickleS3Object(t *testing.T) {
	const size = 1000
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Header().Set("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")
		w.Header().Set("ETag", `"e"`)
		for range size {
			if _, err := w.Write([]byte{1}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			sent.Add(1)
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond): // well inside the idle bound
			}
		}
	}))
	defer srv.Close()
	// The bound on the whole test only keeps a failing run from hanging;
	// what is asserted is the error, and how much had arrived.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := OpenStore(ctx, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&read_idle=200ms&endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := st.b.(*s3Bucket)
	if b.minRate != MinReadRate {
		t.Fatalf("a store's floor rate is %d, want MinReadRate", b.minRate)
	}
	// 1,000 bytes at 2,000 a second: half a second past the idle bound,
	// where the trickle (50 bytes a second) needs twenty.
	b.minRate = 2000
	_, err = ReadObject(ctx, st, "meridian/d/manifest", size)
	if !errors.Is(err, ErrReadDeadline) {
		t.Fatalf("a server trickling the object: %v, want ErrReadDeadline", err)
	}
	if n := sent.Load(); n >= size {
		t.Fatalf("the server sent all %d bytes before the read failed", n)
	}
	if !Transient(err) {
		t.Fatalf("a read too slow is a passing failure: Transient(%v) = false", err)
	}
}
