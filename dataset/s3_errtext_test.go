package dataset

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hostileErrorServer answers every request 403 with an S3 error whose
// message is half a megabyte long (the client reads a megabyte of an
// error answer) and carries terminal escapes in C1 form,
// which XML allows (CSI clearing the screen, OSC 52 writing the
// clipboard), and a bidirectional override.
func hostileErrorServer() *httptest.Server {
	msg := "\u009b2J\u009d52;c;ZXZpbA==\u009c\u202e" + strings.Repeat("A", 512<<10)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>%s</Message><Resource>/bkt</Resource><RequestId>r</RequestId></Error>`, msg)
	}))
}

// checkErrText fails t unless err's text is bounded and holds no
// character a terminal would act on.
func checkErrText(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error from a server answering 403", what)
	}
	s := err.Error()
	if len(s) > 4<<10 {
		t.Errorf("%s: error of %d bytes, want at most 4 KiB", what, len(s))
	}
	if strings.ContainsAny(s, "\u009b\u009d\u202e") {
		t.Errorf("%s: error holds the server's escapes unescaped: %.120q", what, s)
	}
}

// TestAttackS3ErrorMessageBounded: a site's S3 server chooses the message
// of its error answers. The client put it, whole, into the error every
// read, listing, removal and write returned: up to MaxS3Response (16 MiB)
// of it, terminal escapes included, into what a staging reports, logs
// and records.
func TestAttackS3ErrorMessageBounded(t *testing.T) {
	srv := hostileErrorServer()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := openFakeS3(t, ctx, srv.URL)
	_, err := ReadObject(ctx, st, "meridian/d/manifest", 1<<20)
	checkErrText(t, "read", err)
	var listErr error
	for _, err := range st.List(ctx, "meridian/d/") {
		if err != nil {
			listErr = err
			break
		}
	}
	checkErrText(t, "list", listErr)
	checkErrText(t, "delete", st.Delete(ctx, "meridian/d/manifest"))
	checkErrText(t, "put", Put(ctx, st, "meridian/d/manifest", []byte("x")))
	checkErrText(t, "put in parts", Put(ctx, st, "meridian/d/big", make([]byte, DefaultPartSize+1)))
	checkErrText(t, "delete many", st.deleteMany(ctx, []string{"meridian/d/a", "meridian/d/b"}))
}

// TestAttackListedKeyInErrorQuoted: a key a site's server lists is its
// choice. A stale temporary object whose removal failed was named in the
// error as listed: half a megabyte of it, terminal escapes included.
func TestAttackListedKeyInErrorQuoted(t *testing.T) {
	key := "meridian/d/\u009b2J\u202e" + strings.Repeat("k", 512<<10) + ".tmp"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") != "" {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><IsTruncated>false</IsTruncated><Contents><Key>%s</Key><Size>1</Size><LastModified>2020-01-01T00:00:00.000Z</LastModified></Contents></ListBucketResult>`, key)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>denied</Message></Error>`)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := openFakeS3(t, ctx, srv.URL)
	_, err := RemoveStaleTemps(ctx, st, "d", time.Minute, 100)
	checkErrText(t, "remove stale temps", err)
	_, err = ScanFolder(ctx, st, "d", FolderScan{StaleAge: time.Minute, Limit: 100})
	checkErrText(t, "scan folder", err)
}

// TestAttackListedSizesSaturate: the sizes a listing gives are the
// store's claim. Two objects of a name each listed at the largest size
// an int64 holds made ListedWithPrefix's sum for the name wrap to a
// negative number of bytes, which a sweep records as what it withdrew.
func TestAttackListedSizesSaturate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><IsTruncated>false</IsTruncated>`)
		for _, k := range []string{"a", "b", "c"} {
			fmt.Fprintf(w, `<Contents><Key>meridian/ckpt-x-1/chunks/%s</Key><Size>9223372036854775807</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>`, k)
		}
		fmt.Fprint(w, `</ListBucketResult>`)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := openFakeS3(t, ctx, srv.URL)
	names, held, err := ListedWithPrefix(ctx, st, "ckpt-x-", 100, 0)
	if err != nil || len(names) != 1 {
		t.Fatalf("listed %v, %v", names, err)
	}
	if h := held["ckpt-x-1"]; h.Objects != 3 || h.Bytes != math.MaxInt64 {
		t.Fatalf("held %+v, want 3 objects and %d bytes (the sum, saturated)", h, int64(math.MaxInt64))
	}
}
