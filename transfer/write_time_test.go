package transfer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// slowTaker is a site's store that takes a PUT's body a KiB at a time,
// 20 ms apart, and keeps the object (memS3) once it has it all.
type slowTaker struct{ *memS3 }

func (s slowTaker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut {
		var body bytes.Buffer
		piece := make([]byte, 1<<10)
		for {
			n, err := io.ReadFull(r.Body, piece)
			body.Write(piece[:n])
			if err != nil {
				break
			}
			select {
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		r.Body = io.NopCloser(&body)
	}
	s.memS3.ServeHTTP(w, r)
}

// TestAttackSiteTakesWritesSlowly: a site's store that took each PUT's
// body a little at a time held the staging for as long as it liked
// (a staging's own deadline is an hour; a command-line staging has
// none): nothing bounded a write. Each object's write now has its bound
// (writeTime, set low here), and the staging stops with ErrWriteDeadline,
// a passing failure.
func TestAttackSiteTakesWritesSlowly(t *testing.T) {
	defer func(f func(time.Duration, int, bool) time.Duration) { writeTime = f }(writeTime)
	writeTime = func(time.Duration, int, bool) time.Duration { return 300 * time.Millisecond }
	old := minio.MaxRetry
	minio.MaxRetry = 1
	t.Cleanup(func() { minio.MaxRetry = old })
	srv := httptest.NewServer(slowTaker{&memS3{objs: map[string][]byte{}}})
	t.Cleanup(srv.Close)
	f := newFixture(t, 1, 100<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	// The test's own guard: a write the bound does not stop runs into it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := f.stager()
	s.Workers = 1
	_, err := s.Stage(ctx, f.request())
	if !errors.Is(err, ErrWriteDeadline) || !Transient(err) {
		t.Fatalf("a staging to a site taking its writes slowly: %v; want ErrWriteDeadline, a passing failure", err)
	}
}

// stallTaker is a site's store that takes no byte of a PUT's body and
// does not answer it until stop is closed, and keeps objects (memS3)
// otherwise. (A server that reads none of a body does not see its client
// go.)
type stallTaker struct {
	*memS3
	stop chan struct{}
}

func (s stallTaker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut {
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		return
	}
	s.memS3.ServeHTTP(w, r)
}

// TestWriteHeldToTheStoresReadIdle: a site's store opened with a short
// idle bound (read_idle) fails a read that stalls that soon, but a write
// it stalled was held to the default's two minutes. Each write is now
// held to the store's own idle bound (plus its size at MinReadRate).
func TestWriteHeldToTheStoresReadIdle(t *testing.T) {
	old := minio.MaxRetry
	minio.MaxRetry = 1
	t.Cleanup(func() { minio.MaxRetry = old })
	stop := make(chan struct{})
	srv := httptest.NewServer(stallTaker{&memS3{objs: map[string][]byte{}}, stop})
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // first: the stalled handler returns

	f := newFixture(t, 1, 10<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&read_idle=300ms&endpoint="+srv.URL)
	// The test's own guard, far below the default idle bound.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := f.stager()
	s.Workers = 1
	start := time.Now()
	_, err := s.Stage(ctx, f.request())
	if !errors.Is(err, ErrWriteDeadline) || !Transient(err) {
		t.Fatalf("a staging to a site stalling its writes: %v; want ErrWriteDeadline, a passing failure", err)
	}
	// 300ms and some 10 KiB at 64 KiB a second.
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the stalled write was stopped after %v; want within the store's idle bound and its size's time", took)
	}
}
