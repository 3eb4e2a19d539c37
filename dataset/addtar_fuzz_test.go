package dataset

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"
)

// FuzzAddTar: AddTar reads a tar stream from a less trusted process (the
// checkpoint helper in the workload's sandbox). Whatever the stream holds,
// it returns an error or a manifest within its limits whose files are
// regular, with clean relative paths, and which authenticates and reads
// back.
func FuzzAddTar(f *testing.F) {
	seed := func(entries ...*tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			tw.WriteHeader(h)
			if h.Typeflag == tar.TypeReg {
				tw.Write(bytes.Repeat([]byte{'x'}, int(h.Size)))
			}
		}
		tw.Close()
		return buf.Bytes()
	}
	f.Add(seed(&tar.Header{Name: "ck", Typeflag: tar.TypeDir, Mode: 0o700},
		&tar.Header{Name: "ck/state.bin", Typeflag: tar.TypeReg, Mode: 0o600, Size: 100}))
	f.Add(seed(&tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o600, Size: 3}))
	f.Add(seed(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}))
	f.Add(seed(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o600, Size: 5000}))
	f.Add([]byte("not a tar stream"))
	f.Add(sparseTar())
	f.Add(cutTar(3000, 1000))
	const maxFiles, maxBytes = 4, 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		store, _ := newStore(t)
		s := fuzzSealer(t)
		res, err := AddTar(ctx, "fuzz", bytes.NewReader(data), store, s, maxFiles, maxBytes)
		if err != nil {
			return
		}
		if res.Files > maxFiles || res.Bytes > maxBytes || res.Bytes < 0 {
			t.Fatalf("%d files, %d bytes: over the limits %d, %d", res.Files, res.Bytes, maxFiles, maxBytes)
		}
		m, err := ReadManifest(ctx, store, s, "fuzz")
		if err != nil {
			t.Fatalf("the stored manifest does not read back: %v", err)
		}
		var total int64
		for _, file := range m.Files {
			if err := CheckPath(file.Path); err != nil {
				t.Fatalf("file %q: %v", file.Path, err)
			}
			total += file.Size
		}
		if total != res.Bytes {
			t.Fatalf("the manifest holds %d bytes, AddTar said %d", total, res.Bytes)
		}
		if rep, err := Verify(ctx, store, s, "fuzz", "", 1); err != nil || len(rep.Missing)+len(rep.Altered) != 0 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
}
