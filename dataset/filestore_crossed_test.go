package dataset

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFileStoreCancelledWriteSaysWhatCrossed: a write to a file store
// cancelled once its bytes were written (a staging stopped by a shutdown
// or a law move) removed its temporary file and said nothing of them:
// bytes that reached the site's disk appeared on no ledger record, where
// an S3 upload's aborted parts are counted (Crossed). The write now says
// how many it wrote, and publishes nothing.
func TestFileStoreCancelledWriteSaysWhatCrossed(t *testing.T) {
	st, dir := newStore(t)
	data := bytes.Repeat([]byte("x"), 4096)
	// A write asked for on a cancelled context writes nothing.
	done, stop := context.WithCancel(context.Background())
	stop()
	if err := Put(done, st, "chunks/abc", data); err == nil || Crossed(err) != 0 {
		t.Errorf("a write on a cancelled context: %v, crossed %d; want an error, nothing crossed", err, Crossed(err))
	}
	// One cancelled while it writes (here as its file is made).
	ctx, cancel := context.WithCancel(context.Background())
	old := beforeCreate
	beforeCreate = cancel
	t.Cleanup(func() { beforeCreate = old })
	err := Put(ctx, st, "chunks/abc", data)
	beforeCreate = old
	if err == nil {
		t.Fatal("a cancelled write succeeded")
	}
	if got := Crossed(err); got != int64(len(data)) {
		t.Errorf("Crossed = %d after a cancelled write of %d bytes (%v); want every byte written", got, len(data), err)
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && !strings.HasPrefix(fi.Name(), ".") {
			t.Errorf("the cancelled write left %s", p)
		}
		return nil
	})
	// A write refused before any byte is written says nothing crossed.
	if err := Put(context.Background(), st, "../outside", data); err == nil || Crossed(err) != 0 {
		t.Errorf("a write of a key out of the store: %v, crossed %d; want an error, nothing crossed", err, Crossed(err))
	}
}
