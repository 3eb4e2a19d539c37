package dataset

import (
	"archive/tar"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"meridian.dev/meridian/seal"
)

// UnsealDir decrypts the dataset from a store into dir, which must be empty
// or absent. Each file is written under a temporary name, fsynced and renamed
// into place only after every chunk in it has authenticated, so a failure
// leaves no partial file under its real name.
func UnsealDir(ctx context.Context, b *Store, s *seal.Sealer, name, dir string) (*Manifest, error) {
	return UnsealDirPinned(ctx, b, s, name, dir, "")
}

// UnsealDirPinned is UnsealDir for a version the caller recorded: pin is
// the hex SHA-256 of the manifest's stored form (as AddTar's caller
// computes it), and a stored manifest with another digest is refused
// (ErrManifestPin) before anything is written. An empty pin checks none.
func UnsealDirPinned(ctx context.Context, b *Store, s *seal.Sealer, name, dir, pin string) (*Manifest, error) {
	m, err := readManifest(ctx, b, s, name, pin)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	if len(ents) > 0 {
		return nil, fmt.Errorf("--to %s: directory is not empty", dir)
	}
	var buf []byte
	for _, f := range m.Files {
		// Paths were checked by ParseManifest (relative, no "..").
		dst := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return nil, err
		}
		if err := writeFileFromChunks(ctx, b, s, name, f, dst, &buf); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func writeFileFromChunks(ctx context.Context, b *Store, s *seal.Sealer, name string, f File, dst string, buf *[]byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// A chunk of zeros is skipped over, not written: the file keeps the
	// holes it had where it was packed (a sparse checkpoint stays sparse,
	// rather than taking its whole size on the next site's disk). The
	// chunker cuts a run of zeros into chunks of one id, so that chunk is
	// read and authenticated once and each later one is a seek.
	var at int64
	zero := map[seal.ID]int64{} // the size of each chunk of zeros read
	for _, c := range f.Chunks {
		if n, ok := zero[c.ID]; ok {
			if c.Size != n {
				// Read, it would fail to authenticate at that size.
				return fmt.Errorf("%s: chunk %s listed at %d bytes, read at %d: %w", f.Path, c.ID, c.Size, n, seal.ErrAuth)
			}
			at += n
			continue
		}
		out, err := ReadChunk(ctx, b, s, name, c, (*buf)[:0])
		if err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		*buf = out
		if allZero(out) {
			zero[c.ID] = int64(len(out))
			at += int64(len(out))
			continue
		}
		if _, err := tmp.WriteAt(out, at); err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		at += int64(len(out))
	}
	if err := tmp.Truncate(at); err != nil { // the length, where it ends in zeros
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	if err := tmp.Chmod(os.FileMode(f.Mode) & 0o700); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	ok = true
	return nil
}

// allZero reports whether p holds only zero bytes.
func allZero(p []byte) bool {
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p) != 0 {
			return false
		}
		p = p[8:]
	}
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}

// UnsealTar streams the dataset as a tar archive to w, for a job prologue
// that pipes it straight into its scratch space. Each chunk is authenticated
// before any of its bytes are written; on failure the stream stops with an
// error and without the tar end marker, so `tar -x` reports it truncated.
func UnsealTar(ctx context.Context, b *Store, s *seal.Sealer, name string, w io.Writer) (*Manifest, error) {
	return UnsealTarPinned(ctx, b, s, name, w, "")
}

// UnsealTarPinned is UnsealTar for the version whose stored manifest has
// the hex SHA-256 pin (see UnsealDirPinned); another is refused
// (ErrManifestPin) before anything is written. An empty pin checks none.
func UnsealTarPinned(ctx context.Context, b *Store, s *seal.Sealer, name string, w io.Writer, pin string) (*Manifest, error) {
	m, err := readManifest(ctx, b, s, name, pin)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(w)
	var buf []byte
	for _, f := range m.Files {
		hdr := &tar.Header{Name: f.Path, Mode: int64(f.Mode & 0o700), Size: f.Size, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		for _, c := range f.Chunks {
			out, err := ReadChunk(ctx, b, s, name, c, buf[:0])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Path, err)
			}
			buf = out
			if _, err := tw.Write(out); err != nil {
				return nil, err
			}
		}
	}
	return m, tw.Close()
}
