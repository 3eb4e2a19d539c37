package transfer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/dataset"
)

// cancelLeavingTemp makes the first chunk's write to f's site fail as a
// file store's write cancelled after n of its bytes were written, and
// whose removal of its temporary file failed: the file stays, and the
// write says the n bytes crossed. It returns the temporary file's path,
// once written.
func cancelLeavingTemp(t *testing.T, f *fixture) *string {
	t.Helper()
	var temp string
	putObject = func(ctx context.Context, b *dataset.Store, key string, data []byte) (int64, error) {
		if temp != "" || key == dataset.ManifestKey("chat-logs") {
			return dataset.PutResent(ctx, b, key, data)
		}
		n := len(data) / 2
		temp = filepath.Join(f.siteDir, filepath.FromSlash(key)) + ".00112233445566ff.tmp"
		if err := os.MkdirAll(filepath.Dir(temp), 0o755); err != nil {
			t.Error(err)
		}
		if err := os.WriteFile(temp, data[:n], 0o644); err != nil {
			t.Error(err)
		}
		return 0, &dataset.UploadError{Crossed: int64(n), Err: context.Canceled}
	}
	t.Cleanup(func() { putObject = dataset.PutResent })
	return &temp
}

// TestCancelledWriteLeftBehindCountedOnce: a file store's write cancelled
// after its bytes were written says they crossed, and the failed batch's
// record counts them (Partial); when its removal of the temporary file
// failed, the file stayed, and the next staging's reconcile of the
// object (in the intent of what was not sent) counted its bytes again.
// The record now names the write it counted (Counted), and the reconcile
// counts it once. A record that was not written counts nothing, and the
// reconcile then counts the write as before: never an undercount.
func TestCancelledWriteLeftBehindCountedOnce(t *testing.T) {
	for _, recorded := range []bool{true, false} {
		name := "recorded"
		if !recorded {
			name = "not-recorded"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, 4, 200<<10, "")
			temp := cancelLeavingTemp(t, f)
			s := f.stager()
			s.Workers = 1
			if !recorded {
				s.Ledger = failKind{Ledger: f.ledger, kind: KindTransfer}
			}
			_, err := s.Stage(context.Background(), f.request())
			crossed := dataset.Crossed(err)
			if err == nil || crossed == 0 {
				t.Fatalf("a staging whose write was cancelled part way: %v", err)
			}
			st, err := os.Stat(*temp)
			if err != nil || st.Size() != crossed {
				t.Fatalf("the write's temporary file: %v, %v; want %d bytes left", st, err, crossed)
			}
			sums, err := Summarize(context.Background(), f.ledger, "")
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int64{true: crossed, false: 0}[recorded]; len(sums) != 1 || sums[0].BytesPartial != want {
				t.Fatalf("after the cancelled write the ledger says %+v; want %d bytes in part", sums, want)
			}
			putObject = dataset.PutResent
			if _, err := f.stager().Stage(context.Background(), f.request()); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(*temp); !os.IsNotExist(err) {
				t.Fatalf("the temporary file is still at the site: %v", err)
			}
			sums, err = Summarize(context.Background(), f.ledger, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(sums) != 1 || sums[0].BytesPartial != crossed || sums[0].OpenIntents != 0 ||
				sums[0].BytesConfirmed != wholeAtSite(t, f)+crossed {
				t.Fatalf("ledger summary %+v; want the %d bytes at the site and the %d that crossed in part, each once",
					sums, wholeAtSite(t, f), crossed)
			}
		})
	}
}
