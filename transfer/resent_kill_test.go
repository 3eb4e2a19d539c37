package transfer

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"
)

// deadLedger is a ledger that records nothing once dead: a process
// killed at that point.
type deadLedger struct {
	Ledger
	dead *atomic.Bool
}

func (l deadLedger) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	if l.dead.Load() {
		return errors.New("killed")
	}
	return l.Ledger.Append(ctx, tenant, kind, runID, payload)
}

// countingBody counts what a server read of a request's body.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestAttackSiteAnswers5xxThenKill: a site answers a chunk's PUT, body
// received, with a server error, so that the client sends the body again,
// and takes the second; the copy is killed once the batch is at the site,
// before its confirmation (a site that stalls its answers to the arrival
// check holds that window open). The bytes of the try the site answered
// with an error crossed, and were known only to the killed copy: the
// reconcile finds each chunk once. Every byte the site received must be
// on a record.
func TestAttackSiteAnswers5xxThenKill(t *testing.T) {
	old := minio.MaxRetry
	minio.MaxRetry = 2
	t.Cleanup(func() { minio.MaxRetry = old })
	m := &memS3{objs: map[string][]byte{}}
	var received atomic.Int64
	var failed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			r.Body = countingBody{r.Body, &received}
			if strings.Contains(r.URL.Path, "/chunks/") && failed.CompareAndSwap(false, true) {
				io.Copy(io.Discard, r.Body)
				m.fail(w, http.StatusInternalServerError, "InternalError")
				return
			}
		}
		m.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f := newFixture(t, 3, 100<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	ctx := context.Background()
	var dead atomic.Bool
	beforeConfirm = func() { dead.Store(true) }
	t.Cleanup(func() { beforeConfirm = nil })
	s := f.stager()
	s.Workers = 1
	s.Ledger = deadLedger{f.ledger, &dead}
	if _, err := s.Stage(ctx, f.request()); err == nil {
		t.Fatal("a staging killed before its confirmation returned no error")
	}
	beforeConfirm = nil
	if !failed.Load() {
		t.Fatal("the site answered no PUT with an error")
	}
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	sums, err := Summarize(ctx, f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].OpenIntents != 0 || sums[0].BytesConfirmed < received.Load() {
		t.Fatalf("ledger summary %+v; the site received %d bytes, all of which crossed", sums, received.Load())
	}
}
