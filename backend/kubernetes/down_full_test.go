package kubernetes

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestFullDownMapStillRecordsNodesOurPodsAreOn: the map of Nodes down is
// bounded (maxSideBytes), and once full a Node newly not Ready was not
// recorded at all: a site (or its autoscaler) with enough Nodes not Ready
// that no run of Meridian's is on had the Node an attempt's pod is on go
// unnoticed, its attempt Running for good. The entries of Nodes no
// unfinished pod is on now make room for it, and a Node not Ready in the
// cache that the map lacks is recorded when a pod's status asks.
func TestFullDownMapStillRecordsNodesOurPodsAreOn(t *testing.T) {
	h, b := newHostile(t, nil)
	w := b.watch
	b.NodeLostAfter = 0
	old := maxSideBytes
	maxSideBytes = 2 << 10
	t.Cleanup(func() { maxSideBytes = old })

	// Nodes not Ready, none of them under a pod of Meridian's, past the
	// map's bound.
	putIdle(t, h, w, 60)
	w.mu.Lock()
	full := w.downBytes
	w.mu.Unlock()
	if full+sideBytes("n1", "not Ready: Ready=False") <= maxSideBytes {
		t.Fatalf("the down map holds %d bytes of %d: not full", full, maxSideBytes)
	}

	// The node the attempt's pod runs on goes down.
	h.f.put("nodes", fakeNode("n1", "False"))
	eventually(t, "the cache did not see n1 go down", func() bool {
		o, ok, _ := w.nodesI.GetStore().GetByKey("n1")
		return ok && !nodeReady(o.(*apiNode))
	})
	st, err := b.Status(testContext(t), hostileJob)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != backend.Lost || !strings.Contains(st.Reason, "node n1") {
		t.Errorf("with the down map full of idle nodes, the attempt on a node not Ready: %+v; want Lost, naming n1", st)
	}
	if _, _, down := w.nodeDown("n1"); !down {
		t.Error("n1 is not down")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.down["n1"]; !ok || w.downBytes > maxSideBytes {
		t.Errorf("n1 recorded: %v, the map holds %d bytes; want recorded within %d", ok, w.downBytes, maxSideBytes)
	}
}

// TestDownMapRecordsANodeAPodIsPlacedOnAfterItWentDown: a Node that went
// down while the map was full, no pod on it, then took an attempt's pod,
// was never recorded; it is now when the pod's status asks, and the pod is
// lost NodeLostAfter from then.
func TestDownMapRecordsANodeAPodIsPlacedOnAfterItWentDown(t *testing.T) {
	h, b := newHostile(t, nil)
	w := b.watch
	b.NodeLostAfter = time.Hour
	old := maxSideBytes
	maxSideBytes = 2 << 10
	t.Cleanup(func() { maxSideBytes = old })
	putIdle(t, h, w, 60)
	h.f.put("nodes", fakeNode("late", "False"))
	eventually(t, "the nodes did not all reach the cache", func() bool { return w.nodeInCache("late") })
	w.mu.Lock()
	_, had := w.down["late"]
	w.mu.Unlock()
	if had {
		t.Fatal("the down map had room: the test needs it full")
	}
	// The attempt's pod is placed on it.
	h.f.changePod(hostileJob+"-x", map[string]any{"spec": map[string]any{"nodeName": "late", "containers": []any{map[string]any{"name": ContainerName}}}})
	eventually(t, "the cache did not see the pod placed", func() bool { return w.nodeInUse("late") })
	if _, err := b.Status(testContext(t), hostileJob); err != nil {
		t.Fatal(err)
	}
	since, _, down := w.nodeDown("late")
	if !down {
		t.Fatal("the node the pod was placed on, not Ready, is not down")
	}
	time.Sleep(20 * time.Millisecond)
	if again, _, _ := w.nodeDown("late"); !again.Equal(since) {
		t.Errorf("the node's down time moved from %v to %v: it is not recorded", since, again)
	}
}

// putIdle puts n Nodes not Ready, one by one as the cache takes each (the
// fake drops the events a watcher has not taken).
func putIdle(t *testing.T, h *hostileAPI, w *watcher, n int) {
	for i := range n {
		name := fmt.Sprint("idle-", i)
		h.f.put("nodes", fakeNode(name, "False"))
		eventually(t, name+" did not reach the cache", func() bool { return w.nodeInCache(name) })
	}
}

// TestNodeReadyInTheCacheIsNotDown: the cache takes a Node's change
// before its handler (nodeSeen) forgets the Node's entry in the map of
// Nodes down; in between, a Node Ready again read as down since it went,
// and the attempt on it (a new one placed there since) as lost.
func TestNodeReadyInTheCacheIsNotDown(t *testing.T) {
	_, b := newHostile(t, nil)
	w := b.watch
	// n1, Ready in the cache, with the entry its handler has yet to drop.
	w.mu.Lock()
	w.setDownLocked("n1", downNode{since: time.Now().Add(-time.Hour), why: "not Ready: Ready=False"})
	w.mu.Unlock()
	if _, _, down := w.nodeDown("n1"); down {
		t.Error("a node Ready in the cache is down")
	}
	if st, err := b.Status(testContext(t), hostileJob); err != nil || st.State != backend.Running {
		t.Errorf("the attempt on a node Ready in the cache: %+v, %v; want Running", st, err)
	}
}
