package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// stallingReadSite is an S3-compatible server that keeps what is put to
// it and reads it back as it was; the first read of an object calls
// onRead and then answers nothing until the request is given up.
func stallingReadSite(t *testing.T, onRead func()) *httptest.Server {
	var mu sync.Mutex
	objs := map[string][]byte{}
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodPut && !q.Has("uploadId"):
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			objs[r.URL.Path] = b
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
			b, ok := objs[r.URL.Path]
			mu.Unlock()
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `<Error><Code>NoSuchKey</Code><Message>no</Message></Error>`)
				return
			}
			stall := false
			once.Do(func() { stall = true })
			if stall {
				onRead()
				<-r.Context().Done()
				return
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
			w.Write(b)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A copy cancelled while it read back an object the site had taken
// confirmed that object as damaged: the read cut short by the copy's own
// cancellation said nothing of the bytes at the site, and the ledger said
// the site held bad ones. It is confirmed as crossed, and not as damaged.
func TestCancelDuringReadBackIsNotDamage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := stallingReadSite(t, cancel)
	f := newFixture(t, 3, 40<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	s := f.stager()
	s.Workers = 1
	if _, err := s.Stage(ctx, f.request()); err == nil {
		t.Fatal("the cancelled staging returned no error")
	}
	recs, err := f.ledger.Records(context.Background(), "", KindTransfer)
	if err != nil {
		t.Fatal(err)
	}
	var chunks, damaged int
	for _, r := range recs {
		var e Entry
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			t.Fatal(err)
		}
		chunks += e.ChunksSent
		damaged += e.Damaged
	}
	if chunks != 1 || damaged != 0 {
		t.Fatalf("the ledger confirms %d chunks, %d of them damaged; want the 1 the site took, none damaged", chunks, damaged)
	}
}
