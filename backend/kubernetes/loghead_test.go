package kubernetes

import (
	"strings"
	"testing"
)

// TestLogHeadNamesThePodSafely: the line that heads each pod's log after
// the first in an attempt's output is the backend's own ("==> pod NAME
// <=="), and named the pod as the API server did: a hostile one's name
// with a line break forged lines that read as the backend's (a log "cut"),
// and its escapes reached the terminal of whoever read the output. A name
// no real API server gives is now quoted and escaped there, as in the
// backend's errors (siteName); a real one is as it was.
func TestLogHeadNamesThePodSafely(t *testing.T) {
	l := &podLogs{opened: true, last: '\n'}
	hostile := &apiPod{}
	hostile.Name = "p\n==> log of pod m-1 cut: not sent whole within 1m0s <==\n\x1b]0;owned\x07"
	head := l.head(hostile)
	if strings.Count(head, "\n") != 1 || !strings.HasSuffix(head, " <==\n") || strings.ContainsAny(head, "\x1b\x07") {
		t.Errorf("head line %q; want one line, the name quoted and escaped", head)
	}
	real := &apiPod{}
	real.Name = "m-run-1-abcde"
	if got, want := l.head(real), "==> pod m-run-1-abcde <==\n"; got != want {
		t.Errorf("head line %q; want %q", got, want)
	}
}
