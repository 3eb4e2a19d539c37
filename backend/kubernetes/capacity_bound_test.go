package kubernetes

import (
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// One capacity poll reads a bounded number of pods over all the site's
// nodes, not only on each: a site whose nodes hold more fails the poll,
// saying so, rather than report what the pods read so far leave free. A
// site at the bound is counted in full.
func TestCapacityReadsABoundedNumberOfPods(t *testing.T) {
	s := submitOnGPUNode(t, "8", gpuSpec(1), func(f *fakeAPI) {
		n2 := clone(f.objs["nodes"]["n1"])
		meta(n2)["name"], meta(n2)["uid"] = "n2", "node2-uid"
		f.objs["nodes"]["n2"] = n2
	})
	f, b, ctx := s.f, s.b, s.ctx
	for i := range 6 { // three on each node, one GPU each, nobody's attempt
		p := gpuPod(fmt.Sprintf("other-%d", i), "other", "other-uid", "1")
		p["spec"].(map[string]any)["nodeName"] = fmt.Sprintf("n%d", 1+i%2)
		f.put("pods", p)
	}
	defer func(n int64) { maxCapacityPods = n }(maxCapacityPods)

	// The fake answers each node's list with every pod (it ignores field
	// selectors, as the pods' node is checked again when counted): a poll
	// of the two nodes reads 12.
	maxCapacityPods = 12
	got, err := b.Capacity(ctx)
	if err != nil || got[backend.SiteAccelerator] != 10 {
		t.Fatalf("Capacity with 12 pods read of 12 = %v, %v; want 10 of 16 GPUs free", got, err)
	}
	maxCapacityPods = 11
	got, err = b.Capacity(ctx)
	if err == nil || !strings.Contains(err.Error(), "more than 11 pods") {
		t.Fatalf("Capacity with 12 pods to read, 11 at most = %v, %v; want an error: over the bound", got, err)
	}
}
