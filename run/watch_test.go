package run

import (
	"fmt"
	"slices"
	"testing"
)

// TestWatchers: a change signals every watcher of its run and of its
// tenant and no other; signals coalesce into one pending; a tenant's watch
// says which runs changed, and all of them past its bound or after a
// resync; a stopped watch gets none and leaves nothing behind.
func TestWatchers(t *testing.T) {
	var w watchers
	a1, stopA1 := w.addRun("a")
	a2, stopA2 := w.addRun("a")
	b, stopB := w.addRun("b")
	defer stopB()
	t1, stopT1 := w.addTenant("t1")
	t2, stopT2 := w.addTenant("t2")
	defer stopT2()
	w.runChanged("t1", "a")
	w.runChanged("t1", "a")
	w.runChanged("t1", "c")
	for name, ch := range map[string]<-chan struct{}{"a1": a1, "a2": a2, "tenant t1": t1.Changed()} {
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
	if ids, all := t1.Take(); all || !slices.Equal(ids, []string{"a", "c"}) {
		t.Errorf("t1 took %v (all %v), want a and c", ids, all)
	}
	if ids, all := t1.Take(); all || len(ids) != 0 {
		t.Errorf("a second take gave %v (all %v), want nothing", ids, all)
	}
	for name, ch := range map[string]<-chan struct{}{"b": b, "tenant t2": t2.Changed()} {
		select {
		case <-ch:
			t.Errorf("%s signalled by a change of t1's runs", name)
		default:
		}
	}
	if ids, all := t2.Take(); all || len(ids) != 0 {
		t.Errorf("t2 took %v (all %v) of t1's changes", ids, all)
	}
	for i := range maxTenantChanges + 1 {
		w.runChanged("t2", fmt.Sprint("r", i))
	}
	if ids, all := t2.Take(); !all || ids != nil {
		t.Errorf("past its bound t2 took %d ids (all %v), want all", len(ids), all)
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
	<-t1.Changed()
	w.changedAll()
	for name, ch := range map[string]<-chan struct{}{"a2": a2, "b": b, "tenant t1": t1.Changed(), "tenant t2": t2.Changed()} {
		select {
		case <-ch:
		default:
			t.Errorf("%s: no signal on resync", name)
		}
	}
	if _, all := t1.Take(); !all {
		t.Error("after a resync t1 did not take all")
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
