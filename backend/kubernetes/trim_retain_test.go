package kubernetes

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// TestWatchCacheLetsGoOfLongUIDs: a hostile API server may send an
// object whose UID is megabytes long (within maxWatchEventBytes). The
// cache cut it to maxKeptString bytes by slicing it, which kept the whole
// string it was decoded into alive: keptBytes counted 4 KiB of it, and
// maxCachedObjects Pods of 4 MiB UIDs held some 200 GB. What a cached
// object keeps of its UID is now a copy, as of each other string.
func TestWatchCacheLetsGoOfLongUIDs(t *testing.T) {
	const objs, size = 16, 2 << 20
	kept := make([]k8sruntime.Object, 0, 3*objs)
	// The decoder's first use of each type (its caches) is not the
	// objects'.
	decode := func(i, size int) {
		uid := strings.Repeat(fmt.Sprint(i%10), size)
		for _, kind := range []string{"Pod", "Job", "Node"} {
			data, err := json.Marshal(map[string]any{"kind": kind, "metadata": map[string]any{
				"name": fmt.Sprintf("o-%d", i), "namespace": "ns", "uid": uid}})
			if err != nil {
				t.Fatal(err)
			}
			var obj k8sruntime.Object
			switch kind {
			case "Pod":
				obj = &apiPod{}
			case "Job":
				obj = &apiJob{}
			default:
				obj = &apiNode{}
			}
			if err := json.Unmarshal(data, obj); err != nil {
				t.Fatal(err)
			}
			kept = append(kept, trimCached(obj, DefaultGPUResource))
		}
	}
	decode(0, 1)
	kept = kept[:0]
	var before runtime.MemStats
	runtime.GC()
	runtime.GC() // and what sync.Pools kept until the last
	runtime.ReadMemStats(&before)
	for i := range objs {
		decode(i, size)
	}
	runtime.GC()
	runtime.GC() // and what sync.Pools kept until the last
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	var counted int64
	for _, o := range kept {
		counted += keptBytes(o)
	}
	t.Logf("%d objects with UIDs of %d MiB: the heap grew by %.1f MiB; keptBytes counts %.1f MiB",
		len(kept), size>>20, float64(grown)/(1<<20), float64(counted)/(1<<20))
	if grown > 4*counted {
		t.Errorf("the cut objects hold %.1f MiB of heap; keptBytes counts %.1f MiB", float64(grown)/(1<<20), float64(counted)/(1<<20))
	}
	runtime.KeepAlive(kept)
}
