package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// TestDescribeGolden renders a migrated run's description and timeline.
func TestDescribeGolden(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	r := &run.Run{ID: "run-0123456789ab", Tenant: "default", Job: "demo-tiny-lm", State: run.Succeeded, Site: "my-johor-2", Attempt: 2,
		Handle: "run-0123456789ab.2", CreatedAt: t0, UpdatedAt: t0.Add(7 * time.Second),
		Data: run.Data{AsOf: "2026-03-01", Rank: 1, Excluded: []string{"sg-jurong-1"},
			Placement:   planner.Placement{Rank: 1, Site: "my-johor-2", Country: "MY", Accelerator: "nvidia-h100-sxm", Count: 8},
			Progress:    &run.Progress{Step: 150, Loss: 0.6991, TokensPerS: 102400},
			Checkpoint:  &run.Checkpoint{Step: 150, Site: "my-johor-2", Path: "/state/sites/my-johor-2/runs/run-0123456789ab/checkpoints/ckpt-000000150.bin"},
			RecoveredIn: catalog.Duration(14 * time.Millisecond), Reason: "attempt 2 at my-johor-2 finished"}}
	evs := []store.Event{
		{Seq: 1, Time: t0, Kind: "created", To: "planned", Reason: "planned as of 2026-03-01: rank 1 of 3 by objective cost"},
		{Seq: 2, Time: t0.Add(10 * time.Millisecond), Kind: "state", From: "planned", To: "staging", Reason: "preparing attempt 1 at sg-jurong-1"},
		{Seq: 3, Time: t0.Add(2 * time.Second), Kind: "site-lost", Reason: "site lost"},
		{Seq: 4, Time: t0.Add(2 * time.Second), Kind: "state", From: "checkpointed", To: "migrating", Reason: "site sg-jurong-1 lost"},
		{Seq: 5, Time: t0.Add(7 * time.Second), Kind: "state", From: "checkpointed", To: "succeeded", Reason: "attempt 2 at my-johor-2 finished"},
	}
	var table, js bytes.Buffer
	if err := describeTable(&table, r, evs); err != nil {
		t.Fatal(err)
	}
	golden(t, "describe-run.txt", table.String())
	view := struct {
		Run    *run.Run      `json:"run"`
		Events []store.Event `json:"events"`
	}{r, evs}
	if err := render(&js, "json", view, nil); err != nil {
		t.Fatal(err)
	}
	// The JSON form carries planner.Placement, whose fields belong to the
	// planner; check that it reads back whole rather than pinning its bytes.
	var back struct {
		Run    *run.Run      `json:"run"`
		Events []store.Event `json:"events"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	// The row version the run was decoded from is the store's, not JSON's.
	if diff := cmp.Diff(view.Run, back.Run, cmpopts.IgnoreUnexported(run.Run{})); diff != "" {
		t.Errorf("run JSON round trip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(evs, back.Events); diff != "" {
		t.Errorf("events JSON round trip (-want +got):\n%s", diff)
	}
}

// TestCountsAgreeWithTheirNouns: one attempt and one chunk are written in
// the singular ("1 attempts", "1 chunks sent" before), more in the plural.
func TestCountsAgreeWithTheirNouns(t *testing.T) {
	t0 := time.Now().Add(-2 * time.Hour)
	for n, want := range map[int]string{1: "(1 attempt);", 2: "(2 attempts);"} {
		r := &run.Run{ID: "run-1", Job: "j", State: run.Running}
		for i := range n {
			r.Attempts = append(r.Attempts, run.Attempt{N: i + 1, Site: "s", Count: 8, PricePerHour: 2, Started: t0, Ended: t0.Add(time.Hour)})
		}
		var b bytes.Buffer
		if err := describeTable(&b, r, nil); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("describe of a run with %d attempts: want %q in\n%s", n, want, b.String())
		}
	}
	for n, want := range map[int]string{1: ": 1 chunk sent (", 3: ": 3 chunks sent ("} {
		e := transfer.Entry{Kind: transfer.KindDataset, Dataset: "d", Site: "s", From: "SG", To: "MY", Totals: &transfer.Totals{ChunksSent: n, BytesSent: 4096}}
		if got := ledgerLine(7, "home store", e); !strings.Contains(got, want) {
			t.Errorf("the demo's ledger line for %d chunks: want %q in %q", n, want, got)
		}
	}
}
