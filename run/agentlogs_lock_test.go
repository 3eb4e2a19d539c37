package run

import (
	"net/http"
	"os"
	"sync"
	"testing"
	"time"
)

// blockSync makes syncLog hold every sync of the file at path until
// release is closed; inSync is closed when the first such sync begins.
func blockSync(t *testing.T, path string) (inSync, release chan struct{}) {
	inSync, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	syncLog = func(f *os.File) error {
		if f.Name() == path {
			once.Do(func() { close(inSync) })
			<-release
		}
		return f.Sync()
	}
	t.Cleanup(func() { syncLog = (*os.File).Sync })
	return inSync, release
}

// answered waits for ch, failing the test if it does not come within a
// bound far past any sync's: the post it stands for waited behind another.
func answered(t *testing.T, what string, ch <-chan int) int {
	t.Helper()
	select {
	case code := <-ch:
		return code
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no answer: it waited behind another post's sync", what)
		return 0
	}
}

// TestAgentLogsOtherAttemptNotHeldBySync: a post of one attempt's output
// does not wait for another attempt's. A server-wide lock was held while a
// post waited for its attempt's file lock, which the post before it holds
// through its sync: two posts of one attempt at once (an agent's retry,
// or the holder of its credential posting twice) made every other
// attempt's post on the server wait for that one fsync, without bound.
func TestAgentLogsOtherAttemptNotHeldBySync(t *testing.T) {
	e := newEnv(t, nil)
	running := func(r *Run) bool { return r.State == Running }
	r1, a1 := runningAttempt(t, e, jobDoc(100000, 1000), "the first attempt to run", running)
	r2, a2 := runningAttempt(t, e, jobDoc(100000, 1000), "the second attempt to run", running)
	post1 := logPoster(t, e, e.c.cfg.ServerURL, r1, a1)
	post2 := logPoster(t, e, e.c.cfg.ServerURL, r2, a2)
	logLockWait = time.Hour
	busy, unbusy := make(chan struct{}), make(chan struct{})
	var once sync.Once
	logLockBusy = func() {
		once.Do(func() { close(busy) })
		<-unbusy
	}
	defer func() { logLockWait, logLockBusy = 2*time.Second, nil }()
	inSync, release := blockSync(t, e.c.logPath(r1.ID, a1.N))
	first, second := make(chan int, 1), make(chan int, 1)
	// Both posts are let go and waited for before the test returns: its
	// cleanup restores syncLog, which the blocked posts still call.
	defer func() {
		close(release)
		close(unbusy)
		<-first
		<-second
	}()
	go func() { _, code, _ := post1([]byte("first\n")); first <- code }()
	<-inSync
	go func() { _, code, _ := post1([]byte("second\n")); second <- code }()
	<-busy
	other := make(chan int, 1)
	go func() { _, code, _ := post2([]byte("other\n")); other <- code }()
	if code := answered(t, "the other attempt's post", other); code != http.StatusOK {
		t.Errorf("the other attempt's post: %d, want 200", code)
	}
}

// TestAgentLogsLockWaitBounded: a post of an attempt's output that finds
// another post of it being kept waits a bounded time, then is answered 503
// with Retry-After (the agent posts it again). It waited for the file lock
// without bound, past its request's end.
func TestAgentLogsLockWaitBounded(t *testing.T) {
	e, r, a, _ := unlimitedAttempt(t)
	post := logPoster(t, e, e.c.cfg.ServerURL, r, a)
	logLockWait = 0
	defer func() { logLockWait = 2 * time.Second }()
	inSync, release := blockSync(t, e.c.logPath(r.ID, a.N))
	defer close(release)
	go post([]byte("first\n"))
	<-inSync
	second := make(chan int, 1)
	go func() { _, code, _ := post([]byte("second\n")); second <- code }()
	if code := answered(t, "a second post of the attempt", second); code != http.StatusServiceUnavailable {
		t.Errorf("a second post while the first is synced: %d, want 503", code)
	}
}
