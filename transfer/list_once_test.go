package transfer

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"meridian.dev/meridian/dataset"
)

// memS3 is one bucket ("bkt") of an S3 server held in memory, as much of
// S3 as a copy asks of a site's store: path-style listings of objects (in
// one page) and of uploads (none), GET, HEAD, PUT and DELETE of objects.
// It counts the listings of objects whose prefix holds under.
type memS3 struct {
	mu       sync.Mutex
	objs     map[string][]byte
	under    string
	listings atomic.Int64
	// refuse, when set, says which keys a PUT is refused for (403),
	// once its body has arrived.
	refuse func(key string) bool
	// gets counts the GETs of each object, when set; mod, when set, is
	// the time listed for an object (2026-01-01 when it has none).
	gets map[string]int
	mod  map[string]time.Time
}

// modOf is the time listed for key: mod's, or 2026-01-01.
func (m *memS3) modOf(key string) time.Time {
	if t, ok := m.mod[key]; ok {
		return t
	}
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
}

func (m *memS3) fail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>test</Message></Error>`, code)
}

func (m *memS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bkt")
	if !ok {
		m.fail(w, http.StatusNotFound, "NoSuchBucket")
		return
	}
	key := strings.TrimPrefix(rest, "/")
	q := r.URL.Query()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case key == "" && r.Method == http.MethodGet && q.Has("uploads"):
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>bkt</Bucket><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`)
	case key == "" && r.Method == http.MethodGet && q.Get("list-type") == "2":
		prefix := q.Get("prefix")
		if strings.Contains(prefix, m.under) {
			m.listings.Add(1)
		}
		var keys []string
		for k := range m.objs {
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bkt</Name><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>`, len(keys))
		for _, k := range keys {
			sum := md5.Sum(m.objs[k])
			fmt.Fprintf(w, `<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>"%s"</ETag><Size>%d</Size></Contents>`, k, m.modOf(k).Format("2006-01-02T15:04:05.000Z"), hex.EncodeToString(sum[:]), len(m.objs[k]))
		}
		fmt.Fprint(w, `</ListBucketResult>`)
	case key == "":
		m.fail(w, http.StatusNotImplemented, "NotImplemented")
	case r.Method == http.MethodPut && !q.Has("uploadId") && !q.Has("uploads"):
		b, err := io.ReadAll(r.Body)
		if err != nil {
			m.fail(w, http.StatusBadRequest, "IncompleteBody")
			return
		}
		if m.refuse != nil && m.refuse(key) {
			m.fail(w, http.StatusForbidden, "AccessDenied")
			return
		}
		m.objs[key] = b
		sum := md5.Sum(b)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		b, ok := m.objs[key]
		if !ok {
			m.fail(w, http.StatusNotFound, "NoSuchKey")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Header().Set("Last-Modified", m.modOf(key).Format(http.TimeFormat))
		if r.Method == http.MethodGet {
			if m.gets != nil {
				m.gets[key]++
			}
			w.Write(b)
		}
	case r.Method == http.MethodDelete:
		delete(m.objs, key)
		w.WriteHeader(http.StatusNoContent)
	default:
		m.fail(w, http.StatusNotImplemented, "NotImplemented")
	}
}

// A copy that finds open intents of an earlier, cut copy at the site read
// the dataset's folder there three times over: for the unfinished writes
// of the objects the intents lack, for stale temporary objects, and for
// the chunks already there. Each listing of a site's folder costs up to a
// million objects' worth of requests; now a copy lists it once and takes
// all three from that listing.
func TestCopyListsTheSiteFolderOnce(t *testing.T) {
	old := minio.MaxRetry
	minio.MaxRetry = 1
	t.Cleanup(func() { minio.MaxRetry = old })
	m := &memS3{objs: map[string][]byte{}, under: "/chat-logs/"}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	f := newFixture(t, 6, 200<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)

	ctx, cancel := context.WithCancel(context.Background())
	s := f.stager()
	s.Workers = 1
	s.Progress = &cancelAfter{n: 1, cancel: cancel}
	if _, err := s.Stage(ctx, f.request()); err == nil {
		t.Fatal("interrupted Stage returned no error")
	}
	open, err := OpenIntents(context.Background(), f.ledger, "", KindDataset, "chat-logs", f.site.Metadata.Name)
	if err != nil || len(open) == 0 {
		t.Fatalf("open intents after the cut: %d, %v", len(open), err)
	}

	m.listings.Store(0)
	res, err := f.stager().Stage(context.Background(), f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reconciled == 0 && res.Skipped == 0 {
		t.Fatalf("the second staging found nothing of the first at the site: %+v", res)
	}
	if n := m.listings.Load(); n != 1 {
		t.Fatalf("the copy listed the dataset's folder at the site %d times; want once", n)
	}
}

// The copy's one listing still removes what a writer killed over an hour
// ago left at the site, and leaves a younger temporary object (a live
// writer's, as far as the copy can tell).
func TestCopyRemovesStaleTemporaryObjects(t *testing.T) {
	f := newFixture(t, 2, 64<<10, "")
	key := dataset.ChunkKey("chat-logs", f.manifest.UniqueChunks()[0].ID)
	stale := plantTemp(t, f, key, "0123456789abcdef", 10)
	young := plantTemp(t, f, key, "fedcba9876543210", 10)
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := f.stager().Stage(context.Background(), f.request()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale temporary object still at the site: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Fatalf("young temporary object removed: %v", err)
	}
}
