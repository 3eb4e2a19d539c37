package dataset

import (
	"strings"

	"meridian.dev/meridian/seal"
)

const rootPrefix = "meridian/"

// ManifestKey is the blob key of a dataset's manifest.
func ManifestKey(name string) string { return rootPrefix + name + "/manifest" }

// ChunkPrefix is the blob key prefix under which a dataset's chunks live.
func ChunkPrefix(name string) string { return rootPrefix + name + "/chunks/" }

// ChunkKey is the blob key of one sealed chunk.
func ChunkKey(name string, id seal.ID) string {
	h := id.String()
	return ChunkPrefix(name) + h[:2] + "/" + h
}

// chunkIDFromKey returns the id a chunk key names, or false for any other
// key (temporary files, strangers).
func chunkIDFromKey(name, key string) (seal.ID, bool) {
	rest, ok := strings.CutPrefix(key, ChunkPrefix(name))
	if !ok || len(rest) != 3+2*seal.IDSize || rest[2] != '/' {
		return seal.ID{}, false
	}
	id, err := seal.ParseID(rest[3:])
	if err != nil || rest[:2] != rest[3:5] {
		return seal.ID{}, false
	}
	return id, true
}
