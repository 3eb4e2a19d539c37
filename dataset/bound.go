package dataset

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"meridian.dev/meridian/seal"
)

// Bounds on what one unseal writes at the site, whatever its manifest
// says. A manifest (the tenant's own, or a checkpoint's, sealed from what
// a workload left) may name one chunk any number of times, in one file or
// in many: staging copies each distinct chunk once, but an unseal writes
// it at every place it is named, so a few megabytes staged could fill the
// site's scratch. An unseal writes at most UnsealRatio times the bytes of
// the manifest's distinct chunks, and UnsealSlack besides; a manifest that
// would make it write more is refused (ErrUnsealBound) before anything is
// written. A chunk of zeros is a hole in the file an unseal into a
// directory writes, and takes no room there, so it is not counted (a
// sparse checkpoint stays within the bound); a tar stream carries every
// byte, and counts them all.
const (
	UnsealRatio       = 4
	UnsealSlack int64 = 1 << 30
)

// unsealSlack is UnsealSlack, lowered by tests.
var unsealSlack = UnsealSlack

// ErrUnsealBound means a manifest names its chunks so many times over that
// unsealing it would write more than the bound on an unseal.
var ErrUnsealBound = errors.New("manifest unpacks to more than an unseal writes")

// chunkUse is how one distinct chunk is used by a manifest.
type chunkUse struct {
	refs uint32 // how many times files name it
	size int32  // its size where first named
}

// checkUnsealBound refuses a manifest whose files would make an unseal
// write more than the bound, before anything is written. With holes (an
// unseal into a directory), a chunk named more than once is read and
// authenticated when that is needed to know that it is zeros: such chunks
// are returned, with their sizes, as the unseal need not read them again.
func checkUnsealBound(ctx context.Context, b *Store, s *seal.Sealer, name string, m *Manifest, holes bool) (map[seal.ID]int64, error) {
	zero := map[seal.ID]int64{}
	uses := map[seal.ID]chunkUse{}
	var staged, total int64
	for _, f := range m.Files {
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
	// Name the reference past which the bound is crossed.
	var sum int64
	for i, f := range m.Files {
		for j, c := range f.Chunks {
			if _, ok := zero[c.ID]; ok {
				continue
			}
			if sum += c.Size; sum > bound {
				kind := "holes aside"
				if !holes {
					kind = "as a tar stream, zeros and all"
				}
				return nil, fmt.Errorf("manifest: files[%d].chunks[%d].id %s: named %d times in the manifest: its files unpack to %d bytes (%s) from %d bytes of distinct chunks, over the %d an unseal writes (%d times those, and %d): %w",
					i, j, c.ID, uses[c.ID].refs, total, kind, staged, bound, UnsealRatio, unsealSlack, ErrUnsealBound)
			}
		}
	}
	return nil, fmt.Errorf("manifest: its files unpack to %d bytes, over %d: %w", total, bound, ErrUnsealBound)
}
