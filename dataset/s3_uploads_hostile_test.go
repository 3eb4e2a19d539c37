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

// TestAttackS3UploadListing: the sweep of a dataset's unfinished uploads
// reads a site's listing of them within bounds: a listing that hands the
// same page again, or empty pages for ever, or more uploads than the
// bound, is refused (ErrListTooLong) after a bounded number of requests;
// one that names an upload outside the dataset's prefix is refused
// (ErrForeignKey) and nothing of it aborted. However large the caller's
// bound on objects, at most MaxUploads uploads are read (each would be
// aborted with a request of its own). A server that does not let
// the store list uploads leaves the sweep to it, and the staging goes on.
func TestAttackS3UploadListing(t *testing.T) {
	const limit = 50
	recent := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name string
		page func(n int64) (status int, body string)
		want error
		max  int64 // requests for pages at most
	}{
		{"same page again", func(n int64) (int, string) {
			return 200, `<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker>` +
				`<Upload><Key>meridian/d/manifest</Key><UploadId>u</UploadId><Initiated>` + recent + `</Initiated></Upload></ListMultipartUploadsResult>`
		}, ErrListTooLong, 3},
		{"empty pages", func(n int64) (int, string) {
			return 200, fmt.Sprintf(`<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k%d</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker></ListMultipartUploadsResult>`, n)
		}, ErrListTooLong, MaxEmptyPages + 2},
		{"endless uploads", func(n int64) (int, string) {
			return 200, fmt.Sprintf(`<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k%d</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker>`+
				`<Upload><Key>meridian/d/manifest</Key><UploadId>u%d</UploadId><Initiated>%s</Initiated></Upload></ListMultipartUploadsResult>`, n, n, recent)
		}, ErrListTooLong, limit + 2},
		{"endless uploads, a large bound", func(n int64) (int, string) {
			var b strings.Builder
			fmt.Fprintf(&b, `<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k%d</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker>`, n)
			for i := range 1000 {
				fmt.Fprintf(&b, `<Upload><Key>meridian/d/manifest</Key><UploadId>u%d-%d</UploadId><Initiated>%s</Initiated></Upload>`, n, i, recent)
			}
			b.WriteString(`</ListMultipartUploadsResult>`)
			return 200, b.String()
		}, ErrListTooLong, MaxUploads/1000 + 1},
		{"foreign key", func(n int64) (int, string) {
			return 200, `<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>` +
				`<Upload><Key>meridian/other/manifest</Key><UploadId>u</UploadId><Initiated>2001-01-01T00:00:00Z</Initiated></Upload></ListMultipartUploadsResult>`
		}, ErrForeignKey, 1},
		{"access denied", func(n int64) (int, string) {
			return 403, `<Error><Code>AccessDenied</Code><Message>no</Message></Error>`
		}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pages, aborts atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				switch {
				case r.Method == http.MethodGet && q.Has("uploads"):
					status, body := tc.page(pages.Add(1))
					w.WriteHeader(status)
					fmt.Fprint(w, body)
				case r.Method == http.MethodGet && q.Get("list-type") == "2":
					fmt.Fprint(w, `<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated></ListBucketResult>`)
				case r.Method == http.MethodDelete:
					aborts.Add(1)
					w.WriteHeader(http.StatusNoContent)
				default:
					w.WriteHeader(http.StatusNotImplemented)
				}
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			st := openFakeS3(t, ctx, srv.URL)
			bound := limit
			if strings.HasSuffix(tc.name, "a large bound") {
				bound = ListBound(1 << 20) // a large dataset's bound on its objects
			}
			_, err := RemoveStaleTemps(ctx, st, "d", 0, bound)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("sweep: %v, want %v", err, tc.want)
			}
			if pages.Load() > tc.max || aborts.Load() != 0 {
				t.Fatalf("%d pages asked for (at most %d), %d uploads aborted (none)", pages.Load(), tc.max, aborts.Load())
			}
		})
	}
}
