package transfer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
)

// endlessListing is an S3-compatible server whose listings never end:
// every page holds 1,000 keys that look like chunks of the dataset (a
// fresh id each), and says more follow. Listings whose prefix does not
// end with onlyUnder get one empty page. Reads find nothing.
func endlessListing(t *testing.T, onlyUnder string) (*httptest.Server, *atomic.Int64) {
	var pages atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method != http.MethodGet || q.Get("list-type") != "2" {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>none</Message></Error>`)
			return
		}
		prefix := q.Get("prefix")
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name>`)
		if !strings.HasSuffix(prefix, onlyUnder) {
			b.WriteString(`<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
			w.Write([]byte(b.String()))
			return
		}
		page := pages.Add(1)
		fmt.Fprintf(&b, `<KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>p%d</NextContinuationToken>`, page)
		for i := range 1000 {
			id := fmt.Sprintf("%016x%016x%032x", page, i, 0)
			fmt.Fprintf(&b, `<Contents><Key>t/x/data/meridian/chat-logs/chunks/%s/%s</Key><Size>%d</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"e"</ETag></Contents>`,
				id[:2], id, 1<<20)
		}
		b.WriteString(`</ListBucketResult>`)
		w.Write([]byte(b.String()))
	}))
	t.Cleanup(srv.Close)
	return srv, &pages
}

// TestAttackEndlessSiteListing: a site's store whose listing of the
// dataset never ends, naming a million new chunk keys every thousand
// pages, no longer holds a staging until its deadline while every key it
// names is kept in memory: the listing is read within a bound (in
// proportion to the dataset's chunks) and only the dataset's own chunks
// are kept of it. A staging reads one listing of the dataset's folder
// there (stale temporary objects, unfinished writes and chunks already
// there are all taken from it).
func TestAttackEndlessSiteListing(t *testing.T) {
	for _, under := range []string{"/chat-logs/"} {
		t.Run(strings.Trim(under, "/"), func(t *testing.T) {
			srv, pages := endlessListing(t, under)
			f := newFixture(t, 2, 64<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
			s := f.stager()
			s.MaxListed = 20000
			req := f.request()
			req.SitePrefix = "t/x/data/"
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := s.Stage(ctx, req)
			if !errors.Is(err, dataset.ErrListTooLong) {
				t.Fatalf("staging to a site listing without end: %v (after %d pages), want ErrListTooLong", err, pages.Load())
			}
			if n := pages.Load(); n > 25 {
				t.Fatalf("read %d pages of a listing bounded at 20,000 objects", n)
			}
			if !strings.Contains(err.Error(), "over 20000 objects") {
				t.Fatalf("error does not say why: %v", err)
			}
			if recs, _ := f.ledger.Records(context.Background(), "", KindIntent, KindTransfer); len(recs) != 0 {
				t.Fatalf("a staging that sent nothing left %d ledger records", len(recs))
			}
		})
	}
}
