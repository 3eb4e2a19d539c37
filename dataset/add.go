package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/restic/chunker"

	"meridian.dev/meridian/seal"
)

// Chunk size bounds: content-defined cuts average about 1 MiB.
const (
	MinChunk = 512 << 10
	MaxChunk = 8 << 20
)

// AddOptions says what to pack and where.
type AddOptions struct {
	Name    string        // dataset name (DNS label)
	Root    string        // directory to read
	Store   *Store        // home store
	Sealer  *seal.Sealer  // from the dataset's key
	Workers int           // sealing and writing goroutines; 0 means GOMAXPROCS
	OnBytes func(n int64) // optional: called as plaintext bytes are processed
}

// AddResult reports what Add did.
type AddResult struct {
	Manifest   *Manifest
	Files      int
	Bytes      int64 // plaintext bytes read
	Chunks     int   // distinct chunks in the dataset
	NewChunks  int   // chunks written this time
	NewBytes   int64 // sealed bytes written this time
	Polynomial string
}

// Add reads every file under opts.Root, splits it into content-defined
// chunks, seals and writes the chunks the store lacks, then writes the
// manifest. Chunks are written first and the manifest last, each object
// atomically, so a reader never sees a manifest naming absent chunks; an
// interrupted Add leaves only whole, unreferenced chunks, which the next Add
// reuses.
func Add(ctx context.Context, opts AddOptions) (*AddResult, error) {
	if err := CheckName(opts.Name); err != nil {
		return nil, err
	}
	_, files, err := walkRoot(opts.Root)
	if err != nil {
		return nil, err
	}
	seed := opts.Sealer.ChunkerSeed()
	pol, err := chunker.DerivePolynomial(rand.NewChaCha8(seed))
	if err != nil {
		return nil, fmt.Errorf("chunker polynomial: %w", err)
	}
	have, err := ListChunks(ctx, opts.Store, opts.Name)
	if err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	type job struct {
		ref  *ChunkRef
		buf  *[]byte
		data []byte
	}
	bufs := sync.Pool{New: func() any { b := make([]byte, 0, MaxChunk); return &b }}
	sealBufs := sync.Pool{New: func() any { b := make([]byte, 0, seal.SealedSize(MaxChunk)); return &b }}
	jobs := make(chan job, workers*2)
	var claimed sync.Map
	var newChunks, newBytes atomic.Int64

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := opts.Sealer.NewChunkHasher()
			for j := range jobs {
				h.Reset()
				h.Write(j.data)
				var id seal.ID
				h.Sum(id[:0])
				j.ref.ID, j.ref.Size = id, int64(len(j.data))
				_, stored := have[id]
				if _, dup := claimed.LoadOrStore(id, true); !dup && !stored && ctx.Err() == nil {
					sb := sealBufs.Get().(*[]byte)
					sealed, err := opts.Sealer.Seal((*sb)[:0], id, j.data)
					if err == nil {
						err = Put(ctx, opts.Store, ChunkKey(opts.Name, id), sealed)
					}
					*sb = sealed[:0]
					sealBufs.Put(sb)
					if err != nil {
						cancel(err)
					} else {
						newChunks.Add(1)
						newBytes.Add(int64(len(sealed)))
					}
				}
				if opts.OnBytes != nil {
					opts.OnBytes(int64(len(j.data)))
				}
				j.buf = nil
				bufs.Put(&j.data)
			}
		}()
	}

	m := &Manifest{Version: ManifestVersion, Dataset: opts.Name, Files: make([]File, len(files))}
	refs := make([][]*ChunkRef, len(files))
	var total int64
	produce := func() error {
		defer close(jobs)
		ch := chunker.NewWithBoundaries(nil, pol, MinChunk, MaxChunk)
		for i, sf := range files {
			f, err := os.Open(sf.open)
			if err != nil {
				return err
			}
			ch.ResetWithBoundaries(f, pol, MinChunk, MaxChunk)
			var size int64
			for {
				bp := bufs.Get().(*[]byte)
				c, err := ch.Next((*bp)[:0])
				if err == io.EOF {
					bufs.Put(bp)
					break
				}
				if err != nil {
					f.Close()
					return fmt.Errorf("read %s: %w", sf.rel, err)
				}
				ref := &ChunkRef{}
				refs[i] = append(refs[i], ref)
				size += int64(c.Length)
				select {
				case jobs <- job{ref: ref, data: c.Data}:
				case <-ctx.Done():
					f.Close()
					return context.Cause(ctx)
				}
			}
			f.Close()
			m.Files[i] = File{Path: sf.rel, Size: size, Mode: uint32(sf.mode)}
			total += size
		}
		return nil
	}
	perr := produce()
	wg.Wait()
	if perr != nil {
		return nil, perr
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range m.Files {
		m.Files[i].Chunks = make([]ChunkRef, len(refs[i]))
		for j, r := range refs[i] {
			m.Files[i].Chunks[j] = *r
		}
	}
	enc, err := m.Encode(opts.Sealer)
	if err != nil {
		return nil, err
	}
	if err := opts.Store.Flush(); err != nil {
		return nil, err
	}
	if err := Put(ctx, opts.Store, ManifestKey(opts.Name), enc); err != nil {
		return nil, err
	}
	if err := opts.Store.Flush(); err != nil {
		return nil, err
	}
	return &AddResult{
		Manifest:   m,
		Files:      len(files),
		Bytes:      total,
		Chunks:     len(m.UniqueChunks()),
		NewChunks:  int(newChunks.Load()),
		NewBytes:   newBytes.Load(),
		Polynomial: pol.String(),
	}, nil
}
