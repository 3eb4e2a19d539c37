package run

import "testing"

// TestWatchers: a change signals every watcher of its run and no other;
// signals coalesce into one pending; a stopped watch gets none and leaves
// nothing behind.
func TestWatchers(t *testing.T) {
	var w watchers
	a1, stopA1 := w.add("a")
	a2, stopA2 := w.add("a")
	b, stopB := w.add("b")
	defer stopB()
	w.changed("a")
	w.changed("a")
	w.changed("a")
	for name, ch := range map[string]<-chan struct{}{"a1": a1, "a2": a2} {
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
	select {
	case <-b:
		t.Error("b signalled by a's change")
	default:
	}
	stopA1()
	stopA1() // twice is fine
	w.changed("a")
	select {
	case <-a1:
		t.Error("a stopped watch was signalled")
	default:
	}
	<-a2
	stopA2()
	if _, ok := w.byID["a"]; ok {
		t.Errorf("run a's watchers left behind: %v", w.byID["a"])
	}
}
