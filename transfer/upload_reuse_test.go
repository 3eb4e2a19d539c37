package transfer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestAttackSiteReusesAnUploadIDForAnotherObject: an S3 upload's id is
// the server's to choose. A reconcile counted the parts of an upload of
// the manifest, cut by a kill, and named it as counted by its id alone;
// a later copy's upload of a chunk, cut too, that the server gave the
// same id was taken for that write found again, and its bytes counted
// only beyond those counted before: here none of them. A write counted
// is now one of the same object only.
func TestAttackSiteReusesAnUploadIDForAnotherObject(t *testing.T) {
	const name = "big"
	const part = 5 << 20
	var id seal.ID
	id[0] = 7
	chunk := Object{Key: dataset.ChunkKey(name, id), Bytes: int64(seal.SealedSize(8 << 20)), Chunk: &dataset.ChunkRef{ID: id, Size: 8 << 20}}
	// The bucket's key of the object the one upload listed is to
	// become, and its parts: first the manifest's, then the chunk's.
	under := "site-a/t/acme/data/"
	var listed atomic.Value
	type upload struct {
		key   string
		parts int
	}
	listed.Store(upload{under + dataset.ManifestKey(name), 2})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		up := listed.Load().(upload)
		switch {
		case r.Method == http.MethodGet && q.Has("uploads"):
			fmt.Fprintf(w, `<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>`+
				`<Upload><Key>%s</Key><UploadId>u1</UploadId><Initiated>%s</Initiated></Upload></ListMultipartUploadsResult>`,
				up.key, time.Now().UTC().Format(time.RFC3339))
		case r.Method == http.MethodGet && q.Get("uploadId") == "u1":
			fmt.Fprint(w, `<ListPartsResult><IsTruncated>false</IsTruncated>`)
			for i := range up.parts {
				fmt.Fprintf(w, `<Part><PartNumber>%d</PartNumber><Size>%d</Size></Part>`, i+1, part)
			}
			fmt.Fprint(w, `</ListPartsResult>`)
		case r.Method == http.MethodGet && q.Get("list-type") == "2":
			fmt.Fprint(w, `<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated></ListBucketResult>`)
		case r.Method == http.MethodDelete && q.Get("uploadId") == "u1":
			// Aborted, says the site, which keeps the id for the next.
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			if strings.HasSuffix(r.URL.Path, "/bkt/") || strings.HasSuffix(r.URL.Path, "/bkt") {
				fmt.Fprint(w, `<LocationConstraint>us-east-1</LocationConstraint>`)
				return
			}
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<Error><Code>NoSuchKey</Code><Message>no</Message></Error>`)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	site, err := dataset.OpenStore(ctx, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&prefix=site-a/&endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	dst := site.Sub("t/acme/data/")

	led := &FileLedger{Path: t.TempDir() + "/ledger.jsonl"}
	e := Entry{Kind: KindDataset, Dataset: name, Site: "s3-site", From: "CN", To: "MY", AsOf: "2026-01-15"}
	s := &Stager{Law: BasisLaw{}, Ledger: led, Keys: oneKeyring{}}
	manifest := Object{Key: dataset.ManifestKey(name), Bytes: 3 * part, SHA256: strings.Repeat("ab", 32)}
	var unseen int64
	for i, step := range []struct {
		obj  Object
		want int64 // bytes confirmed in all
	}{{manifest, 2 * part}, {chunk, 2*part + part}} {
		if i == 1 {
			listed.Store(upload{under + chunk.Key, 1})
		}
		// And the tries each intent left open may have sent unrecorded.
		unseen += dataset.MaxCrossed(int(step.obj.Bytes))
		step.want += unseen
		in := Intent{ID: fmt.Sprintf("i%d", i+1), Entry: e, Objects: []Object{step.obj}}
		if err := led.Append(ctx, "", KindIntent, "", in); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Reconcile(ctx, CopyRequest{Name: name, Dst: dst, Entry: e}); err != nil {
			t.Fatal(err)
		}
		sums, err := Summarize(ctx, led, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(sums) != 1 || sums[0].OpenIntents != 0 || sums[0].BytesConfirmed != step.want || sums[0].BytesPartial != step.want {
			t.Fatalf("after the cut upload of %s the ledger says %+v; want %d bytes confirmed, in part", step.obj.Key, sums, step.want)
		}
	}
}

// TestAttackSiteReusesAnUploadIDOfADiscardedWrite: as above, for the
// same object. A reconcile counted a cut upload of the manifest and
// aborted it, the site confirming; a later copy's upload of the
// manifest, cut too, that the site gave the same id was taken for the
// write counted before, found again, and counted only beyond its
// bytes: here none. A write whose removal the site confirmed is now
// forgotten as counted (KindDiscarded): one found again under its id is
// another, and counts in full (a site that keeps what it said it
// removed has it counted again: an overcount).
func TestAttackSiteReusesAnUploadIDOfADiscardedWrite(t *testing.T) {
	const name = "big"
	const part = 5 << 20
	key := "site-a/t/acme/data/" + dataset.ManifestKey(name)
	var parts atomic.Int64
	parts.Store(2)
	var aborted atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodGet && q.Has("uploads"):
			fmt.Fprintf(w, `<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>`+
				`<Upload><Key>%s</Key><UploadId>u1</UploadId><Initiated>%s</Initiated></Upload></ListMultipartUploadsResult>`,
				key, time.Now().UTC().Format(time.RFC3339))
		case r.Method == http.MethodGet && q.Get("uploadId") == "u1":
			fmt.Fprint(w, `<ListPartsResult><IsTruncated>false</IsTruncated>`)
			for i := range parts.Load() {
				fmt.Fprintf(w, `<Part><PartNumber>%d</PartNumber><Size>%d</Size></Part>`, i+1, part)
			}
			fmt.Fprint(w, `</ListPartsResult>`)
		case r.Method == http.MethodGet && q.Get("list-type") == "2":
			fmt.Fprint(w, `<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated></ListBucketResult>`)
		case r.Method == http.MethodDelete && q.Get("uploadId") == "u1":
			aborted.Add(1)
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			if strings.HasSuffix(r.URL.Path, "/bkt/") || strings.HasSuffix(r.URL.Path, "/bkt") {
				fmt.Fprint(w, `<LocationConstraint>us-east-1</LocationConstraint>`)
				return
			}
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<Error><Code>NoSuchKey</Code><Message>no</Message></Error>`)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	site, err := dataset.OpenStore(ctx, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&prefix=site-a/&endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	dst := site.Sub("t/acme/data/")

	led := &FileLedger{Path: t.TempDir() + "/ledger.jsonl"}
	e := Entry{Kind: KindDataset, Dataset: name, Site: "s3-site", From: "CN", To: "MY", AsOf: "2026-01-15"}
	s := &Stager{Law: BasisLaw{}, Ledger: led, Keys: oneKeyring{}}
	manifest := Object{Key: dataset.ManifestKey(name), Bytes: 3 * part, SHA256: strings.Repeat("ab", 32)}
	for i, want := range []int64{2 * part, 2*part + part} {
		if i == 1 {
			parts.Store(1)
		}
		// And the tries each intent left open may have sent unrecorded.
		want += int64(i+1) * dataset.MaxCrossed(int(manifest.Bytes))
		in := Intent{ID: fmt.Sprintf("i%d", i+1), Entry: e, Objects: []Object{manifest}}
		if err := led.Append(ctx, "", KindIntent, "", in); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Reconcile(ctx, CopyRequest{Name: name, Dst: dst, Entry: e}); err != nil {
			t.Fatal(err)
		}
		sums, err := Summarize(ctx, led, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(sums) != 1 || sums[0].OpenIntents != 0 || sums[0].BytesConfirmed != want || sums[0].BytesPartial != want {
			t.Fatalf("after cut upload %d the ledger says %+v; want %d bytes confirmed, in part", i+1, sums, want)
		}
		if aborted.Load() != int64(i+1) {
			t.Fatalf("after cut upload %d, %d aborts; want %d", i+1, aborted.Load(), i+1)
		}
	}
}
