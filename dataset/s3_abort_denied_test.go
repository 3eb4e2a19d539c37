package dataset

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestS3AbortDeniedLeavesUploads: credentials that may list a bucket's
// unfinished uploads but not abort them (a policy without
// s3:AbortMultipartUpload) leave a stale upload to the bucket's lifecycle
// rule, as credentials that may not list them do: the staging's sweep and
// a removal go on, rather than failing at every try for as long as the
// upload is there.
func TestS3AbortDeniedLeavesUploads(t *testing.T) {
	var aborts, deletes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodGet && q.Has("uploads"):
			fmt.Fprint(w, `<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>`+
				`<Upload><Key>meridian/d/manifest</Key><UploadId>u1</UploadId><Initiated>2001-01-01T00:00:00Z</Initiated></Upload>`+
				`<Upload><Key>meridian/d/chunks/ab/x</Key><UploadId>u2</UploadId><Initiated>2001-01-01T00:00:00Z</Initiated></Upload>`+
				`</ListMultipartUploadsResult>`)
		case r.Method == http.MethodGet && q.Get("list-type") == "2":
			fmt.Fprint(w, `<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated></ListBucketResult>`)
		case r.Method == http.MethodDelete && q.Has("uploadId"):
			aborts.Add(1)
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
		case r.Method == http.MethodDelete:
			deletes.Add(1)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := openFakeS3(t, ctx, srv.URL)
	if n, err := RemoveStaleTemps(ctx, st, "d", time.Hour, 50); err != nil || n != 0 {
		t.Fatalf("sweep: %d removed, %v; want 0 and no error", n, err)
	}
	if a := aborts.Load(); a != 1 {
		t.Fatalf("%d aborts sent; want 1 (the first denied, the rest not tried)", a)
	}
	if _, err := Remove(ctx, st, "d", 50); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if deletes.Load() == 0 {
		t.Fatal("remove sent no delete of the manifest")
	}
}
