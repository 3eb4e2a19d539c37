package kubernetes

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// logsAt is what LogsAt(off) reads, and its info's size.
func logsAt(t *testing.T, b *Backend, off int64) (string, int64) {
	t.Helper()
	rc, info, err := b.LogsAt(testContext(t), hostileJob, off)
	if err != nil {
		t.Fatalf("LogsAt(%d): %v", off, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("LogsAt(%d): read: %v", off, err)
	}
	return string(got), info.Size
}

// TestLogsAtPastAnEndedPodDoesNotReadIt: an attempt's first pod is over
// and its log read whole once; a follower's LogsAt from an offset at or
// past its end does not have the API server send that log again (it sent
// the whole log each poll, up to maxPodLogBytes), and reads what Logs
// gives from there, the second pod's head line included, whether the
// first log ends with a line's end or not.
func TestLogsAtPastAnEndedPodDoesNotReadIt(t *testing.T) {
	for _, first := range []string{"first pod\nends\n", "first pod, no line end"} {
		t.Run(fmt.Sprintf("%q", first), func(t *testing.T) {
			s, b := twoPodJob(t, []byte(first), []byte("second pod\n"), false)
			whole := string(wholeOutput(t, b))
			firstEnd := int64(len(first))
			for _, off := range []int64{0, firstEnd - 1, firstEnd, firstEnd + 1, int64(len(whole)) - 1, int64(len(whole)), int64(len(whole)) + 5} {
				streams, _ := s.counts()
				got, size := logsAt(t, b, off)
				if want := whole[min(off, int64(len(whole))):]; got != want {
					t.Errorf("LogsAt(%d) = %q; want %q, what Logs gives from there (%q)", off, got, want, whole)
				}
				if size != -1 {
					t.Errorf("LogsAt(%d): size %d; want -1, a pod's log still growing", off, size)
				}
				after, _ := s.counts()
				if wantStreams := 1 + btoi(off < firstEnd); after-streams != wantStreams {
					t.Errorf("LogsAt(%d): %d logs asked for; want %d (the ended pod's log, %d bytes, read again only when the offset is in it)",
						off, after-streams, wantStreams, firstEnd)
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestLogsAtTellsTheSizeOfAnEndedOutput: once the logs of all the
// attempt's pods are over and were read whole, LogsAt tells the output's
// size without asking for any of them, so that a reader of a run's output
// does not read it all to learn it, and reads from an offset what Logs
// gives from there.
func TestLogsAtTellsTheSizeOfAnEndedOutput(t *testing.T) {
	s, b := twoPodJob(t, []byte("first"), []byte("second\n"), true)
	if _, size := logsAt(t, b, 0); size != -1 {
		t.Fatalf("LogsAt before any read: size %d; want -1, not known", size)
	}
	whole := string(wholeOutput(t, b))
	streams, _ := s.counts()
	rc, info, err := b.LogsAt(testContext(t), hostileJob, 0)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if after, _ := s.counts(); info.Size != int64(len(whole)) || after != streams {
		t.Errorf("LogsAt(0) of ended pods read once: size %d, %d logs asked for; want %d (%q), none", info.Size, after-streams, len(whole), whole)
	}
	for off := range int64(len(whole)) + 1 {
		if got, size := logsAt(t, b, off); got != whole[off:] || size != int64(len(whole)) {
			t.Errorf("LogsAt(%d) = %q, size %d; want %q, %d", off, got, size, whole[off:], len(whole))
		}
	}
}

// TestFixedLogsAreBounded: the sizes kept of ended pods' logs are at most
// maxFixedLogs, the oldest let go first.
func TestFixedLogsAreBounded(t *testing.T) {
	var f fixedLogs
	pod := func(i int) *apiPod {
		p := &apiPod{}
		p.UID = types.UID(fmt.Sprint("uid-", i))
		p.Status.Phase = podSucceeded
		p.Status.ContainerStatuses = []containerStatus{{Name: ContainerName, ContainerID: "c://1",
			State: containerState{Terminated: &containerTerminated{}}}}
		return p
	}
	for i := range maxFixedLogs + 10 {
		f.put(pod(i), fixedLog{n: int64(i)})
	}
	if len(f.sizes) != maxFixedLogs || len(f.order) != maxFixedLogs {
		t.Fatalf("%d sizes kept (%d in order); want %d", len(f.sizes), len(f.order), maxFixedLogs)
	}
	if _, ok := f.get(pod(0)); ok {
		t.Error("the oldest size kept past the bound")
	}
	if s, ok := f.get(pod(maxFixedLogs + 9)); !ok || s.n != maxFixedLogs+9 {
		t.Errorf("the newest size: %+v, %v", s, ok)
	}
	running := pod(1)
	running.Status.Phase = podRunning
	f.put(running, fixedLog{n: 1})
	if _, ok := f.get(running); ok {
		t.Error("the size of a running pod's log kept")
	}
}

// TestFixedLogsKeepBoundedKeys: the sizes of ended pods' logs are kept by
// the pod's UID and container ID, the site's words, each up to the
// cache's maxKeptString: maxFixedLogs of them held 32 MiB. A key past
// maxFixedLogKey is now kept as its hash, and still finds its size.
func TestFixedLogsKeepBoundedKeys(t *testing.T) {
	var f fixedLogs
	long := func(i int, what string) string {
		return fmt.Sprintf("%s-%06d-", what, i) + strings.Repeat("x", maxKeptString-16)
	}
	pod := func(i int) *apiPod {
		p := &apiPod{}
		p.UID = types.UID(long(i, "uid"))
		p.Status.Phase = podSucceeded
		p.Status.ContainerStatuses = []containerStatus{{Name: ContainerName, ContainerID: long(i, "containerd://"),
			State: containerState{Terminated: &containerTerminated{}}}}
		return p
	}
	f.put(pod(0), fixedLog{n: 0}) // first uses
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 1; i < maxFixedLogs; i++ {
		f.put(pod(i), fixedLog{n: int64(i)})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d sizes of logs of pods with %d KiB UIDs and container IDs: the heap grew by %.1f MiB",
		maxFixedLogs, maxKeptString>>10, float64(grown)/(1<<20))
	if grown > 4<<20 {
		t.Errorf("the sizes kept hold %.1f MiB; want under 4 MiB", float64(grown)/(1<<20))
	}
	if s, ok := f.get(pod(7)); !ok || s.n != 7 {
		t.Errorf("the size of pod 7's log: %+v, %v; want 7", s, ok)
	}
}
