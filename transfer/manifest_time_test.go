package transfer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// tricklingStore is an S3-compatible server whose every object declares
// 1 GiB (dataset.MaxManifestBytes) and arrives a KiB at a time, faster
// than dataset.MinReadRate, for as long as the reader stays.
func tricklingStore(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/bkt/") || strings.HasSuffix(r.URL.Path, "/bkt") {
			fmt.Fprint(w, `<LocationConstraint>us-east-1</LocationConstraint>`)
			return
		}
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(dataset.MaxManifestBytes))
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusOK)
		piece := make([]byte, 1<<10)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				if _, err := w.Write(piece); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestAttackManifestTrickledAtTheMinimumRate: a store (the source of a
// checkpoint's move is a site's) that declared a manifest of the largest
// size a manifest may have and sent it just above the slowest rate a read
// may keep held the copy for some four and a half hours, the store's own
// bound on one read of that size. The manifest's read has a bound of its
// own (ManifestReadTime, set low here), and the copy fails with a read
// deadline, a passing failure, having sent nothing.
func TestAttackManifestTrickledAtTheMinimumRate(t *testing.T) {
	defer func(d time.Duration) { manifestReadTime = d }(manifestReadTime)
	manifestReadTime = 300 * time.Millisecond
	srv := tricklingStore(t)
	f := newFixture(t, 1, 10<<10, "")
	// The test's own guard: a read the bound does not stop runs into it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	src, err := dataset.OpenStore(ctx, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	key, _ := f.keys.Get("chat-logs")
	sealer, _ := seal.New(key, "chat-logs")
	_, err = f.stager().Copy(ctx, CopyRequest{Name: "chat-logs", Sealer: sealer, Src: src, Dst: dst,
		Entry: Entry{Kind: KindCheckpoint, Dataset: "chat-logs", Site: "my-johor-1", AsOf: "2026-01-15"}})
	if !errors.Is(err, dataset.ErrReadDeadline) || ctx.Err() != nil {
		t.Fatalf("copy from a store trickling a 1 GiB manifest: %v (guard: %v); want a read deadline before the guard", err, ctx.Err())
	}
	if !Transient(err) {
		t.Errorf("%v is not a passing failure", err)
	}
	if objs := siteObjects(t, f.siteDir); len(objs) != 0 {
		t.Errorf("the site holds %v", objs)
	}
}
