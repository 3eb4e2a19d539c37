package transfer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
)

// TestAttackSiteLongUploadIDRefused: an S3 upload's id is the site's to
// choose, and a reconcile named each cut upload it counted by its id on
// its ledger record (Entry.Counted, then Discarded), up to 4,096 of
// them: a site that gave megabyte ids had Meridian write an audit entry
// larger than any reader takes, which failed every gap-checked read of
// the ledger, for every tenant, for good. An id over maxSiteIDBytes now
// fails the reconcile, naming the field and the object, and no record
// names it.
func TestAttackSiteLongUploadIDRefused(t *testing.T) {
	const name = "big"
	const part = 5 << 20
	uploadID := strings.Repeat("u", maxSiteIDBytes+1)
	key := "site-a/t/acme/data/" + dataset.ManifestKey(name)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodGet && q.Has("uploads"):
			fmt.Fprintf(w, `<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>`+
				`<Upload><Key>%s</Key><UploadId>%s</UploadId><Initiated>%s</Initiated></Upload></ListMultipartUploadsResult>`,
				key, uploadID, time.Now().UTC().Format(time.RFC3339))
		case r.Method == http.MethodGet && q.Get("uploadId") == uploadID:
			fmt.Fprintf(w, `<ListPartsResult><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber><Size>%d</Size></Part></ListPartsResult>`, part)
		case r.Method == http.MethodGet && q.Get("list-type") == "2":
			fmt.Fprint(w, `<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated></ListBucketResult>`)
		case r.Method == http.MethodDelete && q.Get("uploadId") == uploadID:
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
	if err := led.Append(ctx, "", KindIntent, "", Intent{ID: "i1", Entry: e, Objects: []Object{manifest}}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Reconcile(ctx, CopyRequest{Name: name, Dst: dst, Entry: e})
	if err == nil || !strings.Contains(err.Error(), "upload id") || !strings.Contains(err.Error(), dataset.ManifestKey(name)) {
		t.Fatalf("reconcile over a %d-byte upload id: %v; want refused, naming the field and the object", len(uploadID), err)
	}
	recs, err := led.Records(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Payload), uploadID) {
			t.Errorf("record %s names the %d-byte upload id", r.Kind, len(uploadID))
		}
	}
}
