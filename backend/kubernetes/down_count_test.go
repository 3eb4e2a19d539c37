package kubernetes

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// lockedBuffer is a bytes.Buffer a log handler writes to from the
// watcher's goroutines while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDownMapBoundedByCount: the map of Nodes down was bounded in bytes
// alone, some half a million entries of short names, however many Nodes
// the caches hold. It now holds at most maxDownNodes; past it a Node no
// pod of Meridian's is on is not recorded, with a log line (one, however
// many are not), and the Node an attempt's pod is on makes room and is
// then kept, its time with it, whatever Nodes go down after it.
func TestDownMapBoundedByCount(t *testing.T) {
	h, b := newHostile(t, nil)
	w := b.watch
	b.NodeLostAfter = 0
	old := maxDownNodes
	maxDownNodes = 20
	t.Cleanup(func() { maxDownNodes = old })
	var logged lockedBuffer
	w.mu.Lock()
	w.downFull.l = slog.New(slog.NewTextHandler(&logged, nil))
	w.mu.Unlock()

	putIdle(t, h, w, 30)
	// The node the attempt's pod runs on goes down: it makes room. Its
	// handler runs after those of the idle nodes.
	h.f.put("nodes", fakeNode("n1", "False"))
	eventually(t, "n1 is not recorded down", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		_, ok := w.down["n1"]
		return ok
	})
	if n := w.downCount(); n > maxDownNodes {
		t.Fatalf("the down map holds %d nodes; want at most %d", n, maxDownNodes)
	}
	if lines := strings.Count(logged.String(), "the map of nodes down is full"); lines != 1 {
		t.Errorf("%d log lines of the full map; want 1:\n%s", lines, logged.String())
	}
	since, _, _ := w.nodeDown("n1")
	// More nodes go down, and the idle ones already recorded flap: none of
	// it pushes n1 out.
	for i := 30; i < 40; i++ {
		name := fmt.Sprint("idle-", i)
		h.f.put("nodes", fakeNode(name, "False"))
		eventually(t, name+" did not reach the cache", func() bool { return w.nodeInCache(name) })
	}
	for i := range 5 {
		name := fmt.Sprint("idle-", i)
		for _, ready := range []string{"True", "False"} {
			h.f.put("nodes", fakeNode(name, ready))
			eventually(t, name+" did not flap", func() bool {
				o, ok, _ := w.nodesI.GetStore().GetByKey(name)
				return ok && nodeReady(o.(*apiNode)) == (ready == "True")
			})
		}
	}
	time.Sleep(50 * time.Millisecond)
	w.mu.Lock()
	d, ok := w.down["n1"]
	n := len(w.down)
	w.mu.Unlock()
	if !ok || !d.since.Equal(since) {
		t.Errorf("n1 recorded: %v, since %v; want kept since %v", ok, d.since, since)
	}
	if n > maxDownNodes {
		t.Errorf("the down map holds %d nodes; want at most %d", n, maxDownNodes)
	}
	st, err := b.Status(testContext(t), hostileJob)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != backend.Lost || !strings.Contains(st.Reason, "node n1") {
		t.Errorf("with the down map full, the attempt on a node not Ready: %+v; want Lost, naming n1", st)
	}
}
