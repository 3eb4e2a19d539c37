package transfer

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	dead := killAtFirstResend(t)
	s := f.stager()
	s.Workers = 1
	s.Ledger = deadLedger{f.ledger, dead}
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

// TestKillAfterResentWritesCountsItsWritersOnly: a site answers the first
// PUT of every chunk, body received, with a server error, so that the
// client sends every body twice; the copy (2 workers, one batch of 8
// chunks) is killed as the first resent write returns. A reconcile
// counted, for every object of the open intent, its client's tries times
// its size: 8 writes' tries, where at most the 2 running could have sent
// any on no record. It now counts the 2 largest, and a copy that cannot
// record a write's tries starts no other write (else the writes after the
// kill would send tries the count leaves out): every byte the site
// received is still on a record.
func TestKillAfterResentWritesCountsItsWritersOnly(t *testing.T) {
	old := minio.MaxRetry
	minio.MaxRetry = 2
	t.Cleanup(func() { minio.MaxRetry = old })
	m := &memS3{objs: map[string][]byte{}}
	var received atomic.Int64
	var seen sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			r.Body = countingBody{r.Body, &received}
			if _, again := seen.LoadOrStore(r.URL.Path, true); !again && strings.Contains(r.URL.Path, "/chunks/") {
				io.Copy(io.Discard, r.Body)
				m.fail(w, http.StatusInternalServerError, "InternalError")
				return
			}
		}
		m.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f := newFixture(t, 8, 100<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	ctx := context.Background()
	dead := killAtFirstResend(t)
	s := f.stager()
	s.Workers = 2
	s.Ledger = deadLedger{f.ledger, dead}
	if _, err := s.Stage(ctx, f.request()); err == nil {
		t.Fatal("a staging killed after a resent write returned no error")
	}
	putObject = dataset.PutResent
	if !dead.Load() {
		t.Fatal("no write was resent")
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
	// The reconcile's count of tries on no record, beside what it was:
	// every object of the intent it closed.
	intents := map[string]Intent{}
	recs, err := f.ledger.Records(ctx, "", KindIntent, KindTransfer)
	if err != nil {
		t.Fatal(err)
	}
	var unseen, before int64
	var named int
	for _, r := range recs {
		switch r.Kind {
		case KindIntent:
			var in Intent
			if err := r.decode(&in); err != nil {
				t.Fatal(err)
			}
			intents[in.ID] = in
		case KindTransfer:
			var e Entry
			if err := r.decode(&e); err != nil {
				t.Fatal(err)
			}
			if !e.Reconciled {
				continue
			}
			in, ok := intents[e.Intent]
			if !ok || in.Unsent {
				continue
			}
			for _, o := range in.Objects {
				before += dataset.MaxCrossed(int(o.Bytes))
			}
			for _, p := range e.Partial {
				unseen += p.Bytes
				named++
			}
		}
	}
	if before == 0 {
		t.Fatal("no intent of the killed copy was reconciled")
	}
	if named > s.Workers || unseen >= before {
		t.Fatalf("the reconcile counted %d bytes of tries on no record for %d objects; at most %d writes ran at once (every object's tries: %d bytes)", unseen, named, s.Workers, before)
	}
	t.Logf("the site received %d bytes; the ledger confirms %d (%d of them in part); the reconcile counted %d bytes of tries on no record, where every object's tries were %d", received.Load(), sums[0].BytesConfirmed, sums[0].BytesPartial, unseen, before)
}

// killAtFirstResend makes the stager's writes report, through the flag it
// returns, that the copy was killed as the first write that sent a body
// again returned; the ledger wrapped by deadLedger then records nothing
// more. The writes are the real ones again after the test.
func killAtFirstResend(t *testing.T) *atomic.Bool {
	dead := new(atomic.Bool)
	putObject = func(ctx context.Context, b *dataset.Store, key string, data []byte) (int64, error) {
		resent, err := dataset.PutResent(ctx, b, key, data)
		if resent > 0 {
			dead.Store(true) // killed as the write returns
		}
		return resent, err
	}
	t.Cleanup(func() { putObject = dataset.PutResent })
	return dead
}
