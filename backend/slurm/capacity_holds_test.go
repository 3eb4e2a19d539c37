package slurm

import (
	"runtime"
	"strconv"
	"testing"
)

// tallyBytes is how many bytes a tally holds once fill has noted what it
// notes of n distinct node names, and the capacity it counts then.
func tallyBytes(n int, fill func(t *capTally, names []string)) (held int64, got int) {
	names := make([]string, n)
	for i := range names {
		names[i] = "gpu-node-" + strconv.Itoa(i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t := newCapTally()
	fill(t, names)
	runtime.GC()
	runtime.ReadMemStats(&after)
	got = t.total()
	runtime.KeepAlive(t)
	runtime.KeepAlive(names)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc), got
}

// heldByHolds is tallyBytes once this server's running jobs are noted on
// n distinct nodes and the first node of the partition is counted (to
// check the holds still count).
func heldByHolds(n int) (held int64, got int) {
	return tallyBytes(n, func(t *capTally, names []string) {
		for _, name := range names {
			t.hold(name, 2)
		}
		t.hold(names[n/2], 3) // a second job on one node adds to its hold
		t.node(true, capNode{name: names[n/2], takesJobs: true, total: 8, used: 5})
	})
}

// TestCapacityHoldsCompact: at the bound on the nodes of this server's
// running jobs (maxCapacityNodes), the map of what they hold per node
// took about 56 MB for one poll. The holds are now a sorted array of
// 20 bytes a node.
func TestCapacityHoldsCompact(t *testing.T) {
	held, got := heldByHolds(maxCapacityNodes)
	if got != 3+2+3 {
		t.Errorf("the node counted %d; want its 3 free and the 5 held there", got)
	}
	t.Logf("holds on %d nodes: %d bytes (%.1f a node)", maxCapacityNodes, held, float64(held)/maxCapacityNodes)
	if limit := int64(maxCapacityNodes * 24); held > limit {
		t.Errorf("holds on %d nodes take %d bytes; want at most %d", maxCapacityNodes, held, limit)
	}
}

// BenchmarkCapacityHolds reports the bytes a tally holds for holds on
// maxCapacityNodes nodes (held-B).
func BenchmarkCapacityHolds(b *testing.B) {
	var held int64
	for range b.N {
		held, _ = heldByHolds(maxCapacityNodes)
	}
	b.ReportMetric(float64(held), "held-B")
	b.ReportMetric(float64(held)/maxCapacityNodes, "held-B/node")
}
