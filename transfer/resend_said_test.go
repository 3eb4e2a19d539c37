package transfer

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/dataset"
)

// TestResendIsTheStoresOwnWord: whether a store's writes may send a body
// again was told from its URL's scheme, so that a store whose URL says
// file:// was taken at its word, whatever wrote to it. It is now what the
// store's opener says: an S3 store resends whatever its URL says, a file
// store does not, and no store is taken to send once unless it says so.
func TestResendIsTheStoresOwnWord(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(&memS3{objs: map[string][]byte{}})
	t.Cleanup(srv.Close)
	s3, err := dataset.OpenStore(ctx, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	file, err := dataset.OpenStore(ctx, "file://"+filepath.Join(t.TempDir(), "site"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if !mayResend(s3) || !mayResend(s3.Sub("t/acme/")) || !mayResend(nil) {
		t.Fatal("an S3 store (or none) is taken to send each body once")
	}
	s3.URL = "file://" + t.TempDir()
	if !mayResend(s3) {
		t.Fatal("an S3 store whose URL says file:// is taken to send each body once")
	}
	if mayResend(file) || mayResend(file.Sub("t/acme/")) {
		t.Fatal("a file store is taken to send a body again")
	}
	file.URL = "unknown://elsewhere"
	if mayResend(file) {
		t.Fatal("a file store under another URL is taken to send a body again")
	}
}
