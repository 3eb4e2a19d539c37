package run

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// TestLawCheckRecordBounded: a law check that moved, held or could not
// judge some hundreds of thousands of runs and copies is recorded with
// each list cut to its first ids and its whole count, under what an
// audit entry may be. Named whole, the record was over it: the store
// refused it, and no law check was ever recorded again.
func TestLawCheckRecordBounded(t *testing.T) {
	ids := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%s-%07d", prefix, strings.Repeat("x", 40), i)
		}
		return out
	}
	res := &CheckResult{Runs: 400000, Moving: ids("run", 300000), Held: ids("run", 3), Scheduled: nil,
		Removed: ids("tenant/dataset@site", 5), CopiesUndetermined: ids("tenant/dataset@site", 200000)}
	fields := map[string]any{"revision": "r1", "runs": res.Runs}
	lawCheckLists(fields, res)
	rec, err := audit.NewRecord(KindLawCheck, "", fields)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Payload); n > store.MaxAuditPayloadBytes {
		t.Fatalf("law check record: %d bytes, over the store's bound %d", n, store.MaxAuditPayloadBytes)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(rec.Payload, &got); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		name string
		all  []string
	}{{"moving", res.Moving}, {"held", res.Held}, {"scheduled", nil}, {"copiesRemoved", res.Removed}, {"copiesUndetermined", res.CopiesUndetermined}, {"undetermined", nil}} {
		var named []string
		var count int
		if err := json.Unmarshal(got[l.name], &named); err != nil {
			t.Fatalf("%s: %v", l.name, err)
		}
		if err := json.Unmarshal(got[l.name+"Count"], &count); err != nil || count != len(l.all) {
			t.Errorf("%sCount: %d, %v; want %d", l.name, count, err, len(l.all))
		}
		if len(named) > lawCheckListMax || len(named) > len(l.all) {
			t.Errorf("%s names %d ids of %d; want at most %d", l.name, len(named), len(l.all), lawCheckListMax)
		}
		if len(l.all) <= 5 && len(named) != len(l.all) {
			t.Errorf("%s names %d ids of %d; want all", l.name, len(named), len(l.all))
		}
		for i, id := range named {
			if id != l.all[i] {
				t.Fatalf("%s's id %d: %q, want %q (the first ones, in order)", l.name, i, id, l.all[i])
			}
		}
	}
}
