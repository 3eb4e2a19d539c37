package dataset

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Unfinished is a write of an object that its writer left unfinished at a
// store (killed mid-way): what of the object the store holds, though no
// reader sees it under the object's name.
type Unfinished struct {
	Key   string // the object it was to become
	Bytes int64  // the bytes the store holds of it
	// One of: a file store's temporary object, an S3 multipart upload.
	temp, upload string
}

// ID names the write at its store: "temp:" and its temporary object's
// key, or "upload:" and its upload's id; the same write listed again
// has the same ID, and another write another (a temporary object's name
// has a random part, an upload's id is the store's).
func (u Unfinished) ID() string {
	if u.upload != "" {
		return "upload:" + u.upload
	}
	return TempWriteID(u.temp)
}

// TempWriteID is the ID (Unfinished.ID) of the write that a file store's
// temporary object of key tempKey holds.
func TempWriteID(tempKey string) string { return "temp:" + tempKey }

// UnfinishedWrites lists the unfinished writes of dataset name's objects
// for which want (nil: every object) is true, at a store: a file store's
// temporary objects (named after the object, a random part and ".tmp"),
// and S3's multipart uploads, with the sizes of the parts uploaded. It
// reads at most limit listed objects, and as many uploads (MaxUploads at
// most) and parts (MaxUploadParts at most, a page without any counting
// as one), past which it stops with ErrListTooLong. A server that does
// not let the store list uploads or their parts leaves them out.
func UnfinishedWrites(ctx context.Context, b *Store, name string, want func(key string) bool, limit int) ([]Unfinished, error) {
	if want == nil {
		want = func(string) bool { return true }
	}
	f, err := ScanFolder(ctx, b, name, FolderScan{Want: want, Limit: limit})
	if err != nil {
		return nil, err
	}
	return f.Unfinished, nil
}

// Discard removes what an unfinished write left: its temporary object,
// or its upload's parts.
func Discard(ctx context.Context, b *Store, u Unfinished) error {
	switch {
	case u.temp != "":
		return b.Delete(ctx, u.temp)
	case u.upload != "":
		if err := b.b.abortUpload(ctx, b.prefix+u.Key, u.upload); err != nil {
			return objectErr(u.Key, fmt.Errorf("abort the upload to %q: %w", clipKey(u.Key), err))
		}
	}
	return nil
}

// TempTarget is the object a file store's temporary object was to become:
// its name less "." + 16 hex digits + ".tmp" (put's naming); false for any
// other name.
func TempTarget(name string) (string, bool) {
	const rnd = 16
	stem, ok := strings.CutSuffix(name, ".tmp")
	if !ok || len(stem) < rnd+2 || stem[len(stem)-rnd-1] != '.' {
		return "", false
	}
	if _, err := hex.DecodeString(stem[len(stem)-rnd:]); err != nil {
		return "", false
	}
	return stem[:len(stem)-rnd-1], true
}

// uploads does nothing: a file store's writes are single files, listed
// as temporary objects.
func (b *dirBucket) uploads(ctx context.Context, prefix string, want func(string) bool, limit int) ([]Unfinished, error) {
	return nil, nil
}

func (b *dirBucket) abortUpload(ctx context.Context, key, id string) error { return nil }

// MaxUploadParts is the most parts UnfinishedWrites reads of a store's
// uploads, all together: S3 takes up to 10,000 parts an upload, and only
// an object larger than the part size (a large manifest) goes in parts.
const MaxUploadParts = 10000

// uploads lists the multipart uploads under prefix, reading at most limit
// (and MaxUploads) of them, those to a key want takes each with the sizes
// of its parts added up. Keys are the bucket's (with no store prefix).
func (b *s3Bucket) uploads(ctx context.Context, prefix string, want func(string) bool, limit int) ([]Unfinished, error) {
	core := minio.Core{Client: b.c}
	var out []Unfinished
	parts := 0
	err := b.eachUpload(ctx, core, b.prefix+prefix, limit, func(u minio.ObjectMultipartInfo) (bool, error) {
		rel := strings.TrimPrefix(u.Key, b.prefix)
		if !want(rel) {
			return true, nil
		}
		n, err := b.uploadBytes(ctx, core, u.Key, u.UploadID, &parts)
		if err != nil {
			return false, err
		}
		if n >= 0 {
			out = append(out, Unfinished{Key: rel, Bytes: n, upload: u.UploadID})
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// uploadBytes adds up the sizes of an upload's parts, counting the parts
// read in *parts (MaxUploadParts at most); -1 for an upload that is gone
// (finished or aborted since it was listed) or whose parts the server
// does not let the store list.
func (b *s3Bucket) uploadBytes(ctx context.Context, core minio.Core, key, id string, parts *int) (int64, error) {
	var sum int64
	marker, empty := 0, 0
	for {
		res, err := core.ListObjectParts(ctx, b.bucket, key, id, marker, 1000)
		if err != nil {
			if r := minio.ToErrorResponse(err); r.Code == "NoSuchUpload" || marker == 0 && cannotListUploads(err) {
				return -1, nil
			}
			return 0, fmt.Errorf("list the parts of the upload to %s: %w", clipKey(key), siteErr(err))
		}
		// A page without parts costs a request as one with them does.
		if *parts += max(1, len(res.ObjectParts)); *parts > MaxUploadParts {
			return 0, fmt.Errorf("list the parts of the uploads to %s: over %d: %w", clipKey(key), MaxUploadParts, ErrListTooLong)
		}
		for _, p := range res.ObjectParts {
			if p.Size < 0 || p.Size > maxPartSize {
				return 0, fmt.Errorf("the server lists a part of %d bytes for the upload to %s: %w", p.Size, clipKey(key), ErrTooLarge)
			}
			sum += p.Size
		}
		if !res.IsTruncated {
			return sum, nil
		}
		if len(res.ObjectParts) == 0 {
			empty++
		} else {
			empty = 0
		}
		if empty > MaxEmptyPages || res.NextPartNumberMarker <= marker {
			return 0, fmt.Errorf("list the parts of the upload to %s: the listing does not advance: %w", clipKey(key), ErrListTooLong)
		}
		marker = res.NextPartNumberMarker
	}
}

func (b *s3Bucket) abortUpload(ctx context.Context, key, id string) error {
	err := minio.Core{Client: b.c}.AbortMultipartUpload(ctx, b.bucket, b.prefix+key, id)
	if err != nil && (minio.ToErrorResponse(err).Code == "NoSuchUpload" || cannotAbortUploads(err)) {
		// Gone already, or left to the bucket's lifecycle rule (as
		// abortUploads leaves it).
		return nil
	}
	return siteErr(err)
}
