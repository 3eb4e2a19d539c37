package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// TestDescribeShowsNoControlCharacters: a reason a site or a workload wrote
// reaches the terminal without its control characters: an escape sequence
// in a pod's termination message (a window title set, the screen cleared,
// the clipboard written) is shown as text, not acted on, in describe and
// in a followed timeline.
func TestDescribeShowsNoControlCharacters(t *testing.T) {
	hostile := "exit 1\x1b]52;c;ZXZpbA==\x07\x1b[2J\r\nfake line\u009b31m, \x9b"
	r := &run.Run{ID: "run-1", Tenant: "t1", Job: "j", State: run.Failed}
	r.Reason = hostile
	evs := []store.Event{{Time: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), Kind: "state", From: "running", To: "failed", Reason: hostile}}
	var b bytes.Buffer
	if err := describeTable(&b, r, evs); err != nil {
		t.Fatal(err)
	}
	out := b.String() + eventLine(evs[0], false)
	if strings.ContainsFunc(strings.ReplaceAll(strings.ReplaceAll(out, "\n", ""), "\t", ""), isControl) {
		t.Errorf("control characters reach the terminal: %q", out)
	}
	// The C1 escape as a character is written out; as a lone byte (not
	// UTF-8) it is replaced.
	if !strings.Contains(out, `exit 1\x1b]52;c;ZXZpbA==\x07\x1b[2J\x0d\x0afake line\x9b31m, `+"\uFFFD") || strings.Contains(out, "\x9b") {
		t.Errorf("the reason is not shown as text: %q", out)
	}
	if got := shown("only a lone \x9b byte"); got != "only a lone \uFFFD byte" {
		t.Errorf("a lone C1 byte: %q", got)
	}
	if got := shown("plain reason, ünïcode ✓"); got != "plain reason, ünïcode ✓" {
		t.Errorf("plain text changed: %q", got)
	}
}
