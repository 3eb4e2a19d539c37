package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"meridian.dev/meridian/seal"
)

// cutServer is an S3 endpoint that reads the first cut bytes of a PUT's
// body, then drops the connection (as a server that dies, or a proxy
// that gives up, mid-body), after calling onCut.
type cutServer struct {
	cut   int64
	onCut func()

	mu   sync.Mutex
	got  int64 // bytes of bodies read
	puts int
}

func (s *cutServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		w.WriteHeader(http.StatusNotImplemented)
		return
	}
	n, _ := io.CopyN(io.Discard, r.Body, s.cut)
	s.mu.Lock()
	s.got += n
	s.puts++
	s.mu.Unlock()
	if s.onCut != nil {
		s.onCut()
	}
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

func cutServerStore(t *testing.T, s *cutServer) *Store {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	st, err := OpenStore(context.Background(), "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestS3PutCutMidBodyCountsSent: a PUT whose connection dropped once the
// server had read a quarter of its body (the writer's deadline, or a
// shutdown, ending it there) said no bytes crossed, though the server
// had read 256 KiB. The failed Put now counts what the client sent of
// the body: at least what the server read, at most the body.
func TestS3PutCutMidBodyCountsSent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &cutServer{cut: 256 << 10, onCut: cancel}
	st := cutServerStore(t, s)
	data := pattern(1 << 20)
	err := Put(ctx, st, ChunkKey("d", seal.ID{3}), data)
	s.mu.Lock()
	got, puts := s.got, s.puts
	s.mu.Unlock()
	if err == nil || puts != 1 || got != s.cut {
		t.Fatalf("a PUT cut mid-body: %v; the server read %d bytes in %d PUTs, want %d in 1", err, got, puts, s.cut)
	}
	if n := Crossed(err); n < got || n > int64(len(data)) {
		t.Fatalf("a PUT cut after the server read %d bytes reports %d crossed (%v); want from %d to %d", got, n, err, got, len(data))
	}
}

// TestS3PutCutThenRefusedCountsBothTries: a PUT cut mid-body, which the
// client sent again whole and the server then refused (403), counted one
// body: the first try's bytes crossed too. The failed Put counts both.
func TestS3PutCutThenRefusedCountsBothTries(t *testing.T) {
	data := pattern(1 << 20)
	var once sync.Once
	cut := &cutServer{cut: 256 << 10}
	refuse := &partServer{limit: 1 << 40, failPut: true}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		once.Do(func() { first = true })
		if first {
			cut.ServeHTTP(w, r)
			return
		}
		refuse.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	st, err := OpenStore(context.Background(), "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	err = Put(context.Background(), st, ChunkKey("d", seal.ID{4}), data)
	refuse.mu.Lock()
	whole := refuse.bodies
	refuse.mu.Unlock()
	if er := (minio.ErrorResponse{}); !errors.As(err, &er) || er.Code != "AccessDenied" || whole != int64(len(data)) {
		t.Fatalf("a PUT cut, then sent again and refused: %v; the second try brought %d bytes, want %d", err, whole, len(data))
	}
	if n, least := Crossed(err), cut.got+whole; n < least || n > 2*int64(len(data)) {
		t.Fatalf("a PUT cut (%d bytes read) then refused whole reports %d crossed (%v); want from %d to %d", cut.got, n, err, least, 2*len(data))
	}
}

// TestS3PutResentThenRefusedCountsEveryTry: a PUT the server answered 500
// twice, each time after reading its whole body, which the client sent
// again and the server then refused (403), counted the body once: three
// crossed. The failed Put counts every try.
func TestS3PutResentThenRefusedCountsEveryTry(t *testing.T) {
	s := &partServer{limit: 1 << 40, failPut: true, fail5xx: map[int]int{0: 2}}
	st := partServerStore(t, s, "")
	data := pattern(1 << 20)
	err := Put(context.Background(), st, ChunkKey("d", seal.ID{5}), data)
	s.mu.Lock()
	bodies := s.bodies
	s.mu.Unlock()
	if er := (minio.ErrorResponse{}); !errors.As(err, &er) || er.Code != "AccessDenied" || bodies != 3*int64(len(data)) {
		t.Fatalf("a PUT answered 500 twice, then refused: %v; the server read %d bytes, want %d", err, bodies, 3*len(data))
	}
	if n := Crossed(err); n != bodies {
		t.Fatalf("a PUT sent three times reports %d bytes crossed (%v); want %d", n, err, bodies)
	}
}

// TestS3PutPartsResentCountsEveryTry: an upload in parts whose second
// part the server answered 500 twice (the client sending it again each
// time) and whose third it refused, then aborted, counted the parts it
// took once and the refused one: the two resends of the second part
// crossed too. The failed Put counts every body the client sent.
func TestS3PutPartsResentCountsEveryTry(t *testing.T) {
	for _, failAbort := range []bool{false, true} {
		s := &partServer{limit: 1 << 40, failPart: 3, failAbort: failAbort, fail5xx: map[int]int{2: 2}}
		st := partServerStore(t, s, "")
		data := pattern(40 << 20)
		err := Put(context.Background(), st, ManifestKey("d"), data)
		s.mu.Lock()
		bodies, aborted := s.bodies, s.aborted
		s.mu.Unlock()
		if err == nil || aborted == failAbort || bodies != int64(len(data))+2*DefaultPartSize {
			t.Fatalf("abort refused %v: an upload whose second part was resent twice and third refused: %v; the server read %d bytes, aborted %v", failAbort, err, bodies, aborted)
		}
		want := bodies
		if failAbort {
			// The two parts taken stay at the site, for a reconcile to
			// count.
			want -= 2 * DefaultPartSize
		}
		if n := Crossed(err); n != want {
			t.Fatalf("abort refused %v: the failed upload reports %d bytes crossed (%v); want %d", failAbort, n, err, want)
		}
	}
}

// TestS3PutResentThenTakenCountsResends: a PUT the server answered 500
// twice, each time after reading its whole body, then took, said nothing
// of the two bodies before: they crossed, and the site shows one object.
// The write now says it sent two bodies beyond the object (PutResent).
func TestS3PutResentThenTakenCountsResends(t *testing.T) {
	s := &partServer{limit: 1 << 40, fail5xx: map[int]int{0: 2}}
	st := partServerStore(t, s, "")
	data := pattern(1 << 20)
	resent, err := PutResent(context.Background(), st, ChunkKey("d", seal.ID{6}), data)
	s.mu.Lock()
	bodies, object := s.bodies, s.object
	s.mu.Unlock()
	if err != nil || !bytes.Equal(object, data) || bodies != 3*int64(len(data)) {
		t.Fatalf("a PUT answered 500 twice, then taken: %v; the server read %d bytes, want %d", err, bodies, 3*len(data))
	}
	if resent != 2*int64(len(data)) {
		t.Fatalf("a PUT sent three times, kept once, reports %d bytes resent; want %d", resent, 2*len(data))
	}
}

// TestS3PutPartsResentThenTakenCountsResends: an upload in parts whose
// second part the server answered 500 twice, then took, completed; the
// write now says the two resends of that part crossed beyond the object.
func TestS3PutPartsResentThenTakenCountsResends(t *testing.T) {
	s := &partServer{limit: 1 << 40, fail5xx: map[int]int{2: 2}}
	st := partServerStore(t, s, "")
	data := pattern(40 << 20)
	resent, err := PutResent(context.Background(), st, ManifestKey("d"), data)
	s.mu.Lock()
	object, complete := s.object, s.complete
	s.mu.Unlock()
	if err != nil || !complete || !bytes.Equal(object, data) {
		t.Fatalf("an upload whose second part was resent twice: %v; completed %v", err, complete)
	}
	if resent != 2*DefaultPartSize {
		t.Fatalf("the upload reports %d bytes resent; want %d", resent, 2*DefaultPartSize)
	}
}

// resendProxy is bodyLimitProxy's server for the test S3 server, with a
// proxy that reads the whole body of part 2's first fails tries and
// answers them 500 (fails < 0: every try), counting the bodies it read.
func resendProxy(t *testing.T, fails int) (*Store, *atomic.Int64) {
	t.Helper()
	raw := os.Getenv("MERIDIAN_TEST_S3_URL")
	if raw == "" {
		t.Skip("MERIDIAN_TEST_S3_URL not set: run scripts/s3-up.sh (scripts/test.sh does)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	target, err := url.Parse(q.Get("endpoint"))
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // signed by the client
	}}
	var read atomic.Int64
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2" {
			mu.Lock()
			fail := fails != 0
			if fails > 0 {
				fails--
			}
			mu.Unlock()
			if fail {
				n, _ := io.Copy(io.Discard, r.Body)
				read.Add(n)
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `<Error><Code>InternalError</Code><Message>try again</Message></Error>`)
				return
			}
		}
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
			read.Add(r.ContentLength)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	q.Set("endpoint", srv.URL)
	q.Set("part_size", "5MiB")
	u.RawQuery = q.Encode()
	st, err := OpenStore(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, &read
}

// TestS3ServerPartResentCounted: against the test S3 server, an upload
// whose second part a proxy answered 500 twice completes, and says it
// sent that part twice beyond the object.
func TestS3ServerPartResentCounted(t *testing.T) {
	st, read := resendProxy(t, 2)
	data := pattern(12 << 20)
	key := ManifestKey(fmt.Sprintf("resent-%d", time.Now().UnixNano()))
	resent, err := PutResent(context.Background(), st, key, data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.b.del(context.Background(), st.prefix+key) })
	got, err := ReadObject(context.Background(), st, key, int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the object read back: %d bytes, %v", len(got), err)
	}
	if want := read.Load() - int64(len(data)); resent != want || want != 2*minPartSize {
		t.Fatalf("the upload reports %d bytes resent; the proxy read %d beyond the object, want %d", resent, want, 2*minPartSize)
	}
}

// TestS3ServerPartFailingCountsEveryTry: against the test S3 server, an
// upload whose second part a proxy answers 500 on every try fails, is
// aborted, and counts every byte of every try the proxy read.
func TestS3ServerPartFailingCountsEveryTry(t *testing.T) {
	st, read := resendProxy(t, -1)
	data := pattern(12 << 20)
	name := fmt.Sprintf("failing-%d", time.Now().UnixNano())
	err := Put(context.Background(), st, ManifestKey(name), data)
	if err == nil {
		t.Fatal("an upload whose part always failed succeeded")
	}
	if got, want := Crossed(err), read.Load(); got != want || want < int64(minPartSize)+2*minPartSize {
		t.Fatalf("the failed upload reports %d bytes crossed (%v); the proxy read %d", got, err, want)
	}
	if left := uploadsUnder(t, st, name); len(left) != 0 {
		t.Fatalf("uploads left after the failed upload: %v", left)
	}
}
