package transfer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestAttackSiteHidesTheManifestUntilAbandoned: a copy was cut once the
// manifest reached the site, before its confirmation. The site hid the
// manifest from the reconcile (`dataset ledger`), which recorded it as
// abandoned, and then showed it to the next staging, which found the
// same manifest there and did not send it: the manifest's bytes crossed
// and no record counted them (chunks the site did this with are
// confirmed as reappeared). Now the manifest is remembered as abandoned
// too, with its digest, and a staging that finds that version there
// confirms it.
func TestAttackSiteHidesTheManifestUntilAbandoned(t *testing.T) {
	f := newFixture(t, 3, 100<<10, "")
	ctx := context.Background()
	s := f.stager()
	s.Ledger = failComplete{f.ledger}
	if _, err := s.Stage(ctx, f.request()); !errors.Is(err, ErrLedger) {
		t.Fatalf("a staging whose last confirmation failed: %v", err)
	}
	at := filepath.Join(f.siteDir, filepath.FromSlash(dataset.ManifestKey("chat-logs")))
	hidden := filepath.Join(t.TempDir(), "manifest")
	if err := os.Rename(at, hidden); err != nil {
		t.Fatalf("the manifest is not at the site after the cut staging: %v", err)
	}
	site, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	key, _ := f.keys.Get("chat-logs")
	sealer, _ := seal.New(key, "chat-logs")
	if _, err := f.stager().Reconcile(ctx, CopyRequest{Name: "chat-logs", Sealer: sealer, Dst: site, Entry: Entry{Kind: KindDataset, Site: f.site.Metadata.Name}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(hidden, at); err != nil {
		t.Fatal(err)
	}
	res, err := f.stager().Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.ChunksSent != 0 {
		t.Fatalf("the staging after sent %d chunks; want none", res.ChunksSent)
	}
	var chunks int64
	for _, ch := range f.manifest.UniqueChunks() {
		chunks += int64(seal.SealedSize(int(ch.Size)))
	}
	sums, err := Summarize(ctx, f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := chunks + manifestBytes(t, f); len(sums) != 1 || sums[0].OpenIntents != 0 || sums[0].BytesConfirmed != want {
		t.Fatalf("ledger summary %+v; want %d bytes confirmed: the chunks and the manifest, once each", sums, want)
	}
}

// TestAttackSiteHidesTheManifestFromTheReconcileOnly: as above, within
// one staging: the site answers the reconcile's read of the manifest
// that it is not there, and the staging's comparison a moment later with
// the manifest, which the staging then did not send. Now the version
// the reconcile abandoned is confirmed when the comparison finds it. One
// abandoned before (by `dataset ledger`) that the staging's reconcile
// finds missing again is not forgotten (being in no manifest's chunks,
// it would be), so that the comparison that finds it confirms it too.
// Either way, each PUT of the manifest is counted once.
func TestAttackSiteHidesTheManifestFromTheReconcileOnly(t *testing.T) {
	for _, alone := range []bool{false, true} {
		t.Run(fmt.Sprintf("abandoned-before=%v", alone), func(t *testing.T) {
			old := minio.MaxRetry
			minio.MaxRetry = 1
			t.Cleanup(func() { minio.MaxRetry = old })
			m := &memS3{objs: map[string][]byte{}}
			var hide atomic.Int64 // the next GETs of the manifest answered 404
			var puts atomic.Int64 // of the manifest
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifest") {
					puts.Add(1)
				}
				if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifest") && hide.Add(-1) >= 0 {
					m.fail(w, http.StatusNotFound, "NoSuchKey")
					return
				}
				m.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			f := newFixture(t, 3, 100<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
			ctx := context.Background()
			s := f.stager()
			s.Ledger = failComplete{f.ledger}
			if _, err := s.Stage(ctx, f.request()); !errors.Is(err, ErrLedger) {
				t.Fatalf("a staging whose last confirmation failed: %v", err)
			}
			if alone {
				site, err := dataset.OpenStore(ctx, f.site.Spec.Store)
				if err != nil {
					t.Fatal(err)
				}
				defer site.Close()
				key, _ := f.keys.Get("chat-logs")
				sealer, _ := seal.New(key, "chat-logs")
				hide.Store(1)
				if _, err := f.stager().Reconcile(ctx, CopyRequest{Name: "chat-logs", Sealer: sealer, Dst: site, Entry: Entry{Kind: KindDataset, Site: f.site.Metadata.Name}}); err != nil {
					t.Fatal(err)
				}
			}
			hide.Store(1)
			res, err := f.stager().Stage(ctx, f.request())
			if err != nil {
				t.Fatal(err)
			}
			if res.ChunksSent != 0 {
				t.Fatalf("the staging sent %d chunks; want none", res.ChunksSent)
			}
			var chunks int64
			for _, ch := range f.manifest.UniqueChunks() {
				chunks += int64(seal.SealedSize(int(ch.Size)))
			}
			sums, err := Summarize(ctx, f.ledger, "")
			if err != nil {
				t.Fatal(err)
			}
			// Each PUT of the manifest crossed, and is counted, and so
			// are the tries its write may have sent unrecorded (the
			// manifest's intent was left open).
			if want := chunks + puts.Load()*manifestBytes(t, f) + dataset.MaxCrossed(int(manifestBytes(t, f))); len(sums) != 1 || sums[0].OpenIntents != 0 || sums[0].BytesConfirmed != want {
				t.Fatalf("ledger summary %+v; want %d bytes confirmed: the chunks, and the manifest %d times, as sent", sums, want, puts.Load())
			}
		})
	}
}
