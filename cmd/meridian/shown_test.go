package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/textsafe"
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

// TestGetShowsNoControlCharacters: get -o wide, get --watch and get queue
// print a run's reason, which a site or a workload may have written, as
// describe does: an escape sequence in a pod's message is shown as text,
// and a newline or a tab in it cannot start a row or a column of its own.
// So does describe a checkpoint's name, which the workload gave it.
func TestGetShowsNoControlCharacters(t *testing.T) {
	hostile := "exit 1\x1b]52;c;ZXZpbA==\x07\x1b[2J\r\nfake\trow\u009b31m"
	now := time.Now()
	r := &run.Run{ID: "run-1", Tenant: "t1", Job: "j", State: run.Failed, CreatedAt: now}
	r.Reason = hostile
	r.Checkpoint = &run.Checkpoint{Step: 7, Site: "s", Path: "ck\u009b2J\x1b"}
	clean := func(what, out string, rows int) {
		t.Helper()
		if strings.ContainsFunc(strings.ReplaceAll(out, "\n", ""), isControl) {
			t.Errorf("%s: control characters reach the terminal: %q", what, out)
		}
		if !strings.Contains(out, `exit 1\x1b]52;c;ZXZpbA==\x07\x1b[2J\x0d\x0afake\x09row\x9b31m`) {
			t.Errorf("%s: the reason is not shown as text: %q", what, out)
		}
		if n := strings.Count(out, "\n"); n != rows {
			t.Errorf("%s: %d lines, want %d: %q", what, n, rows, out)
		}
	}
	var b bytes.Buffer
	if err := runTable(&b, []*run.Run{r}, true, true, nil); err != nil {
		t.Fatal(err)
	}
	clean("get -o wide", b.String(), 2)

	b.Reset()
	wt := &runWatch{w: &b, wide: true, last: map[string]string{}, ended: map[string]bool{}}
	if err := wt.show([]*api.RunShown{{Run: r}}); err != nil {
		t.Fatal(err)
	}
	clean("get --watch -o wide", b.String(), 1)

	b.Reset()
	if err := queueTable(&b, []run.QueueEntry{{Run: "run-1", Job: "j", Position: 1, Wait: "capacity", Reason: hostile}}, false); err != nil {
		t.Fatal(err)
	}
	clean("get queue", b.String(), 2)

	b.Reset()
	if err := describeTable(&b, r, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `(ck\x9b2J\x1b)`) || strings.ContainsFunc(strings.ReplaceAll(strings.ReplaceAll(b.String(), "\n", ""), "\t", ""), isControl) {
		t.Errorf("describe: the checkpoint's name is not shown as text: %q", b.String())
	}
}

// TestShownEscapesBidiControls: a reason holding a right-to-left override
// or an isolate (a workload's message, a name stored before the loader
// refused them) would show the rest of its line reversed on a terminal
// that applies them; shown writes each out as \uNNNN, in describe, get and
// a followed timeline alike, and leaves the marks that right-to-left text
// needs as they are, next to it.
func TestShownEscapesBidiControls(t *testing.T) {
	hostile := "denied at site \u202eeno-gnal\u202c, \u2067isolated\u2069 \u202a\u202b\u202d\u2066\u2068"
	r := &run.Run{ID: "run-1", Tenant: "t1", Job: "j", State: run.Failed, CreatedAt: time.Now()}
	r.Reason = hostile
	evs := []store.Event{{Time: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), Kind: "state", From: "running", To: "failed", Reason: hostile}}
	var b bytes.Buffer
	if err := describeTable(&b, r, evs); err != nil {
		t.Fatal(err)
	}
	if err := runTable(&b, []*run.Run{r}, true, true, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String() + eventLine(evs[0], false)
	if strings.ContainsFunc(out, catalog.BidiControl) {
		t.Errorf("bidirectional controls reach the terminal: %q", out)
	}
	want := `denied at site \u202eeno-gnal\u202c, \u2067isolated\u2069 \u202a\u202b\u202d\u2066\u2068`
	if n := strings.Count(out, want); n != 4 {
		t.Errorf("the reason is shown escaped %d times, want 4 (describe, its event, get, a followed line): %q", n, out)
	}
	if got := shown("دبي\u200f (Dubai) \u05e9\u200e 1 \u0627\u061c2"); got != "دبي\u200f (Dubai) \u05e9\u200e 1 \u0627\u061c2" {
		t.Errorf("marks changed: %q", got)
	}
	// Away from text written right to left a mark only reorders what is
	// around it ("1\u200f-2" shows as "12-"), unseen.
	if got, want := shown("op\u200e \u061c 1\u200f-2"), `op\u200e \u061c 1\u200f-2`; got != want {
		t.Errorf("marks out of place: %q, want %q", got, want)
	}
}

// TestShownEscapesLineSeparators: a site's or a workload's reason holding
// a line or paragraph separator (U+2028, U+2029), which some terminals and
// log viewers break a line at, could forge a line of describe's or a
// followed timeline's output; shown writes each out as \uNNNN, as every
// package's shown text does (textsafe.Unsafe).
func TestShownEscapesLineSeparators(t *testing.T) {
	got := shown("lost\u2028ok: run finished\u2029")
	if want := `lost\u2028ok: run finished\u2029`; got != want {
		t.Errorf("shown = %q, want %q", got, want)
	}
	for _, r := range got {
		if textsafe.Unsafe(r) {
			t.Errorf("%U reaches the terminal in %q", r, got)
		}
	}
}

// TestShownEscapesInvisibles: a name or a reason holding a character drawn
// as nothing (a zero-width space, a soft hyphen, a word joiner, a byte
// order mark, a tag character, a Hangul filler) or a joiner where no word
// needs one was shown as it is: "ad\u200bmin" read as "admin" in describe,
// get and a followed timeline. Each is written out now; the joiners that
// Persian, Indic and emoji need stay.
func TestShownEscapesInvisibles(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ad\u200bmin", `ad\u200bmin`},
		{"ad\u00admin", `ad\u00admin`},
		{"ad\u2060min\u2062\ufeff", `ad\u2060min\u2062\ufeff`},
		{"ad\u200dmin ad\u200cmin", `ad\u200dmin ad\u200cmin`},
		{"run\u3164", `run\u3164`},
		{"ok\U000e0069\U000e0067", `ok\U000e0069\U000e0067`},
		{"\U0001f600\ufe0f\ufe0f", "\U0001f600\ufe0f" + `\ufe0f`},
		{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"},
		{"\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937"},
		{"\U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f", "\U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f"},
	} {
		if got := shown(c.in); got != c.want {
			t.Errorf("shown(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
	r := &run.Run{ID: "run-1", Tenant: "t1", Job: "tr\u200bain", State: run.Failed, CreatedAt: time.Now()}
	r.Reason = "quota\u00ad ok"
	var b bytes.Buffer
	if err := describeTable(&b, r, nil); err != nil {
		t.Fatal(err)
	}
	if err := runTable(&b, []*run.Run{r}, true, true, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "\u200b") || strings.Contains(out, "\u00ad") || !strings.Contains(out, `tr\u200bain`) || !strings.Contains(out, `quota\u00ad ok`) {
		t.Errorf("the job's name and the reason are not shown escaped: %q", out)
	}
}
