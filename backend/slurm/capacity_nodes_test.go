package slurm

import (
	"testing"
)

// heldByNodes is tallyBytes once n distinct nodes of the partition are
// listed (one of them twice, and one holding an own
// job's GRES), before they are counted, and the capacity counted then.
func heldByNodes(n int) (held int64, got int) {
	return tallyBytes(n, func(t *capTally, names []string) {
		t.hold(names[n/2], 4)
		for i, name := range names {
			used := 8
			if i == n/2 || i == n/3 {
				used = 5
			}
			t.node(true, capNode{name: name, takesJobs: true, total: 8, used: used})
		}
		// n/3 again, all free: a node is counted once, its lower figure.
		t.node(true, capNode{name: names[n/3], takesJobs: true, total: 8, used: 0})
	})
}

// TestCapacityNodesCompact: at the bound on the nodes of the partition
// (maxCapacityNodes), the set of nodes a capacity poll had counted (to
// count a node listed twice once) was a map that took about 56 MB. The
// nodes are now an array of 20 bytes a node, sorted once all are listed.
func TestCapacityNodesCompact(t *testing.T) {
	held, got := heldByNodes(maxCapacityNodes)
	if want := 3 + 3 + 4; got != want {
		t.Errorf("capacity %d; want %d (3 free on each of two nodes, 4 held)", got, want)
	}
	t.Logf("nodes counted, %d of them: %d bytes (%.1f a node)", maxCapacityNodes, held, float64(held)/maxCapacityNodes)
	if limit := int64(maxCapacityNodes * 24); held > limit {
		t.Errorf("%d nodes counted take %d bytes; want at most %d", maxCapacityNodes, held, limit)
	}
}

// BenchmarkCapacityNodes reports the bytes a tally holds for the
// partition's nodes at maxCapacityNodes (held-B).
func BenchmarkCapacityNodes(b *testing.B) {
	var held int64
	for range b.N {
		held, _ = heldByNodes(maxCapacityNodes)
	}
	b.ReportMetric(float64(held), "held-B")
	b.ReportMetric(float64(held)/maxCapacityNodes, "held-B/node")
}
