package dataset

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestTransient sorts real errors of real stores: a server's 500 and 503,
// a refused connection and a deadline are passing failures; an object that
// is not there, a refusal (403) and a manifest that is not the version
// recorded are not, however they are wrapped.
func TestTransient(t *testing.T) {
	old := minio.MaxRetry
	minio.MaxRetry = 1
	defer func() { minio.MaxRetry = old }()
	status := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		codes := map[int]string{500: "InternalError", 503: "ServiceUnavailable", 403: "AccessDenied", 404: "NoSuchKey"}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>test</Message></Error>`, codes[status])
	}))
	defer srv.Close()
	ctx := context.Background()
	s3 := openFakeS3(t, ctx, srv.URL)
	for _, c := range []struct {
		status int
		want   bool
	}{{500, true}, {503, true}, {403, false}, {404, false}} {
		status = c.status
		_, err := ReadObject(ctx, s3, "k", 10)
		if err == nil || Transient(err) != c.want {
			t.Errorf("S3 answering %d: %v, transient %v; want %v", c.status, err, Transient(err), c.want)
		}
	}
	// Nothing listens on a port just closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	down, err := OpenStore(ctx, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint=http://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if _, err := ReadObject(ctx, down, "k", 10); err == nil || !Transient(err) {
		t.Errorf("a store nobody listens at: %v, transient %v; want transient", err, Transient(err))
	}
	dctx, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	if _, err := ReadObject(dctx, down, "k", 10); err == nil || !Transient(err) {
		t.Errorf("past the deadline: %v, transient %v; want transient", err, Transient(err))
	}
	dir, err := OpenStore(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if _, err := ReadObject(ctx, dir, "missing", 10); !errors.Is(err, ErrNotFound) || Transient(err) {
		t.Errorf("a missing object: %v, transient %v; want not transient", err, Transient(err))
	}
	pin := CheckPin("ds", []byte("manifest"), "00")
	if Transient(fmt.Errorf("the source store: %w (after %w)", pin, context.DeadlineExceeded)) {
		t.Errorf("a manifest that is not the version recorded counts as transient: %v", pin)
	}
}

// TestCertificateNotTrustedIsNoPassingFailure: a store whose TLS fails
// verification is met again however long one waits (a configuration, or
// someone in between); it was a network error like any other, so a
// staging into it was held and tried again for ever rather than failed.
func TestCertificateNotTrustedIsNoPassingFailure(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, err := http.Get(srv.URL) // the server's certificate is trusted by no one here
	if err == nil {
		t.Fatal("a GET of a server with an untrusted certificate succeeded")
	}
	if Transient(err) || !Refused(err) {
		t.Errorf("%v: transient %v, refused %v; want a refusal", err, Transient(err), Refused(err))
	}
	if joined := errors.Join(err, context.DeadlineExceeded); Transient(joined) {
		t.Errorf("an untrusted certificate joined with a deadline counts as passing")
	}
}
