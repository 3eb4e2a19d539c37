package main

import (
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
)

// TestDescribeUsed: describe run says what the attempts used and how much
// of the deadline has gone since the run was submitted, the waits before
// and between attempts (for room, held, moving) included.
func TestDescribeUsed(t *testing.T) {
	now := time.Now()
	r := &run.Run{ID: "r1", Job: "j", State: run.Running, Attempt: 2, Data: run.Data{Submitted: now.Add(-4 * time.Hour), Attempts: []run.Attempt{
		{N: 1, Count: 8, PricePerHour: 2, Started: now.Add(-3 * time.Hour), Ended: now.Add(-2 * time.Hour)},
		{N: 2, Count: 8, PricePerHour: 2, Started: now.Add(-time.Hour)},
	}}}
	var b strings.Builder
	if err := describeTable(&b, r, nil); err != nil {
		t.Fatal(err)
	}
	want := "Used:       2.00 hours, 16.00 accelerator-hours, $32.00 at the pools' prices (2 attempts); 4.00 hours of the deadline since it was submitted"
	if !strings.Contains(b.String(), want) {
		t.Errorf("describe lacks\n%s\n in\n%s", want, b.String())
	}
}
