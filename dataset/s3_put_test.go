package dataset

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestS3PutLargeObjectOnePut: an object larger than the S3 client's
// multipart threshold (a manifest of a large dataset or checkpoint) goes
// in one PUT. In parts, a write cut between them left the parts sent at
// the site (the client does not abort the upload): sealed bytes that
// crossed, invisible to a listing and to a reconcile, kept and billed at
// the site until someone aborts them there.
func TestS3PutLargeObjectOnePut(t *testing.T) {
	var mu sync.Mutex
	var reqs []string
	var got int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, r.Method+" "+r.URL.RawQuery)
		mu.Unlock()
		if r.Method != http.MethodPut || r.URL.RawQuery != "" {
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = n
		mu.Unlock()
		w.Header().Set("ETag", `"e"`)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := OpenStore(ctx, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	data := make([]byte, 20<<20)
	err = Put(ctx, st, ManifestKey("d"), data)
	mu.Lock()
	defer mu.Unlock()
	if err != nil || len(reqs) != 1 || got != int64(len(data)) {
		t.Fatalf("a put of %d bytes: %v; requests %q, %d bytes received; want one PUT of them all", len(data), err, reqs, got)
	}
}

// TestS3PutLargeObject: an object over the multipart threshold, sent in
// one PUT, reads back whole from a real S3-compatible server.
func TestS3PutLargeObject(t *testing.T) {
	st := s3Store(t)
	ctx := context.Background()
	data := make([]byte, 20<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	key := ManifestKey("large-put")
	if err := Put(ctx, st, key, data); err != nil {
		t.Fatal(err)
	}
	defer st.Delete(ctx, key)
	if same, err := SameObject(ctx, st, key, data); err != nil || !same {
		t.Fatalf("the object read back: same %v, %v", same, err)
	}
}
