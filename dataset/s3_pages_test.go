package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pagedListing is an S3-compatible server whose listings never end: each
// page holds keys (a fresh chunk id each) and says more follow. The
// test's guard cancels the caller's context once guard pages are served,
// so that a client that keeps asking is stopped and the test can say so.
func pagedListing(t *testing.T, keys int, guard int64, cancel context.CancelFunc) (*httptest.Server, *atomic.Int64) {
	var pages atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Query().Get("list-type") != "2" {
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		page := pages.Add(1)
		if page >= guard {
			cancel()
		}
		var b strings.Builder
		fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>p%d</NextContinuationToken>`, keys, page)
		for i := range keys {
			fmt.Fprintf(&b, `<Contents><Key>meridian/d/chunks/%016x%048x</Key><Size>1</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>`, page, i)
		}
		b.WriteString(`</ListBucketResult>`)
		w.Header().Set("Content-Type", "application/xml")
		w.Write([]byte(b.String()))
	}))
	t.Cleanup(srv.Close)
	return srv, &pages
}

// TestAttackEmptyPagesWithoutEnd: an S3 server that answers a listing
// with empty pages, each saying more follow under a new token, is refused
// after MaxEmptyPages of them (ErrListTooLong). Every bound on a listing
// counted the keys it yielded, and these yield none: the client asked for
// page after page until the caller's deadline, a staging or a withdrawal
// held all the while.
func TestAttackEmptyPagesWithoutEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, pages := pagedListing(t, 0, 10_000, cancel)
	st := openFakeS3(t, ctx, srv.URL)
	_, err := ChunksPresent(ctx, st, "d", nil, ListBound(0))
	if !errors.Is(err, ErrListTooLong) {
		t.Fatalf("a listing of empty pages without end: %v after %d pages; want ErrListTooLong", err, pages.Load())
	}
	if p := pages.Load(); p > MaxEmptyPages+1 {
		t.Fatalf("%d empty pages asked for, want at most %d", p, MaxEmptyPages+1)
	}
}

// TestS3ListingCutShortIsAnError: a listing whose context ends between two
// pages ends with an error. The S3 client's listing stops quietly when its
// context is done before it asks for the next page, so a cut listing read
// as a whole one: a removal cut by its deadline reported every object
// gone, with the pages it never read still at the site.
func TestS3ListingCutShortIsAnError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, pages := pagedListing(t, 1000, 100, cancel)
	st := openFakeS3(t, ctx, srv.URL)
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	n := 0
	var listErr error
	for _, err := range st.List(lctx, "meridian/d/") {
		if err != nil {
			listErr = err
			break
		}
		if n++; n == 1000 {
			lcancel() // the deadline falls as the first page's last key is read
		}
	}
	if listErr == nil {
		t.Fatalf("a listing cut after %d keys (%d pages) ended without an error", n, pages.Load())
	}
	if !errors.Is(listErr, context.Canceled) {
		t.Fatalf("a cut listing: %v, want the context's error", listErr)
	}
}

// openFakeS3 opens the store of bucket bkt at the S3 server at url, path
// style and without credentials, closed when t ends.
func openFakeS3(t *testing.T, ctx context.Context, url string) *Store {
	t.Helper()
	st, err := OpenStore(ctx, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestAttackAddTarEndlessListing: AddTar seals a less trusted process's
// output into a site's store, and first lists the chunks already there.
// That listing was read without a bound: a store whose listing never ends
// held the sealing until its caller gave up, every chunk-like key kept in
// memory. Now it is read within a bound (1<<20 objects, 20,000 here)
// besides the chunks the stream can make.
func TestAttackAddTarEndlessListing(t *testing.T) {
	old := addTarListBase
	addTarListBase = 20000
	t.Cleanup(func() { addTarListBase = old })
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bound := addTarListBound(10, 1<<20)
	guard := int64(bound/1000) + 200
	srv, pages := pagedListing(t, 1000, guard, cancel)
	st := openFakeS3(t, ctx, srv.URL)
	_, err := AddTar(ctx, "d", bytes.NewReader(nil), st, newSealer(t, "d"), 10, 1<<20)
	if !errors.Is(err, ErrListTooLong) {
		t.Fatalf("AddTar into a store listing without end: %v after %d pages; want ErrListTooLong", err, pages.Load())
	}
	if p := pages.Load(); p > int64(bound/1000)+2 {
		t.Fatalf("%d pages read of a listing bounded at %d objects", p, bound)
	}
}

// TestAttackAddEndlessListing: Add seals a directory into the dataset's
// home store, and first lists the chunks already there. The home store
// is not the owner's to vouch for (whoever runs the bucket's server
// chooses its listings), and that listing was read without a bound: a
// store whose listing never ends held the add until its caller gave up,
// every chunk-like key kept in memory. Now it is read within a bound
// (ListBound's million, 20,000 here, and 16 for each chunk the directory
// can make).
func TestAttackAddEndlessListing(t *testing.T) {
	old := addTarListBase
	addTarListBase = 20000
	t.Cleanup(func() { addTarListBase = old })
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("content"), 0o600); err != nil {
		t.Fatal(err)
	}
	bound := addListBound(1, 7)
	guard := int64(bound/1000) + 200
	srv, pages := pagedListing(t, 1000, guard, cancel)
	st := openFakeS3(t, ctx, srv.URL)
	_, err := Add(ctx, AddOptions{Name: "d", Root: root, Store: st, Sealer: newSealer(t, "d")})
	if !errors.Is(err, ErrListTooLong) {
		t.Fatalf("Add into a store listing without end: %v after %d pages; want ErrListTooLong", err, pages.Load())
	}
	if p := pages.Load(); p > int64(bound/1000)+2 {
		t.Fatalf("%d pages read of a listing bounded at %d objects", p, bound)
	}
}
