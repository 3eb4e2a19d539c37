package kubernetes

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"meridian.dev/meridian/backend"
)

// TestLongNodeNamesDoNotFillTheDownMap: the map of Nodes down is bounded
// by count (maxDownNodes) and bytes (maxSideBytes), and an entry was keyed
// by the Node's name, up to the cache's maxKeptString, with its reason as
// long: some 4,000 Nodes not Ready named at 4 KiB, each under a pod of
// Meridian's (a hostile site places them), filled its bytes long before
// its count. None of them could make room, so the Node the attempt's pod
// is on, going down after them, was never recorded, its down time taken
// afresh at each look, and the attempt stayed Running for good. A name
// longer than any the API server gives a Node is now kept as a hash and a
// reason is cut, so that the map's count always binds first.
func TestLongNodeNamesDoNotFillTheDownMap(t *testing.T) {
	h, b := newHostile(t, nil)
	w := b.watch
	// Long while the node goes down, so that the attempt reads Running
	// however late Status comes after the cache took the change (a loaded
	// machine took more than 200 ms between them, and the attempt read
	// Lost); short once it is down (below).
	b.NodeLostAfter = time.Hour
	if need := int64(maxDownNodes) * int64(maxDownEntryBytes); need > maxSideBytes {
		t.Errorf("maxDownNodes entries of up to %d bytes need %d bytes; the map holds %d", maxDownEntryBytes, need, maxSideBytes)
	}

	long := func(i int, what string) string {
		return fmt.Sprintf("%s-%06d-", what, i) + strings.Repeat("x", maxKeptString-16)
	}
	// Enough Nodes of the longest names the cache keeps, not Ready, to
	// fill maxSideBytes with entries of their names and reasons alone.
	nodes := int(maxSideBytes/int64(2*maxKeptString)) + 64
	if nodes > maxDownNodes {
		t.Fatalf("%d nodes is past maxDownNodes (%d)", nodes, maxDownNodes)
	}
	// Then short names, so that what room is left over is taken too.
	nodes += 256
	for i := range nodes {
		name, reason := long(i, "node"), long(i, "reason")
		if i >= nodes-256 {
			name, reason = fmt.Sprint("short-", i), "KubeletNotReady"
		}
		p := &apiPod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("other-", i), Namespace: "ns",
			Labels: map[string]string{LabelManagedBy: managedBy}}}
		p.Spec.NodeName = name
		p.Status.Phase = podRunning
		if err := w.pods.GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
		n := &apiNode{ObjectMeta: metav1.ObjectMeta{Name: name}}
		n.Status.Conditions = []condition{{Type: nodeReadyCondition, Status: "False", Reason: reason}}
		if err := w.nodesI.GetStore().Add(n); err != nil {
			t.Fatal(err)
		}
		w.nodeSeen(n)
	}
	w.mu.Lock()
	entries, held := len(w.down), w.downBytes
	w.mu.Unlock()
	t.Logf("%d nodes of %d KiB names down: the map holds %d entries, %.1f MiB counted", nodes, maxKeptString>>10, entries, float64(held)/(1<<20))
	if entries != nodes || held > maxSideBytes {
		t.Errorf("the down map holds %d of %d nodes in %d bytes; want all, within %d", entries, nodes, held, maxSideBytes)
	}

	// The node the attempt's pod runs on goes down.
	h.f.put("nodes", fakeNode("n1", "False"))
	eventually(t, "the cache did not see n1 go down", func() bool {
		o, ok, _ := w.nodesI.GetStore().GetByKey("n1")
		return ok && !nodeReady(o.(*apiNode))
	})
	if st, err := b.Status(testContext(t), hostileJob); err != nil {
		t.Fatal(err)
	} else if st.State != backend.Running {
		t.Fatalf("the attempt as n1 goes down: %+v; want Running until NodeLostAfter", st)
	}
	// Lost once n1 has been down for NodeLostAfter, counted from when it
	// was recorded: a down time taken afresh at each look never gets there.
	b.NodeLostAfter = 200 * time.Millisecond
	time.Sleep(2 * b.NodeLostAfter)
	st, err := b.Status(testContext(t), hostileJob)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != backend.Lost || !strings.Contains(st.Reason, "node n1") {
		t.Errorf("the attempt on a node not Ready for %s: %+v; want Lost, naming n1", 2*b.NodeLostAfter, st)
	}
}
