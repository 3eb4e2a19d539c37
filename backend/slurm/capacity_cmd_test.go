package slurm_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
)

// TestCapacityOwnJobHostsNotKept: a running job of the server's own that
// squeue lists on a compressed host list of many long names
// ("<240 bytes>[000000-199999]", well within a line's bound) had a
// capacity poll make and keep every name before counting them. They are
// now counted as they are made.
func TestCapacityOwnJobHostsNotKept(t *testing.T) {
	const hosts = 200_000
	prefix := strings.Repeat("a", 240)
	dir := t.TempDir()
	b := fakeSlurm(t, dir, map[string]string{
		"sinfo":  "#!/bin/sh\nprintf '%s\\n' '" + prefix + "000003|gpu*|up|mixed|gpu:h100:8|gpu:h100:1(IDX:0)|'\n",
		"squeue": "#!/bin/sh\nprintf '%s\\n' '" + fmt.Sprintf("7|%s[000000-%06d]|gres:gpu:h100:1|", prefix, hosts-1) + "'\n",
	})
	slurm.WriteRecord(t, dir, filepath.Join("handles", "7"), "r1-1")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := b.Capacity(context.Background())
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	// The node's 7 free and the 1 the own job holds there.
	if got[backend.SiteAccelerator] != 8 {
		t.Errorf("capacity %d; want 8", got[backend.SiteAccelerator])
	}
	grew := int64(after.HeapSys) - int64(before.HeapSys)
	t.Logf("a job on %d hosts of %d-byte names grew the heap by %d bytes", hosts, len(prefix)+6, grew)
	if grew > 24<<20 {
		t.Errorf("a job on %d hosts of %d-byte names grew the heap by %d bytes; want at most 24 MiB", hosts, len(prefix)+6, grew)
	}
}
