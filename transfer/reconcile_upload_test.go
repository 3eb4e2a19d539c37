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
)

// A copy killed while uploading a large manifest to an S3 site in parts
// leaves the parts uploaded at the site: an unfinished multipart upload,
// which no listing of objects shows. The reconcile (here the one before a
// withdrawal, with no key) recorded the manifest as never having reached
// the site; now it confirms the bytes of the parts as crossed, and aborts
// the upload.
func TestReconcileCountsPartsOfAnUnfinishedUpload(t *testing.T) {
	const name = "big"
	// The bucket's key of the manifest, under the site URL's prefix and
	// the tenant's.
	key := "site-a/t/acme/data/" + dataset.ManifestKey(name)
	const part = 5 << 20
	var aborted atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodGet && q.Has("uploads"):
			fmt.Fprintf(w, `<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>`+
				`<Upload><Key>%s</Key><UploadId>u1</UploadId><Initiated>%s</Initiated></Upload></ListMultipartUploadsResult>`,
				key, time.Now().UTC().Format(time.RFC3339))
		case r.Method == http.MethodGet && q.Get("uploadId") == "u1":
			fmt.Fprint(w, `<ListPartsResult><IsTruncated>false</IsTruncated>`+
				fmt.Sprintf(`<Part><PartNumber>1</PartNumber><Size>%d</Size></Part><Part><PartNumber>2</PartNumber><Size>%d</Size></Part>`, part, part)+
				`</ListPartsResult>`)
		case r.Method == http.MethodGet && q.Get("list-type") == "2":
			fmt.Fprint(w, `<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated></ListBucketResult>`)
		case r.Method == http.MethodDelete && q.Get("uploadId") == "u1" && strings.HasSuffix(r.URL.Path, "/bkt/"+key):
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
	size := int64(3 * part)
	if err := led.Append(ctx, "", KindIntent, "", Intent{ID: "i1", Entry: e, Objects: []Object{{Key: dataset.ManifestKey(name), Bytes: size, SHA256: strings.Repeat("ab", 32)}}}); err != nil {
		t.Fatal(err)
	}
	s := &Stager{Law: BasisLaw{}, Ledger: led, Keys: oneKeyring{}}
	if _, err := s.Reconcile(ctx, CopyRequest{Name: name, Dst: dst, Entry: e}); err != nil {
		t.Fatal(err)
	}
	sums, err := Summarize(ctx, led, "")
	if err != nil {
		t.Fatal(err)
	}
	// And the tries of the manifest's write the intent left open may
	// have sent unrecorded.
	if want := 2*part + dataset.MaxCrossed(int(size)); len(sums) != 1 || sums[0].OpenIntents != 0 || sums[0].BytesConfirmed != want {
		t.Fatalf("ledger after the reconcile: %+v; want the %d bytes of the two parts uploaded confirmed, and %d unseen", sums, 2*part, want-2*part)
	}
	if aborted.Load() != 1 {
		t.Fatalf("the upload was aborted %d times; want once, after its parts were counted", aborted.Load())
	}
}
