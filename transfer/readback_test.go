package transfer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hidingSite is an S3-compatible server that takes every object put to it
// (counting the bytes it received) and then never shows it again: reads
// find nothing, listings are empty. With garble it lists nothing either,
// but a read of an object it took returns other bytes of its length.
func hidingSite(t *testing.T, garble bool) (*httptest.Server, *atomic.Int64) {
	var received atomic.Int64
	var mu sync.Mutex
	sizes := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodPut && !q.Has("uploadId"):
			n, _ := io.Copy(io.Discard, r.Body)
			received.Add(n)
			mu.Lock()
			sizes[r.URL.Path] = int(n)
			mu.Unlock()
			w.Header().Set("ETag", `"e"`)
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodGet && q.Has("uploads"):
			fmt.Fprint(w, `<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`)
		case r.Method == http.MethodGet && q.Get("list-type") == "2":
			fmt.Fprint(w, `<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated></ListBucketResult>`)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			if strings.HasSuffix(r.URL.Path, "/bkt/") || strings.HasSuffix(r.URL.Path, "/bkt") {
				fmt.Fprint(w, `<LocationConstraint>us-east-1</LocationConstraint>`)
				return
			}
			mu.Lock()
			n, ok := sizes[r.URL.Path]
			mu.Unlock()
			if garble && ok {
				w.Header().Set("Content-Length", fmt.Sprint(n))
				w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
				w.Write(make([]byte, n))
				return
			}
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<Error><Code>NoSuchKey</Code><Message>no</Message></Error>`)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &received
}

// A site that accepts a chunk and then hides it (or reads it back as
// other bytes) fails the copy's arrival check; the chunk's bytes crossed
// all the same. They were left to the next copy's reconcile, which found
// nothing there and recorded the chunk abandoned: every try sent the
// chunk again and the ledger counted none of it. Now what the site
// acknowledged is confirmed at once, and the ledger's total is what the
// site received.
func TestSiteHidingWhatItReceivedIsCounted(t *testing.T) {
	for _, garble := range []bool{false, true} {
		t.Run(fmt.Sprintf("garble=%v", garble), func(t *testing.T) {
			srv, received := hidingSite(t, garble)
			f := newFixture(t, 3, 40<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
			s := f.stager()
			s.Workers = 1
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for try := range 3 {
				if _, err := s.Stage(ctx, f.request()); err == nil {
					t.Fatalf("try %d: a staging to a site that hides what it receives succeeded", try)
				}
			}
			if received.Load() == 0 {
				t.Fatal("the site received nothing")
			}
			sums, err := Summarize(ctx, f.ledger, "")
			if err != nil {
				t.Fatal(err)
			}
			var confirmed, pending int64
			for _, s := range sums {
				confirmed += s.BytesConfirmed
				pending += s.BytesPending
			}
			if confirmed != received.Load() {
				t.Fatalf("the site received %d bytes; the ledger confirms %d (%d pending)", received.Load(), confirmed, pending)
			}
			open, err := OpenIntents(ctx, f.ledger, "", KindDataset, f.ds.Metadata.Name, f.site.Metadata.Name)
			if err != nil {
				t.Fatal(err)
			}
			var left int
			for _, in := range open {
				left += len(in.Objects)
			}
			if want := len(f.manifest.UniqueChunks()) - 1; left != want {
				t.Fatalf("%d objects left in open intents; want the %d never sent", left, want)
			}
		})
	}
}
