package run

import "testing"

// TestWatchers: a change signals every watcher of its run and of its
// tenant and no other; signals coalesce into one pending; a stopped watch
// gets none and leaves nothing behind; a resync signals everyone.
func TestWatchers(t *testing.T) {
	var w watchers
	a1, stopA1 := w.addRun("a")
	a2, stopA2 := w.addRun("a")
	b, stopB := w.addRun("b")
	defer stopB()
	t1, stopT1 := w.add(&w.byTenant, "t1")
	t2, stopT2 := w.add(&w.byTenant, "t2")
	defer stopT2()
	w.runChanged("t1", "a")
	w.runChanged("t1", "a")
	w.runChanged("t1", "a")
	for name, ch := range map[string]<-chan struct{}{"a1": a1, "a2": a2, "tenant t1": t1} {
		select {
		case <-ch:
		default:
			t.Errorf("%s: no signal", name)
		}
		select {
		case <-ch:
			t.Errorf("%s: three changes left more than one signal", name)
		default:
		}
	}
	for name, ch := range map[string]<-chan struct{}{"b": b, "tenant t2": t2} {
		select {
		case <-ch:
			t.Errorf("%s signalled by a change of t1's run a", name)
		default:
		}
	}
	stopA1()
	stopA1() // twice is fine
	w.runChanged("t1", "a")
	select {
	case <-a1:
		t.Error("a stopped watch was signalled")
	default:
	}
	<-a2
	<-t1
	w.changedAll()
	for name, ch := range map[string]<-chan struct{}{"a2": a2, "b": b, "tenant t1": t1, "tenant t2": t2} {
		select {
		case <-ch:
		default:
			t.Errorf("%s: no signal on resync", name)
		}
	}
	stopA2()
	stopT1()
	if _, ok := w.byID["a"]; ok {
		t.Errorf("run a's watchers left behind: %v", w.byID["a"])
	}
	if _, ok := w.byTenant["t1"]; ok {
		t.Errorf("tenant t1's watchers left behind: %v", w.byTenant["t1"])
	}
}
