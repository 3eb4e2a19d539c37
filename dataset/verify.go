package dataset

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"meridian.dev/meridian/seal"
)

// ChunkProblem names one chunk that failed verification and why.
type ChunkProblem struct {
	ID     string   `json:"id"`
	Files  []string `json:"files"`  // files that use the chunk
	Reason string   `json:"reason"` // "missing" or "altered"
	Detail string   `json:"detail"`
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Dataset string         `json:"dataset"`
	Chunks  int            `json:"chunks"`
	Bytes   int64          `json:"bytes"`
	OK      int            `json:"ok"`
	Missing []ChunkProblem `json:"missing"`
	Altered []ChunkProblem `json:"altered"`
	// ManifestReplaced says why the store's manifest is not the version
	// Verify was pinned to (another version was put in its place); its
	// chunks were not read.
	ManifestReplaced string `json:"manifestReplaced,omitempty"`
}

// Good reports whether every chunk was present and genuine.
func (r *VerifyReport) Good() bool {
	return len(r.Missing) == 0 && len(r.Altered) == 0 && r.ManifestReplaced == ""
}

// Verify reads the manifest and every chunk of the dataset from a store and
// authenticates each one. A missing or altered chunk is named in the report
// rather than returned as an error; errors mean the check itself could not
// run (no manifest, bad key, store unreachable). With pin (the hex SHA-256
// of the manifest as stored, which staging records) the store must hold
// that version: another genuine manifest put in its place (an older
// version, whose chunks would all read good) is reported as replaced.
func Verify(ctx context.Context, b *Store, s *seal.Sealer, name, pin string, workers int) (*VerifyReport, error) {
	m, err := readManifest(ctx, b, s, name, pin)
	if errors.Is(err, ErrManifestPin) {
		return &VerifyReport{Dataset: name, ManifestReplaced: err.Error()}, nil
	}
	if err != nil {
		return nil, err
	}
	users := map[seal.ID][]string{}
	for _, f := range m.Files {
		for _, c := range f.Chunks {
			if l := users[c.ID]; len(l) == 0 || l[len(l)-1] != f.Path {
				users[c.ID] = append(l, f.Path)
			}
		}
	}
	chunks := m.UniqueChunks()
	rep := &VerifyReport{Dataset: name, Chunks: len(chunks), Bytes: m.TotalBytes()}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var mu sync.Mutex
	var fatal error
	work := make(chan ChunkRef)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for c := range work {
				out, err := ReadChunk(ctx, b, s, name, c, buf[:0])
				mu.Lock()
				switch {
				case err == nil:
					rep.OK++
					buf = out
				case errors.Is(err, ErrNotFound):
					rep.Missing = append(rep.Missing, ChunkProblem{ID: c.ID.String(), Files: users[c.ID], Reason: "missing", Detail: err.Error()})
				case errors.Is(err, seal.ErrAuth) || errors.Is(err, seal.ErrIDMismatch) || errors.Is(err, ErrNotRegular):
					// Something other than a file in the chunk's place (a
					// FIFO, a link) is not the chunk: it was altered.
					rep.Altered = append(rep.Altered, ChunkProblem{ID: c.ID.String(), Files: users[c.ID], Reason: "altered", Detail: err.Error()})
				default:
					if fatal == nil {
						fatal = err
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, c := range chunks {
		if ctx.Err() != nil {
			break
		}
		work <- c
	}
	close(work)
	wg.Wait()
	if fatal != nil {
		return nil, fmt.Errorf("verify %s: %w", name, fatal)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	byID := func(l []ChunkProblem) { sort.Slice(l, func(i, j int) bool { return l[i].ID < l[j].ID }) }
	byID(rep.Missing)
	byID(rep.Altered)
	return rep, nil
}
