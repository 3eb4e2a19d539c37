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

	"meridian.dev/meridian/dataset"
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
	f, received, failed := failOnceS3Fixture(t)
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

// failOnceS3Fixture is a fixture of 3 chunks whose site is an S3 store
// that answers the first chunk's PUT, its body received, with a server
// error, so that the client (two tries) sends the body again; received
// counts the bytes of every PUT body the site read, and failed says
// whether it has answered that error.
func failOnceS3Fixture(t *testing.T) (f *fixture, received *atomic.Int64, failed *atomic.Bool) {
	t.Helper()
	old := minio.MaxRetry
	minio.MaxRetry = 2
	t.Cleanup(func() { minio.MaxRetry = old })
	m := &memS3{objs: map[string][]byte{}}
	received, failed = new(atomic.Int64), new(atomic.Bool)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			r.Body = countingBody{r.Body, received}
			if strings.Contains(r.URL.Path, "/chunks/") && failed.CompareAndSwap(false, true) {
				io.Copy(io.Discard, r.Body)
				m.fail(w, http.StatusInternalServerError, "InternalError")
				return
			}
		}
		m.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f = newFixture(t, 3, 100<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	return f, received, failed
}

// TestAttackKillBetweenAResentWriteAndItsRecord: a site answers a chunk's
// PUT, body received, with a server error, so that the client sends the
// body again, and takes the second; the copy is killed as that write
// returns, before its own record of the try beyond the kept one. The
// reconcile found the chunk once: the bytes of the first try were on no
// record. A reconcile now counts, for each object of an intent left open
// at a site whose client sends a body again, the most its write may have
// sent unrecorded: every byte the site received is on a record.
func TestAttackKillBetweenAResentWriteAndItsRecord(t *testing.T) {
	f, received, failed := failOnceS3Fixture(t)
	ctx := context.Background()
	var dead atomic.Bool
	putObject = func(ctx context.Context, b *dataset.Store, key string, data []byte) (int64, error) {
		resent, err := dataset.PutResent(ctx, b, key, data)
		if resent > 0 {
			dead.Store(true) // killed as the write returns
		}
		return resent, err
	}
	t.Cleanup(func() { putObject = dataset.PutResent })
	s := f.stager()
	s.Workers = 1
	s.Ledger = deadLedger{f.ledger, &dead}
	if _, err := s.Stage(ctx, f.request()); err == nil {
		t.Fatal("a staging killed after a resent write returned no error")
	}
	putObject = dataset.PutResent
	if !failed.Load() || !dead.Load() {
		t.Fatal("the site answered no PUT with an error, or no write was resent")
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
	t.Logf("the site received %d bytes; the ledger confirms %d (%d of them in part)", received.Load(), sums[0].BytesConfirmed, sums[0].BytesPartial)
}
