package transfer

import (
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// TestZonedKeepsTheSourceLast: a finding whose message ends with its
// source (an undetermined rule's says which source it could not apply)
// had the zone note put after that source, so the message's source was no
// longer its last part and was shown beside the finding's own: "(source:
// S) (it is still D in some time zone …) (source: S; T)". The note now
// goes before the source, which the finding's text drops as before.
func TestZonedKeepsTheSourceLast(t *testing.T) {
	today := catalog.Date{Time: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)}
	day := catalog.Date{Time: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	f := policy.Finding{Rule: "r1", Effect: policy.Deny, Source: "Law A; Law B",
		Message: "r1: could not determine whether this rule applies: a fact is missing (source: Law A)"}
	plain := policy.Finding{Rule: "r2", Effect: policy.Deny, Source: "Law C", Message: "r2: may not leave"}
	got := Zoned([]policy.Finding{f, plain}, day, today)
	text := got[0].Text()
	if strings.Contains(text, "(source:") {
		t.Errorf("the zoned finding's text still holds its source: %q", text)
	}
	if !strings.Contains(text, "it is still 2026-12-07 in some time zone") {
		t.Errorf("the zoned finding's text lost the zone note: %q", text)
	}
	if want := "r2: may not leave (it is still 2026-12-07 in some time zone, and its rules are in force there)"; got[1].Message != want {
		t.Errorf("a message without a source: %q, want %q", got[1].Message, want)
	}
}
