package run

import (
	"bytes"
	"testing"
)

// TestAgentLogsRecountWaitsForPostsUnderWay: a recount of a tenant's
// output (after a failed post cut bytes the count may hold) reads the
// files once the posts holding the count it replaces are answered. It
// read them at once: a post that had taken its bytes from the old count
// and not yet written them was in neither, and the new count came out low
// by them, letting the tenant's output pass its bound.
func TestAgentLogsRecountWaitsForPostsUnderWay(t *testing.T) {
	f := newOutputFleet(t, 1<<20)
	r1 := f.run("t1", "r1", Running)
	r2 := f.run("t1", "r2", Running)
	line := bytes.Repeat([]byte("step 1 loss 0.9\n"), 64)
	if code, _ := f.post(r1, line); code != 200 {
		t.Fatalf("post: %d", code)
	}
	taken, proceed := make(chan struct{}), make(chan struct{})
	outputTaken = func(r *Run) {
		if r.ID == r2.ID {
			close(taken)
			<-proceed
		}
	}
	waits := make(chan struct{}, 1)
	recountWaits = func() { waits <- struct{}{} }
	t.Cleanup(func() { outputTaken, recountWaits = nil, nil })
	// r2's post has taken its bytes from the count, and not written them.
	under := make(chan int)
	go func() { code, _ := f.post(r2, line); under <- code }()
	<-taken
	// A failed post elsewhere cut bytes the count may hold: the next
	// post counts the tenant again.
	f.c.outputs["t1"].recount.Store(true)
	next := make(chan int)
	go func() { code, _ := f.post(r1, line); next <- code }()
	// The recount waits for r2's post (or, where it does not, the next
	// post is answered first).
	var codes []int
	select {
	case <-waits:
		close(proceed)
		codes = append(codes, <-under, <-next)
	case code := <-next:
		close(proceed)
		codes = append(codes, code, <-under)
	}
	for _, code := range codes {
		if code != 200 {
			t.Fatalf("posts: %v, want 200 each", codes)
		}
	}
	files := f.kept(r1) + f.kept(r2)
	if used := f.c.outputs["t1"].used.Load(); used != files {
		t.Errorf("the tenant's count is %d bytes, its files %d", used, files)
	}
}
