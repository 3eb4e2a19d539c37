package screen

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestDecisionTextBounded: who decided and why had no bound: one reason
// of many MiB was written into the decisions file, which is read whole
// and rewritten whole on each decision under its 128 MiB bound, so a
// reason that took it over the bound made every later decision fail to
// be written. An escape sequence or a line break in either went as it was
// to the terminal and the audit log. Such a decision is now refused,
// naming the flag, and nothing is written; text at the bound is taken.
func TestDecisionTextBounded(t *testing.T) {
	s, _ := sampleScreen(t)
	o := org("exemplar", "DE", "Exemplar Lab GmbH")
	if _, err := s.Decide("acme", o, "e1003", Dismiss, strings.Repeat("b", MaxDecisionByBytes), strings.Repeat("r", MaxDecisionReasonBytes)); err != nil {
		t.Fatalf("who and why at their bounds: %v", err)
	}
	before, err := os.ReadFile(s.decisionsPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, by, reason, flag string }{
		{"long reason", "a.person", strings.Repeat("r", 64<<20), "--reason"},
		{"reason one over", "a.person", strings.Repeat("r", MaxDecisionReasonBytes+1), "--reason"},
		{"long by", strings.Repeat("b", MaxDecisionByBytes+1), "same register number", "--by"},
		{"escape in reason", "a.person", "ok\x1b[2K\rconfirmed by the board", "--reason"},
		{"newline in reason", "a.person", "ok\nrecorded in /elsewhere", "--reason"},
		{"line separator in reason", "a.person", "ok\u2028forged", "--reason"},
		{"bidi in by", "a.\u202eperson", "same register number", "--by"},
		{"NUL in by", "a.person\x00", "same register number", "--by"},
		{"not UTF-8", "a.person", "ok \xff", "--reason"},
	} {
		_, err := s.Decide("acme", o, "e1003", Confirm, c.by, c.reason)
		if err == nil || !strings.HasPrefix(err.Error(), c.flag+":") {
			t.Errorf("%s: %v, want a refusal naming %s", c.name, err, c.flag)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("%s: the error repeats the text (%d bytes)", c.name, len(err.Error()))
		}
	}
	after, err := os.ReadFile(s.decisionsPath())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("a refused decision changed the decisions file (%d bytes, was %d)", len(after), len(before))
	}
}
