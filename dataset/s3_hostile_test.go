package dataset

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestAttackEndlessS3Page: an S3-compatible server that answers a listing
// with one page that never ends (keys streamed for as long as the client
// reads) is cut off at MaxS3Response. The client decodes a page whole, so
// it used to read, and keep, every key until the caller's deadline.
func TestAttackEndlessS3Page(t *testing.T) {
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.RawQuery == "" {
			// An object's content is not cut: its reader bounds it.
			w.Header().Set("Content-Length", fmt.Sprint(bigObject))
			w.Header().Set("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")
			w.Header().Set("ETag", `"e"`)
			w.Write(make([]byte, bigObject))
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><IsTruncated>false</IsTruncated>`)
		for i := 0; r.Context().Err() == nil; i++ {
			n, err := fmt.Fprintf(w, `<Contents><Key>meridian/d/chunks/%064x</Key><Size>1</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>`, i)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := OpenStore(ctx, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	var listErr error
	n := 0
	for _, err := range st.List(ctx, "meridian/d/") {
		if err != nil {
			listErr = err
			break
		}
		n++
	}
	if !errors.Is(listErr, ErrResponseTooLarge) {
		t.Fatalf("endless page: %v after %v, %d bytes sent, %d objects yielded; want ErrResponseTooLarge", listErr, time.Since(start), sent.Load(), n)
	}
	if n != 0 {
		t.Fatalf("%d objects yielded from a page that was cut off", n)
	}
	data, err := ReadObject(ctx, st, "meridian/d/manifest", bigObject)
	if err != nil || len(data) != bigObject {
		t.Fatalf("an object of %d bytes: %d bytes read, %v", bigObject, len(data), err)
	}
}

// bigObject is larger than any S3 answer but an object's content may be.
const bigObject = MaxS3Response + 1<<20
