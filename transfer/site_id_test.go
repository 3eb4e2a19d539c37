package transfer

import (
	"context"
	"encoding/json"
	"encoding/xml"
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
// names it; one on an upload larger than any intent was to send (no
// intent's, removed and named on no record) no longer fails it.
func TestAttackSiteLongUploadIDRefused(t *testing.T) {
	uploadID := strings.Repeat("u", maxSiteIDBytes+1)
	err, named := reconcileOverUpload(t, uploadID, 3)
	if err == nil || !strings.Contains(err.Error(), "upload id") || !strings.Contains(err.Error(), "field counted id") || !strings.Contains(err.Error(), dataset.ManifestKey("big")) {
		t.Fatalf("reconcile over a %d-byte upload id: %v; want refused, naming the field and the object", len(uploadID), err)
	}
	if named {
		t.Errorf("a record names the %d-byte upload id", len(uploadID))
	}
	// An upload larger than any intent was to send is no intent's: no
	// record names it, and it is removed whatever its id.
	if err, named := reconcileOverUpload(t, uploadID, 0); err != nil || named {
		t.Errorf("reconcile over a %d-byte upload id larger than any intent: %v, named %v; want it removed, named on no record", len(uploadID), err, named)
	}
}

// TestAttackSiteEscapedUploadIDRefused: an id within maxSiteIDBytes of
// bytes the record's JSON writes as six each (<, > and &, a control byte,
// a byte that is not UTF-8) had up to 4,096 of them make a record of some
// 24 MiB, past what the store appends, failing the reconcile with an
// error that named no field. Such an id now fails it naming the field and
// the byte, and no record names it; one of printable ASCII passes. An
// upload larger than any intent was to send is no intent's, which no
// record names: whatever its id, it is removed and the reconcile goes on.
func TestAttackSiteEscapedUploadIDRefused(t *testing.T) {
	for _, c := range []struct {
		what, id string
	}{
		{"<", "a<b"},
		{">", "a>b"},
		{"&", strings.Repeat("&", maxSiteIDBytes-len("upload:"))},
		{"a tab", "a\tb"},
		{"a byte outside ASCII", "caf\u00e9"},
	} {
		err, named := reconcileOverUpload(t, c.id, 3)
		if err == nil || !strings.Contains(err.Error(), "field counted id") || !strings.Contains(err.Error(), "printable ASCII") || !strings.Contains(err.Error(), dataset.ManifestKey("big")) {
			t.Errorf("reconcile over an upload id with %s: %v; want refused, naming the field, the problem and the object", c.what, err)
		}
		if named {
			t.Errorf("a record names the upload id with %s", c.what)
		}
		// Larger than the manifest was to be: no intent's.
		if err, named := reconcileOverUpload(t, c.id, 0); err != nil || named {
			t.Errorf("reconcile over an upload with %s larger than any intent: %v, named %v; want it removed, named on no record", c.what, err, named)
		}
	}
	if err, named := reconcileOverUpload(t, "VXBsb2FkIElE-_.~+/=\"\\ 2~x", 3); err != nil || !named {
		t.Errorf("reconcile over an upload id of printable ASCII: %v, named %v; want counted, on a record", err, named)
	}
}

// reconcileOverUpload reconciles an intent to send a manifest of three
// parts (times parts: 0 sends less than the one part there) over an S3
// site that holds an upload of one part of the manifest under uploadID:
// the reconcile's error, and whether a record names uploadID.
func reconcileOverUpload(t *testing.T, uploadID string, parts int64) (error, bool) {
	t.Helper()
	const name = "big"
	const part = 5 << 20
	key := "site-a/t/acme/data/" + dataset.ManifestKey(name)
	var esc strings.Builder
	if err := xml.EscapeText(&esc, []byte(uploadID)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodGet && q.Has("uploads"):
			fmt.Fprintf(w, `<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>`+
				`<Upload><Key>%s</Key><UploadId>%s</UploadId><Initiated>%s</Initiated></Upload></ListMultipartUploadsResult>`,
				key, esc.String(), time.Now().UTC().Format(time.RFC3339))
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
	bytes := parts * part
	if parts == 0 {
		bytes = part - 1
	}
	manifest := Object{Key: dataset.ManifestKey(name), Bytes: bytes, SHA256: strings.Repeat("ab", 32)}
	if err := led.Append(ctx, "", KindIntent, "", Intent{ID: "i1", Entry: e, Objects: []Object{manifest}}); err != nil {
		t.Fatal(err)
	}
	_, rerr := s.Reconcile(ctx, CopyRequest{Name: name, Dst: dst, Entry: e})
	recs, err := led.Records(ctx, "", KindIntent, KindTransfer, KindAbandoned, KindDiscarded)
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, r := range recs {
		var x struct{ Counted, Writes []CountedWrite }
		if err := json.Unmarshal(r.Payload, &x); err != nil {
			continue
		}
		for _, c := range append(x.Counted, x.Writes...) {
			named = named || c.ID == "upload:"+uploadID
		}
	}
	return rerr, named
}
