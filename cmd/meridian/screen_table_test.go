package main

import (
	"bytes"
	"strings"
	"testing"

	"meridian.dev/meridian/screen"
)

// TestScreenTableWritesOutListText: a list's entry id, list name and
// countries, and a decision's author, come from files outside Meridian
// (a list import, a decisions file). The table printed them as they were,
// so an escape sequence in one reached the operator's terminal.
func TestScreenTableWritesOutListText(t *testing.T) {
	esc := "\x1b]0;owned\x07"
	res := []screen.Result{{Org: "acme", Status: "undetermined", Source: "list " + esc,
		Matches: []screen.Match{{OrgName: "Acme", Matched: "ACME", Kind: screen.Possible, Score: 0.9,
			Entry:    screen.Entry{ID: "id" + esc, List: "list" + esc, Name: "ACME"},
			Decision: &screen.Decision{Action: screen.Dismiss, By: "op" + esc}}}}}
	var b bytes.Buffer
	if err := screenTable(&b, res); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Fatalf("the table holds a raw escape sequence:\n%q", b.String())
	}
	if !strings.Contains(b.String(), `id\x1b]0;owned\x07`) {
		t.Fatalf("the entry id is not written out:\n%s", b.String())
	}
}
