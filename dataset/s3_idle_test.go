package dataset

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAttackSlowDripS3Object: a site's S3 server that answers a GET and
// then sends the object a byte at a time with long pauses (here: one byte,
// then nothing) held the read, and the staging around it, until the
// staging's deadline. With a small idle bound in the store's URL the read
// fails with ErrReadIdle, naming the store, both when the pause comes
// before the answer's headers and in the middle of its body.
func TestAttackSlowDripS3Object(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header bool // send the headers and a byte before the pause
	}{{"body", true}, {"headers", false}} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header {
					w.Header().Set("Content-Length", "1000")
					w.Header().Set("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")
					w.Header().Set("ETag", `"e"`)
					w.Write([]byte{1})
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done():
				case <-done:
				}
			}))
			defer srv.Close()
			defer close(done)
			// The bound on the whole test only keeps a failing run from
			// hanging; what is asserted is the error.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := OpenStore(ctx, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&read_idle=100ms&endpoint="+srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			_, err = ReadObject(ctx, st, "meridian/d/manifest", 1000)
			if !errors.Is(err, ErrReadIdle) {
				t.Fatalf("a server that stopped sending: %v, want ErrReadIdle", err)
			}
			u, _ := url.Parse(srv.URL)
			if msg := err.Error(); !strings.Contains(msg, "s3://bkt") || !strings.Contains(msg, u.Host) {
				t.Fatalf("the error %q does not name the store (s3://bkt at %s)", msg, u.Host)
			}
			if !Transient(err) {
				t.Fatalf("a stalled read is a passing failure: Transient(%v) = false", err)
			}
		})
	}
}

// TestS3ReadIdleParameter: read_idle takes a positive Go duration and
// nothing else.
func TestS3ReadIdleParameter(t *testing.T) {
	ctx := context.Background()
	for _, v := range []string{"0s", "-1m", "soon", "5"} {
		if st, err := OpenStore(ctx, "s3://bkt?anonymous=true&region=us-east-1&read_idle="+v); err == nil {
			st.Close()
			t.Errorf("read_idle=%s accepted", v)
		}
	}
	st, err := OpenStore(ctx, "s3://bkt?anonymous=true&region=us-east-1&read_idle=90s")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}
