package dataset

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"meridian.dev/meridian/seal"
)

// Bounds on what one unseal writes at the site, whatever its manifest
// says. A manifest (the tenant's own, or a checkpoint's, sealed from what
// a workload left) may name one chunk any number of times, in one file or
// in many, and may put each file under directories of its own: staging
// copies each distinct chunk once, and the manifest, but an unseal writes
// a chunk at every place it is named, and makes every directory, so a few
// megabytes staged could fill the site's scratch. An unseal writes at most
// UnsealRatio times what was staged (the bytes of the distinct chunks and
// of the stored manifest), and UnsealSlack besides, counting each
// directory it makes as UnsealDirBytes (a file system block) and each
// file as UnsealFileBytes besides its content (its inode and its entry
// in a directory: a manifest of millions of empty files, some 50 bytes of
// it each, would otherwise make them all, and sync each); a manifest
// that would make it write more is refused (ErrUnsealBound) before
// anything is written. A chunk of zeros is a hole in the file an unseal
// into a directory writes, and takes no room there, so it is not counted
// (a sparse checkpoint stays within the bound); a tar stream carries every
// byte, and counts them all.
const (
	UnsealRatio           = 4
	UnsealSlack     int64 = 1 << 30
	UnsealDirBytes  int64 = 4 << 10
	UnsealFileBytes int64 = 512
)

// unsealSlack is UnsealSlack, lowered by tests.
var unsealSlack = UnsealSlack

// ErrUnsealBound means a manifest names its chunks, or directories, so
// many times over that unsealing it would write more than an unseal's
// bound.
var ErrUnsealBound = errors.New("manifest unpacks to more than an unseal writes")

// chunkUse is how one distinct chunk is used by a manifest.
type chunkUse struct {
	refs uint32 // how many times files name it
	size int32  // its size where first named
}

// newDirs is how many directories above path p are not above prev, the
// path before it in a manifest. Paths are sorted, and those under one
// directory are together, so these are the directories an unseal makes
// first for p.
func newDirs(prev, p string) int64 {
	var n int64
	shared := true
	for k := strings.IndexByte(p, '/'); k >= 0; {
		if !shared || len(prev) <= k || prev[:k+1] != p[:k+1] {
			shared = false
			n++
		}
		next := strings.IndexByte(p[k+1:], '/')
		if next < 0 {
			break
		}
		k += 1 + next
	}
	return n
}

// checkUnsealBound refuses a manifest whose files would make an unseal
// write more than the bound, before anything is written; stored is the
// length of its stored form. With holes (an unseal into a directory), a
// chunk named more than once is read and authenticated when that is
// needed to know that it is zeros: such chunks are returned, with their
// sizes, as the unseal need not read them again.
func checkUnsealBound(ctx context.Context, b *Store, s *seal.Sealer, name string, m *Manifest, stored int64, holes bool) (map[seal.ID]int64, error) {
	zero := map[seal.ID]int64{}
	refs := 0
	for _, f := range m.Files {
		refs += len(f.Chunks)
	}
	// Sized once, for the chunks all distinct: grown as it fills, the
	// map cost twice the time.
	uses := make(map[seal.ID]chunkUse, refs)
	staged, total := stored, int64(0)
	prev := ""
	for _, f := range m.Files {
		total += newDirs(prev, f.Path)*UnsealDirBytes + UnsealFileBytes
		prev = f.Path
		for _, c := range f.Chunks {
			// Validate bounds each size to 1..maxChunkSize, and the
			// manifest's length the number of references.
			u, ok := uses[c.ID]
			if !ok {
				u.size = int32(c.Size)
				staged += c.Size
			}
			u.refs++
			uses[c.ID] = u
			total += c.Size
		}
	}
	bound := UnsealRatio*staged + unsealSlack
	if total <= bound {
		return zero, nil
	}
	if holes {
		// Which of the chunks named more than once are zeros: those that
		// are written most first, until what is left is within bound.
		type rep struct {
			id    seal.ID
			bytes int64
			size  int64
		}
		var reps []rep
		for id, u := range uses {
			if u.refs > 1 {
				reps = append(reps, rep{id, int64(u.refs) * int64(u.size), int64(u.size)})
			}
		}
		slices.SortFunc(reps, func(x, y rep) int { return cmp.Compare(y.bytes, x.bytes) })
		var buf []byte
		for _, r := range reps {
			if total <= bound {
				break
			}
			out, err := ReadChunk(ctx, b, s, name, ChunkRef{ID: r.id, Size: r.size}, buf[:0])
			if err != nil {
				return nil, err
			}
			buf = out
			if allZero(out) {
				zero[r.id] = r.size
				total -= r.bytes
			}
		}
		if total <= bound {
			return zero, nil
		}
	}
	// Name the file's path, or the chunk, past which the bound is crossed.
	kind := "holes aside"
	if !holes {
		kind = "as a tar stream, zeros and all"
	}
	over := func(field string) error {
		return fmt.Errorf("manifest: %s: its files unpack to %d bytes (%s, each directory as %d, each file as %d more) from %d bytes staged (distinct chunks and the manifest), over the %d an unseal writes (%d times those, and %d): %w",
			field, total, kind, UnsealDirBytes, UnsealFileBytes, staged, bound, UnsealRatio, unsealSlack, ErrUnsealBound)
	}
	var sum int64
	prev = ""
	for i, f := range m.Files {
		n := newDirs(prev, f.Path)
		if sum += n*UnsealDirBytes + UnsealFileBytes; sum > bound {
			return nil, over(fmt.Sprintf("files[%d].path %q: a file and %d directories more", i, f.Path, n))
		}
		prev = f.Path
		for j, c := range f.Chunks {
			if _, ok := zero[c.ID]; ok {
				continue
			}
			if sum += c.Size; sum > bound {
				return nil, over(fmt.Sprintf("files[%d].chunks[%d].id %s: named %d times in the manifest", i, j, c.ID, uses[c.ID].refs))
			}
		}
	}
	return nil, over("files")
}
