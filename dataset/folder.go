package dataset

import (
	"context"
	"fmt"
	"strings"
	"time"

	"meridian.dev/meridian/seal"
)

// FolderScan says what ScanFolder takes from its one listing of a
// dataset's objects at a store.
type FolderScan struct {
	// Chunks are the chunks whose presence (and stored size) to report;
	// only these are kept of what the store lists.
	Chunks []ChunkRef
	// Want, when set, picks the objects whose unfinished writes to report
	// (UnfinishedWrites): a file store's temporary objects, S3's multipart
	// uploads. A temporary object of a wanted object is reported, and
	// left for the caller to count and Discard, however old it is.
	Want func(key string) bool
	// StaleAge, when positive, has the temporary objects (names ending in
	// ".tmp") written longer ago than it removed as they are listed, but
	// for those reported to Want. Uploads are not aborted: that is
	// AbortStaleUploads, after the caller has counted what it wants.
	StaleAge time.Duration
	// Limit bounds the objects the listing may yield (ListBound), and the
	// uploads read for Want; past it the scan stops with ErrListTooLong.
	Limit int
	// Timed are chunks whose presence to report as Chunks' are, and the
	// modification time the store lists for them too (Folder.ModTimes):
	// what tells a caller an object it read once is not the same one now.
	Timed []ChunkRef
}

// Folder is what ScanFolder found.
type Folder struct {
	Chunks     map[seal.ID]int64 // the wanted chunks present, by stored size
	Unfinished []Unfinished      // the unfinished writes of the wanted objects
	// ModTimes holds the modification time listed for each chunk of
	// FolderScan.Timed present (zero when the store lists none).
	ModTimes map[seal.ID]time.Time
}

// ScanFolder lists dataset name's folder at a store once and takes from
// that listing what ChunksPresent, UnfinishedWrites and RemoveStaleTemps
// would each list it for: a copy to a site's store reads a listing of up
// to a million objects once, not three times. What it keeps is bounded by
// the chunks and the wanted objects' writes, whatever the store lists.
func ScanFolder(ctx context.Context, b *Store, name string, o FolderScan) (*Folder, error) {
	wanted := make(map[seal.ID]bool, len(o.Chunks)+len(o.Timed))
	for _, c := range o.Chunks {
		wanted[c.ID] = true
	}
	var timed map[seal.ID]bool
	if len(o.Timed) > 0 {
		timed = make(map[seal.ID]bool, len(o.Timed))
		for _, c := range o.Timed {
			wanted[c.ID], timed[c.ID] = true, true
		}
	}
	var cutoff time.Time
	if o.StaleAge > 0 {
		cutoff = time.Now().Add(-o.StaleAge)
	}
	out := &Folder{Chunks: map[seal.ID]int64{}, ModTimes: map[seal.ID]time.Time{}}
	prefix := rootPrefix + name + "/"
	listed := 0
	for obj, err := range b.List(ctx, prefix) {
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", name, err)
		}
		if listed++; listed > o.Limit {
			return nil, fmt.Errorf("list %s: over %d objects: %w", name, o.Limit, ErrListTooLong)
		}
		if id, ok := chunkIDFromKey(name, obj.Key); ok {
			if wanted[id] {
				out.Chunks[id] = obj.Size
			}
			if timed[id] {
				out.ModTimes[id] = obj.ModTime
			}
			continue
		}
		if key, ok := TempTarget(obj.Key); ok && o.Want != nil && o.Want(key) {
			if obj.Size >= 0 {
				out.Unfinished = append(out.Unfinished, Unfinished{Key: key, Bytes: obj.Size, temp: obj.Key})
			}
			continue
		}
		if o.StaleAge <= 0 || !strings.HasSuffix(obj.Key, ".tmp") || obj.ModTime.After(cutoff) {
			continue
		}
		if err := b.Delete(ctx, obj.Key); err != nil {
			return nil, fmt.Errorf("remove a stale temporary object of %s: %w", name, err)
		}
	}
	if o.Want == nil {
		return out, nil
	}
	ups, err := b.b.uploads(ctx, b.prefix+prefix, func(key string) bool {
		rel, ok := strings.CutPrefix(key, b.prefix)
		return ok && o.Want(rel)
	}, o.Limit)
	if err != nil {
		return nil, fmt.Errorf("list unfinished uploads of %s: %w", name, err)
	}
	for _, u := range ups {
		u.Key = strings.TrimPrefix(u.Key, b.prefix)
		out.Unfinished = append(out.Unfinished, u)
	}
	return out, nil
}

// AbortStaleUploads aborts the unfinished multipart uploads of dataset
// name's objects begun longer than age ago (RemoveStaleTemps' second
// half), reading at most limit uploads, and returns how many it aborted.
func AbortStaleUploads(ctx context.Context, b *Store, name string, age time.Duration, limit int) (int, error) {
	n, err := b.b.abortUploads(ctx, b.prefix+rootPrefix+name+"/", time.Now().Add(-age), limit)
	if err != nil {
		return n, fmt.Errorf("abort stale uploads of %s: %w", name, err)
	}
	return n, nil
}
