package dataset

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestTempTarget(t *testing.T) {
	for name, want := range map[string]string{
		"meridian/d/chunks/ab/abcd.0123456789abcdef.tmp": "meridian/d/chunks/ab/abcd",
		"meridian/d/manifest.fedcba9876543210.tmp":       "meridian/d/manifest",
		"meridian/d/manifest.tmp":                        "",
		"meridian/d/manifest.0123456789abcdeg.tmp":       "",
		".0123456789abcdef.tmp":                          "",
		"x.0123456789abcdef":                             "",
	} {
		got, ok := TempTarget(name)
		if ok != (want != "") || got != want {
			t.Errorf("TempTarget(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

// What put leaves when its writer dies before the rename is found, under
// the object's name, with the bytes written; Discard removes it.
func TestUnfinishedWritesFileStore(t *testing.T) {
	ctx := context.Background()
	st, err := OpenStore(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := Put(ctx, st, ManifestKey("d"), []byte("whole")); err != nil {
		t.Fatal(err)
	}
	temp := ManifestKey("d") + ".00112233445566ff.tmp"
	if err := st.b.put(ctx, temp, make([]byte, 7)); err != nil {
		t.Fatal(err)
	}
	ws, err := UnfinishedWrites(ctx, st, "d", nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Key != ManifestKey("d") || ws[0].Bytes != 7 {
		t.Fatalf("unfinished writes: %+v", ws)
	}
	if err := Discard(ctx, st, ws[0]); err != nil {
		t.Fatal(err)
	}
	if ws, err := UnfinishedWrites(ctx, st, "d", nil, 100); err != nil || len(ws) != 0 {
		t.Fatalf("after Discard: %+v, %v", ws, err)
	}
}

// TestAttackS3UploadParts: a site's listing of an upload's parts is read
// within bounds: pages that do not advance, or more parts than
// MaxUploadParts, are refused (ErrListTooLong) after a bounded number of
// requests; a part of a negative or impossible size is refused
// (ErrTooLarge). Pages without parts count against the bound too: a site
// listing many uploads, each with pages of nothing before its end, would
// otherwise have each cost many requests.
func TestAttackS3UploadParts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		page    func(n int64) string
		want    error
		max     int64
		uploads int
	}{
		{"many uploads of empty pages", func(n int64) string {
			if n%20 == 0 {
				return `<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>`
			}
			return fmt.Sprintf(`<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>%d</NextPartNumberMarker></ListPartsResult>`, n%20)
		}, ErrListTooLong, MaxUploadParts + 1, 1000},
		{"same page again", func(n int64) string {
			return `<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>0</NextPartNumberMarker><Part><PartNumber>1</PartNumber><Size>5</Size></Part></ListPartsResult>`
		}, ErrListTooLong, 2, 1},
		{"endless parts", func(n int64) string {
			return fmt.Sprintf(`<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>%d</NextPartNumberMarker><Part><PartNumber>%d</PartNumber><Size>5</Size></Part></ListPartsResult>`, n, n)
		}, ErrListTooLong, MaxUploadParts + 1, 1},
		{"negative part", func(n int64) string {
			return `<ListPartsResult><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber><Size>-5</Size></Part></ListPartsResult>`
		}, ErrTooLarge, 1, 1},
		{"huge part", func(n int64) string {
			return `<ListPartsResult><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber><Size>9000000000000000000</Size></Part></ListPartsResult>`
		}, ErrTooLarge, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pages atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				switch {
				case r.Method == http.MethodGet && q.Has("uploads"):
					fmt.Fprint(w, `<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>`)
					for i := range tc.uploads {
						fmt.Fprintf(w, `<Upload><Key>meridian/d/manifest</Key><UploadId>u%d</UploadId><Initiated>2026-01-01T00:00:00Z</Initiated></Upload>`, i)
					}
					fmt.Fprint(w, `</ListMultipartUploadsResult>`)
				case r.Method == http.MethodGet && q.Has("uploadId"):
					fmt.Fprint(w, tc.page(pages.Add(1)))
				case r.Method == http.MethodGet && q.Get("list-type") == "2":
					fmt.Fprint(w, `<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated></ListBucketResult>`)
				default:
					w.WriteHeader(http.StatusNotImplemented)
				}
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			st := openFakeS3(t, ctx, srv.URL)
			if ws, err := UnfinishedWrites(ctx, st, "d", func(k string) bool { return k != ManifestKey("d") }, 1000); err != nil || len(ws) != 0 || pages.Load() != 0 {
				t.Fatalf("only other objects wanted: %+v, %v, %d pages of parts asked for", ws, err, pages.Load())
			}
			_, err := UnfinishedWrites(ctx, st, "d", nil, 10000)
			if !errors.Is(err, tc.want) {
				t.Fatalf("unfinished writes: %v, want %v", err, tc.want)
			}
			if pages.Load() > tc.max {
				t.Fatalf("%d pages of parts asked for; at most %d", pages.Load(), tc.max)
			}
		})
	}
}

// TestS3UnfinishedUploads: on a real S3 server, the upload a writer killed
// mid-way left under a dataset is found with the bytes of its part, under
// a tenant's prefix; Discard aborts it, and another dataset's, whose name
// the first's is a prefix of, is neither listed nor touched.
func TestS3UnfinishedUploads(t *testing.T) {
	st := s3Store(t).Sub(fmt.Sprintf("unfinished-%d/", time.Now().UnixNano()))
	ctx := context.Background()
	startUpload(t, st, ManifestKey("up"))
	startUpload(t, st, ManifestKey("up2"))
	ws, err := UnfinishedWrites(ctx, st, "up", nil, ListBound(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Key != ManifestKey("up") || ws[0].Bytes != 5<<20 {
		t.Fatalf("unfinished writes of up: %+v; want its manifest's upload of %d bytes", ws, 5<<20)
	}
	if err := Discard(ctx, st, ws[0]); err != nil {
		t.Fatal(err)
	}
	if ups := uploadsUnder(t, st, rootPrefix); len(ups) != 1 || ups[0] != ManifestKey("up2") {
		t.Fatalf("uploads left after discarding up's: %q, want only up2's", ups)
	}
}
