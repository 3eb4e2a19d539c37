package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// TestServerNamesShowNoControlCharacters: the server checks the names it
// stores (job, site, run id), but the CLI does not take a server's word
// for it: a hostile or impersonated server that returns an escape sequence
// in a name, an event's states or an error message gets it shown as text,
// never acted on by the terminal (a window title set, the screen cleared,
// the clipboard written).
func TestServerNamesShowNoControlCharacters(t *testing.T) {
	esc := "x\x1b]52;c;ZXZpbA==\x07\x1b[2J\u009b31m"
	r := &run.Run{ID: "run-1" + esc, Tenant: "t1", Job: "job" + esc, State: run.State("failed" + esc), Site: "site" + esc, CreatedAt: time.Now()}
	r.Excluded = []string{"ex" + esc}
	r.Placement.Country = "C" + esc
	r.Placement.Accelerator = "acc" + esc
	r.AsOf = "2026-12-04" + esc
	evs := []store.Event{{Time: time.Now(), Kind: "state", From: "running" + esc, To: "failed" + esc}, {Time: time.Now(), Kind: "k" + esc}}
	clean := func(what, out string) {
		t.Helper()
		if strings.ContainsFunc(strings.NewReplacer("\n", "", "\t", "").Replace(out), isControl) {
			t.Errorf("%s: control characters reach the terminal: %q", what, out)
		}
		if !strings.Contains(out, `x\x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b31m`) {
			t.Errorf("%s: the name is not shown as text: %q", what, out)
		}
	}
	var b bytes.Buffer
	if err := runTable(&b, []*run.Run{r}, true, true, nil); err != nil {
		t.Fatal(err)
	}
	clean("get -o wide", b.String())
	b.Reset()
	if err := describeTable(&b, r, evs); err != nil {
		t.Fatal(err)
	}
	clean("describe", b.String())
	clean("a followed timeline's state", eventLine(evs[0], false))
	clean("a followed timeline's event", eventLine(evs[1], false))
	b.Reset()
	if err := queueTable(&b, []run.QueueEntry{{Run: "run-1" + esc, Job: "j" + esc, Position: 1, Wait: "capacity" + esc}}, true); err != nil {
		t.Fatal(err)
	}
	clean("get queue", b.String())

	// An error the server wrote, as main prints it: its lines kept, its
	// escapes shown as text.
	b.Reset()
	code := report(&b, apiErr(&api.StatusError{Status: 403, Err: api.Error{Message: "denied" + esc + "\nsecond line"}}))
	clean("an error message", b.String())
	if code != exitBadInput || !strings.HasPrefix(b.String(), "error: denied") || !strings.Contains(b.String(), "\nsecond line") {
		t.Errorf("report: exit %d, %q", code, b.String())
	}
	b.Reset()
	if code := report(&b, &codeError{code: exitError, err: errSilent}); code != exitError || b.Len() != 0 {
		t.Errorf("a silent error: exit %d, %q", code, b.String())
	}
	b.Reset()
	if code := report(&b, errors.New("plain")); code != exitError || b.String() != "error: plain\n" {
		t.Errorf("a plain error: exit %d, %q", code, b.String())
	}
}
