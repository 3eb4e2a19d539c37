package run

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"
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
	// The next post waits for the recount, which waits for r2's: raised
	// from its 2 s so that a loaded machine does not answer it 503.
	countWait := outputCountWait
	outputCountWait = time.Minute
	t.Cleanup(func() { outputTaken, recountWaits, outputCountWait = nil, nil, countWait })
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

// TestAgentLogsRecountStopsWaitingForAHungPost: a recount waits for the
// posts holding the count it replaces for recountPostsWait, not for the
// count's whole timeout: one post held up (a sync hanging on a failing
// disk) held every post of the tenant's at 503 for five minutes. Past the
// wait it counts the bytes such posts took and have not been answered
// for with the files: the count errs high, never low. Once they are
// answered, the next post counts the tenant again, exactly: the bytes
// counted twice (written before the files were read, or cut back after)
// stayed in the count for good, and the tenant reached its bound that
// much sooner.
func TestAgentLogsRecountStopsWaitingForAHungPost(t *testing.T) {
	for _, tc := range []struct {
		name string
		// hang holds r2's post at path until proceed is closed, closing
		// taken once it is held; code is its answer then.
		hang func(t *testing.T, path string, taken, proceed chan struct{})
		code int
	}{
		{"before it writes", func(t *testing.T, path string, taken, proceed chan struct{}) {
			outputTaken = func(r *Run) {
				if r.ID == "r2" {
					close(taken)
					<-proceed
				}
			}
			t.Cleanup(func() { outputTaken = nil })
		}, 200},
		{"in its sync", func(t *testing.T, path string, taken, proceed chan struct{}) {
			syncLog = func(f *os.File) error {
				if f.Name() == path {
					close(taken)
					<-proceed
				}
				return f.Sync()
			}
			t.Cleanup(func() { syncLog = (*os.File).Sync })
		}, 200},
		{"in its sync, which fails", func(t *testing.T, path string, taken, proceed chan struct{}) {
			syncLog = func(f *os.File) error {
				if f.Name() == path {
					close(taken)
					<-proceed
					return errors.New("input/output error")
				}
				return f.Sync()
			}
			t.Cleanup(func() { syncLog = (*os.File).Sync })
		}, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newOutputFleet(t, 1<<20)
			r1 := f.run("t1", "r1", Running)
			r2 := f.run("t1", "r2", Running)
			line := bytes.Repeat([]byte("step 1 loss 0.9\n"), 64)
			if code, _ := f.post(r1, line); code != 200 {
				t.Fatalf("post: %d", code)
			}
			wait, countWait := recountPostsWait, outputCountWait
			recountPostsWait, outputCountWait = 50*time.Millisecond, 10*time.Second
			t.Cleanup(func() { recountPostsWait, outputCountWait = wait, countWait })
			taken, proceed := make(chan struct{}), make(chan struct{})
			tc.hang(t, f.c.logPath(r2.ID, 1), taken, proceed)
			// r2's post has taken its bytes from the count, and hangs.
			under := make(chan int)
			go func() { code, _ := f.post(r2, line); under <- code }()
			<-taken
			f.c.outputs["t1"].recount.Store(true)
			// The next post is counted without waiting longer for r2's.
			if code, _ := f.post(r1, line); code != 200 {
				t.Fatalf("a post while another of the tenant's hangs, at a recount: %d, want 200", code)
			}
			close(proceed)
			if code := <-under; code != tc.code {
				t.Fatalf("the hung post: %d, want %d", code, tc.code)
			}
			files := f.kept(r1) + f.kept(r2)
			if used := f.c.outputs["t1"].used.Load(); used < files {
				t.Errorf("the tenant's count is %d bytes, below its files' %d", used, files)
			}
			if code, _ := f.post(r1, line); code != 200 {
				t.Fatalf("a post after the hung one was answered: %d, want 200", code)
			}
			files = f.kept(r1) + f.kept(r2)
			if used := f.c.outputs["t1"].used.Load(); used != files {
				t.Errorf("after the hung post was answered, the tenant's count is %d bytes, its files %d", used, files)
			}
		})
	}
}

// TestAgentLogsBusyPostReleasesItsHold: a post answered 503 while its
// tenant is counted, or given the count's error, holds no count after: a
// recount's wait for it (waitPosts) ended only at its own bound.
func TestAgentLogsBusyPostReleasesItsHold(t *testing.T) {
	t.Run("503", func(t *testing.T) {
		f := newOutputFleet(t, 1<<20)
		r := f.run("t1", "r1", Running)
		if code, _ := f.post(r, []byte("step 1\n")); code != 200 {
			t.Fatalf("post: %d", code)
		}
		countWait := outputCountWait
		outputCountWait = time.Millisecond
		hang := make(chan struct{})
		recountWaits = func() { <-hang }
		t.Cleanup(func() { recountWaits, outputCountWait = nil, countWait })
		f.c.outputs["t1"].recount.Store(true)
		if code, _ := f.post(r, []byte("step 2\n")); code != 503 {
			t.Fatalf("a post while its tenant is counted: %d, want 503", code)
		}
		held := f.c.outputs["t1"]
		close(hang)
		<-held.ready
		held.holdMu.Lock()
		defer held.holdMu.Unlock()
		if held.holds != 0 {
			t.Errorf("%d posts hold the count after the post answered 503", held.holds)
		}
	})
	t.Run("the count's error", func(t *testing.T) {
		f := newOutputFleet(t, 1<<20)
		r := f.run("t1", "r1", Running)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		f.c.life.Store(&ctx)
		if code, _ := f.post(r, []byte("step 1\n")); code == 200 {
			t.Fatalf("a post whose tenant's count failed: 200")
		}
		held := f.c.outputs["t1"]
		<-held.ready
		if held.err == nil {
			t.Fatalf("the count did not fail")
		}
		held.holdMu.Lock()
		defer held.holdMu.Unlock()
		if held.holds != 0 {
			t.Errorf("%d posts hold the count after the post given its error", held.holds)
		}
	})
}
