package dataset

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"meridian.dev/meridian/seal"
)

// partServer is an S3 endpoint (anonymous, so bodies come unsigned) that
// takes an object in one PUT or in parts, behind a proxy that refuses a
// body over limit (413, as nginx's client_max_body_size does). failPart,
// when set, is a part it refuses, as a server that dies mid-upload.
type partServer struct {
	limit    int64
	failPart int
	// failAbort, when set, refuses to abort the upload.
	failAbort bool
	// failPut, when set, refuses an object sent in one PUT, once its
	// body has arrived.
	failPut bool
	// onPart, when set, runs as part n arrives; a part for which it
	// returns true is held until its request is given up.
	onPart func(n int) bool
	// fail5xx answers part n (0: an object sent in one PUT) 500, once
	// its body has arrived, as many times as it says.
	fail5xx map[int]int
	// bodies counts the bytes of the bodies of PUTs the server read.
	bodies int64

	mu       sync.Mutex
	reqs     []string
	parts    map[int][]byte
	object   []byte
	aborted  bool
	complete bool
}

func (s *partServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r.Method+" "+r.URL.RawQuery)
	if r.ContentLength > s.limit {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if r.Method == http.MethodPut {
		s.bodies += int64(len(body))
		n, _ := strconv.Atoi(q.Get("partNumber"))
		if s.fail5xx[n] > 0 {
			s.fail5xx[n]--
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `<Error><Code>InternalError</Code><Message>try again</Message></Error>`)
			return
		}
	}
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		s.parts = map[int][]byte{}
		fmt.Fprint(w, `<InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == http.MethodPut && q.Get("uploadId") == "u1":
		n, _ := strconv.Atoi(q.Get("partNumber"))
		if s.onPart != nil && s.onPart(n) {
			<-r.Context().Done()
			return
		}
		if n == s.failPart {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
			return
		}
		s.parts[n] = body
		w.Header().Set("ETag", fmt.Sprintf(`"p%d"`, n))
	case r.Method == http.MethodPost && q.Get("uploadId") == "u1":
		var c struct {
			Parts []struct{ PartNumber int } `xml:"Part"`
		}
		if err := xml.Unmarshal(body, &c); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var obj []byte
		for _, p := range c.Parts {
			obj = append(obj, s.parts[p.PartNumber]...)
		}
		s.object, s.complete = obj, true
		fmt.Fprint(w, `<CompleteMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><ETag>"o"</ETag></CompleteMultipartUploadResult>`)
	case r.Method == http.MethodDelete && q.Get("uploadId") == "u1":
		if s.failAbort {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
			return
		}
		s.aborted = true
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut && r.URL.RawQuery == "":
		if s.failPut {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
			return
		}
		s.object = body
		w.Header().Set("ETag", `"o"`)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

func partServerStore(t *testing.T, s *partServer, params string) *Store {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	st, err := OpenStore(context.Background(), "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL+params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func pattern(n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i>>16)
	}
	return data
}

// TestS3PutChunkOnePut: the largest sealed chunk goes in one PUT.
func TestS3PutChunkOnePut(t *testing.T) {
	s := &partServer{limit: 1 << 40}
	st := partServerStore(t, s, "")
	data := pattern(seal.SealedSize(MaxChunk))
	err := Put(context.Background(), st, ChunkKey("d", seal.ID{1}), data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || len(s.reqs) != 1 || !bytes.Equal(s.object, data) {
		t.Fatalf("a put of a %d-byte chunk: %v; requests %q; want one PUT of it all", len(data), err, s.reqs)
	}
}

// TestS3PutLargeObjectInParts: an object larger than the part size (a
// large dataset's or checkpoint's manifest) goes in parts no larger, so
// a proxy before the server that takes bodies a little over the part size
// passes it; sent in one PUT, it was refused (413) and the staging
// failed. A smaller part_size serves a proxy that takes less.
func TestS3PutLargeObjectInParts(t *testing.T) {
	for _, tc := range []struct {
		params string
		part   int64
	}{{"", DefaultPartSize}, {"&part_size=5MiB", 5 << 20}} {
		s := &partServer{limit: tc.part + 1<<20}
		st := partServerStore(t, s, tc.params)
		data := pattern(40 << 20)
		err := Put(context.Background(), st, ManifestKey("d"), data)
		s.mu.Lock()
		if err != nil || !s.complete || !bytes.Equal(s.object, data) || s.aborted {
			t.Errorf("part size %d: a put of %d bytes behind a proxy taking %d: %v; completed %v, aborted %v, requests %q",
				tc.part, len(data), s.limit, err, s.complete, s.aborted, s.reqs)
		}
		if want := (int64(len(data)) + tc.part - 1) / tc.part; int64(len(s.parts)) != want {
			t.Errorf("part size %d: %d parts, want %d", tc.part, len(s.parts), want)
		}
		s.mu.Unlock()
	}
}

// TestS3PutCutUploadAborted: an upload in parts that fails part way is
// aborted, so the parts sent do not stay at the site, and never
// completed, so nothing is readable under the key.
func TestS3PutCutUploadAborted(t *testing.T) {
	s := &partServer{limit: 1 << 40, failPart: 2}
	st := partServerStore(t, s, "")
	err := Put(context.Background(), st, ManifestKey("d"), pattern(40<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil || !s.aborted || s.complete || s.object != nil {
		t.Fatalf("an upload whose second part failed: %v; aborted %v, completed %v, object of %d bytes; requests %q",
			err, s.aborted, s.complete, len(s.object), s.reqs)
	}
}

// TestS3PartSizeParam: part_size outside S3's bounds on a part is refused.
func TestS3PartSizeParam(t *testing.T) {
	for _, v := range []string{"0", "1MiB", "5242879", "6GiB", "x", "-5MiB", "5mib", "99999999999GiB"} {
		if _, err := OpenStore(context.Background(), "s3://bkt?region=us-east-1&part_size="+url.QueryEscape(v)); err == nil {
			t.Errorf("part_size=%s accepted", v)
		}
	}
	for v, want := range map[string]int64{"5MiB": 5 << 20, "5242880": 5 << 20, "1GiB": 1 << 30, "5GiB": 5 << 30} {
		st, err := OpenStore(context.Background(), "s3://bkt?region=us-east-1&part_size="+v)
		if err != nil {
			t.Fatalf("part_size=%s: %v", v, err)
		}
		if got := st.b.(*s3Bucket).partSize; got != want {
			t.Errorf("part_size=%s: %d bytes, want %d", v, got, want)
		}
		st.Close()
	}
}

// bodyLimitProxy is a proxy before the real S3 server that refuses a body
// over limit (413), as nginx's client_max_body_size does; onPart, when
// set, runs as a part's request arrives.
func bodyLimitProxy(t *testing.T, limit int64, onPart func()) *Store {
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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		if onPart != nil && r.URL.Query().Has("partNumber") {
			onPart()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	q.Set("endpoint", srv.URL)
	u.RawQuery = q.Encode()
	st, err := OpenStore(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// uploadsUnder lists the unfinished multipart uploads under prefix (of
// st's keys) at a real S3 server.
func uploadsUnder(t *testing.T, st *Store, prefix string) []string {
	t.Helper()
	b := st.b.(*s3Bucket)
	res, err := minio.Core{Client: b.c}.ListMultipartUploads(context.Background(), b.bucket, b.prefix+st.prefix+prefix, "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range res.Uploads {
		keys = append(keys, u.Key[len(b.prefix+st.prefix):])
	}
	sort.Strings(keys)
	return keys
}

// TestS3PutInPartsBehindProxy: a real S3 server behind a proxy that takes
// bodies a little over the part size takes an object several parts long
// (signed with its content's SHA-256: the connection is plain HTTP), which
// reads back whole; in one PUT it was refused.
func TestS3PutInPartsBehindProxy(t *testing.T) {
	st := bodyLimitProxy(t, DefaultPartSize+1<<20, nil)
	ctx := context.Background()
	data := pattern(40 << 20)
	key := ManifestKey("parts-put")
	if err := Put(ctx, st, key, data); err != nil {
		t.Fatal(err)
	}
	defer st.Delete(ctx, key)
	if same, err := SameObject(ctx, st, key, data); err != nil || !same {
		t.Fatalf("the object read back: same %v, %v", same, err)
	}
	if ups := uploadsUnder(t, st, key); len(ups) != 0 {
		t.Fatalf("uploads left: %q", ups)
	}
}

// TestS3PutCutLeavesNothing: an upload in parts to a real S3 server cut
// (its context cancelled) once its parts are on their way leaves nothing
// readable under the key, and no unfinished upload holding its parts.
func TestS3PutCutLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := ManifestKey("cut-put")
	var st *Store
	var once sync.Once
	begun := 0 // uploads to the key when its first part arrived
	st = bodyLimitProxy(t, DefaultPartSize+1<<20, func() {
		once.Do(func() {
			b := st.b.(*s3Bucket)
			res, err := minio.Core{Client: b.c}.ListMultipartUploads(context.Background(), b.bucket, b.prefix+key, "", "", "", 10)
			if err == nil {
				begun = len(res.Uploads)
			}
			cancel()
		})
	})
	err := Put(ctx, st, key, pattern(40<<20))
	if !errors.Is(err, context.Canceled) || begun != 1 {
		t.Fatalf("an upload cut at its first part: %v, want context.Canceled; %d uploads begun, want 1", err, begun)
	}
	if _, err := ReadObject(context.Background(), st, key, 1<<30); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the object of a cut upload: %v, want ErrNotFound", err)
	}
	if ups := uploadsUnder(t, st, key); len(ups) != 0 {
		t.Fatalf("uploads left by a cut upload: %q", ups)
	}
}

// startUpload begins a multipart upload to key at a real S3 server and
// sends it one part, as a writer killed mid-upload leaves it.
func startUpload(t *testing.T, st *Store, key string) {
	t.Helper()
	b := st.b.(*s3Bucket)
	core := minio.Core{Client: b.c}
	ctx := context.Background()
	id, err := core.NewMultipartUpload(ctx, b.bucket, b.prefix+st.prefix+key, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := pattern(5 << 20)
	if _, err := core.PutObjectPart(ctx, b.bucket, b.prefix+st.prefix+key, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.AbortMultipartUpload(context.Background(), b.bucket, b.prefix+st.prefix+key, id) })
}

// TestS3StaleUploadsAborted: the uploads a writer killed mid-upload left
// under a dataset (its parts, which no listing of objects shows, kept and
// billed at the site) are aborted by the next staging's sweep of stale
// writes (RemoveStaleTemps) and by the dataset's removal; another
// dataset's, whose name the first's is a prefix of, are not.
func TestS3StaleUploadsAborted(t *testing.T) {
	st := s3Store(t).Sub(fmt.Sprintf("stale-%d/", time.Now().UnixNano()))
	ctx := context.Background()
	startUpload(t, st, ManifestKey("up"))
	startUpload(t, st, ManifestKey("up2"))
	// Begun just now: not stale an hour on.
	if n, err := RemoveStaleTemps(ctx, st, "up", time.Hour, ListBound(0)); err != nil || n != 0 {
		t.Fatalf("a fresh upload swept: %d, %v", n, err)
	}
	if n, err := RemoveStaleTemps(ctx, st, "up", 0, ListBound(0)); err != nil || n != 1 {
		t.Fatalf("stale uploads swept: %d, %v; want 1", n, err)
	}
	if ups := uploadsUnder(t, st, rootPrefix); len(ups) != 1 || ups[0] != ManifestKey("up2") {
		t.Fatalf("uploads left after sweeping dataset up: %q, want only up2's", ups)
	}
	startUpload(t, st, ChunkKey("up", seal.ID{7}))
	if _, err := Remove(ctx, st, "up", ListBound(0)); err != nil {
		t.Fatal(err)
	}
	if ups := uploadsUnder(t, st, rootPrefix); len(ups) != 1 || ups[0] != ManifestKey("up2") {
		t.Fatalf("uploads left after removing dataset up: %q, want only up2's", ups)
	}
}

// TestS3PutCutUploadCountsCrossedParts: an upload in parts whose third
// part the server refused was aborted, and the two parts it had taken
// (32 MiB, which crossed to the site) left nothing a reconcile could find
// and count: the bytes reached no ledger. The failed Put says how many
// bytes reached the server (Crossed): the parts it took, and the part it
// received and refused (8 MiB), which it never kept. An upload whose
// abort the server refused leaves the parts it took there, for a
// reconcile to count, and the Put counts only the refused one.
func TestS3PutCutUploadCountsCrossedParts(t *testing.T) {
	for _, failAbort := range []bool{false, true} {
		s := &partServer{limit: 1 << 40, failPart: 3, failAbort: failAbort}
		st := partServerStore(t, s, "")
		err := Put(context.Background(), st, ManifestKey("d"), pattern(40<<20))
		s.mu.Lock()
		var taken int64
		for _, p := range s.parts {
			taken += int64(len(p))
		}
		aborted := s.aborted
		s.mu.Unlock()
		if err == nil || taken != 2*DefaultPartSize || aborted == failAbort {
			t.Fatalf("abort refused %v: an upload whose third part failed: %v; the server took %d bytes, aborted %v", failAbort, err, taken, aborted)
		}
		const refused = 40<<20 - 2*DefaultPartSize
		want := taken + refused
		if failAbort {
			want = refused
		}
		if got := Crossed(err); got != want {
			t.Fatalf("abort refused %v: the failed Put reports %d bytes crossed (%v); want %d", failAbort, got, err, want)
		}
		if er := (minio.ErrorResponse{}); !errors.As(err, &er) || er.Code != "AccessDenied" || Transient(err) {
			t.Fatalf("abort refused %v: the part's refusal (403) is no longer what the error says: %v", failAbort, err)
		}
	}
}

// TestS3PutCancelledUploadCountsCrossedParts: an upload in parts
// cancelled (a shutdown) while its third part is on its way is aborted
// all the same, and the failed Put says the two parts the server took
// crossed, and the third, whose body the server had read.
func TestS3PutCancelledUploadCountsCrossedParts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &partServer{limit: 1 << 40, onPart: func(n int) bool {
		if n == 3 {
			cancel()
			return true
		}
		return false
	}}
	st := partServerStore(t, s, "")
	err := Put(ctx, st, ManifestKey("d"), pattern(40<<20))
	s.mu.Lock()
	aborted, complete := s.aborted, s.complete
	s.mu.Unlock()
	if !errors.Is(err, context.Canceled) || !aborted || complete {
		t.Fatalf("an upload cancelled at its third part: %v (want context.Canceled); aborted %v, completed %v", err, aborted, complete)
	}
	if got := Crossed(err); got != 40<<20 {
		t.Fatalf("the cancelled Put reports %d bytes crossed; want %d", got, 40<<20)
	}
}

// TestS3PutRefusedCountsCrossed: an object sent in one PUT that the server
// received and refused (403) left nothing at the site, and the failed Put
// said no bytes crossed: they had, all of them, and reached no ledger. A
// refused Put now counts them (Crossed), and the refusal is still what
// the error says.
func TestS3PutRefusedCountsCrossed(t *testing.T) {
	s := &partServer{limit: 1 << 40, failPut: true}
	st := partServerStore(t, s, "")
	data := pattern(1 << 20)
	err := Put(context.Background(), st, ChunkKey("d", seal.ID{2}), data)
	if got := Crossed(err); err == nil || got != int64(len(data)) {
		t.Fatalf("a PUT the server refused: %v; %d bytes crossed, want %d", err, got, len(data))
	}
	if er := (minio.ErrorResponse{}); !errors.As(err, &er) || er.Code != "AccessDenied" || Transient(err) {
		t.Fatalf("the refusal (403) is no longer what the error says: %v", err)
	}
}
