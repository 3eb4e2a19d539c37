package dataset

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
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
	st := openFakeS3(t, ctx, srv.URL)
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

// TestAttackEndlessListingRemove: removing a dataset from a site's store
// whose listing never ends (every page a thousand new keys under the
// dataset, with more said to follow) stops at the bound the caller gives,
// with ErrListTooLong. Remove used to send a delete for every key the
// store named until the caller's deadline.
func TestAttackEndlessListingRemove(t *testing.T) {
	var pages, deletes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodDelete:
			deletes.Add(1)
			w.WriteHeader(http.StatusNoContent)
			return
		case r.Method != http.MethodGet || r.URL.Query().Get("list-type") != "2":
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		page := pages.Add(1)
		var b strings.Builder
		fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>p%d</NextContinuationToken>`, page)
		for i := range 1000 {
			fmt.Fprintf(&b, `<Contents><Key>meridian/d/chunks/%016x%048x</Key><Size>1</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>`, page, i)
		}
		b.WriteString(`</ListBucketResult>`)
		w.Header().Set("Content-Type", "application/xml")
		w.Write([]byte(b.String()))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := openFakeS3(t, ctx, srv.URL)
	n, err := Remove(ctx, st, "d", 5000)
	if !errors.Is(err, ErrListTooLong) || !strings.Contains(err.Error(), "over 5000 objects") {
		t.Fatalf("remove from a listing without end: %v (after %d pages, %d deletes), want ErrListTooLong naming the bound", err, pages.Load(), deletes.Load())
	}
	if p := pages.Load(); p > 8 {
		t.Fatalf("read %d pages of a listing bounded at 5,000 objects", p)
	}
	if d := deletes.Load(); d > 5001 || int64(n) != d {
		t.Fatalf("%d deletes sent, %d counted, for a bound of 5,000 objects", d, n)
	}
}

// TestAttackListingForeignKey: an S3 server whose listing of a dataset's
// prefix names a key outside it (here another tenant's, and a key that
// lacks the store's own prefix) is refused, the key named in the error.
// The key used to be yielded as one of the dataset's objects, trimmed of
// a prefix it did not have, for a removal to delete or a staging to count.
func TestAttackListingForeignKey(t *testing.T) {
	for _, foreign := range []string{"p/t/other/meridian/d/chunks/x", "t/acme/meridian/d/chunks/y"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>`+
				`<Contents><Key>p/t/acme/meridian/d/chunks/z</Key><Size>1</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>`+
				`<Contents><Key>%s</Key><Size>1</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents></ListBucketResult>`, foreign)
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		st, err := OpenStore(ctx, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&prefix=p/&endpoint="+srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		var listErr error
		for o, err := range st.Sub("t/acme/").List(ctx, "meridian/d/") {
			if err != nil {
				listErr = err
				break
			}
			keys = append(keys, o.Key)
		}
		st.Close()
		cancel()
		srv.Close()
		if !errors.Is(listErr, ErrForeignKey) || !strings.Contains(listErr.Error(), foreign) {
			t.Fatalf("listing naming %q: keys %q, error %v; want ErrForeignKey naming it", foreign, keys, listErr)
		}
		if len(keys) != 1 || keys[0] != "meridian/d/chunks/z" {
			t.Fatalf("keys yielded before the foreign one: %q", keys)
		}
	}
}
