package run

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/transfer"
)

// ruleFrom is a transfer rule pack of one rule, of effect effect, in force
// from the date from.
func ruleFrom(id, effect, from, condition string) policy.File {
	return transferRule(id, "test rule from "+from, effect, from, condition, "")
}

// midnightFixture is a run moving its checkpoint from alpha (SG) to bravo
// (MY) on 2026-06-01 under the rules state, with pack in force, whose
// copy crosses into 2026-06-02 as its first chunk arrives at bravo.
func midnightFixture(t *testing.T, pack policy.File) *ckMoveFixture {
	t.Helper()
	f, rs := newCkLawFixture(t)
	if _, _, err := rs.Apply(context.Background(), rules.Change{Files: []policy.File{pack}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	// At 09:00 UTC the 2nd has begun nowhere yet (from 10:00 UTC it has,
	// at UTC+14, and a rule of the 2nd binds the move from its start).
	f.clk.set(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	var once sync.Once
	hook := func(key string) {
		if strings.HasPrefix(key, CheckpointPrefix("t1")) && !strings.HasSuffix(key, dataset.ManifestKey(f.ck.Name)) {
			once.Do(func() { f.clk.set(time.Date(2026, 6, 2, 0, 0, 1, 0, time.UTC)) })
		}
	}
	f.s3.onPut.Store(&hook)
	return f
}

// ckLedger is what the ledger holds of run id's checkpoint copies: each
// intent and confirmation, in order.
type ckLedgerEntry struct {
	kind    string
	entry   transfer.Entry
	objects []transfer.Object
}

func ckLedger(t *testing.T, f *ckMoveFixture, id string) []ckLedgerEntry {
	t.Helper()
	es, err := f.st.AuditEntries(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []ckLedgerEntry
	for _, a := range es {
		if a.Kind != transfer.KindIntent && a.Kind != transfer.KindTransfer {
			continue
		}
		var in transfer.Intent
		if err := json.Unmarshal(a.Payload, &in); err != nil {
			t.Fatal(err)
		}
		if in.Kind != transfer.KindCheckpoint {
			continue
		}
		out = append(out, ckLedgerEntry{kind: a.Kind, entry: in.Entry, objects: in.Objects})
	}
	return out
}

// TestCheckpointCopyIntoAForbiddingDayStops: a checkpoint's copy that
// runs past midnight into a day from which a rule forbids its target asks
// the law again before the rest is sent, and stops on its refusal: the
// manifest never reaches the target, what crossed on the first day is
// recorded as of that day, and the move is refused, not counted as a
// store's passing failure to be tried again. The copy stopped on the day
// change with no law asked, and the run went round a retry cycle only to
// be refused by the next try's first check.
func TestCheckpointCopyIntoAForbiddingDayStops(t *testing.T) {
	f := midnightFixture(t, ruleFrom("test-no-my-from-0602", "deny", "2026-06-02", "transfer.to == 'MY' && dataset.name == 'people'"))
	r := f.step(t)
	if got := eventsOf(t, f.c, r.ID, "checkpoint-move-failed"); len(got) != 0 {
		t.Errorf("the refusal went round a retry: %q", got)
	}
	if r.Migration != nil && r.Migration.MoveTries != 0 {
		t.Errorf("the refusal counted as a failed try: %+v", r.Migration)
	}
	if r.Checkpoint != nil && r.Checkpoint.Site == "bravo" {
		t.Fatalf("the checkpoint moved to bravo, which the law forbids from 2026-06-02: %+v", r.Checkpoint)
	}
	moved := eventsOf(t, f.c, r.ID, "checkpoint-moved")
	if len(moved) != 1 || !strings.Contains(moved[0], "test-no-my-from-0602") || !strings.Contains(moved[0], "2026-06-02") {
		t.Errorf("timeline's checkpoint-moved: %q; want the refusal of 2026-06-02 with its rule", moved)
	}
	f.s3.mu.Lock()
	_, manifest := f.s3.objs[CheckpointPrefix("t1")+dataset.ManifestKey(f.ck.Name)]
	f.s3.mu.Unlock()
	if manifest {
		t.Error("the checkpoint's manifest reached bravo after the law refused the move")
	}
	led := ckLedger(t, f, r.ID)
	chunks := 0
	for _, l := range led {
		if l.entry.AsOf != "2026-06-01" {
			t.Errorf("%s entry as of %s, want 2026-06-01 (nothing was lawful on 2026-06-02): %+v", l.kind, l.entry.AsOf, l.entry)
		}
		if l.entry.Complete {
			t.Errorf("the ledger records the refused copy as complete: %+v", l.entry)
		}
		if l.kind == transfer.KindTransfer {
			chunks += l.entry.ChunksSent
		}
	}
	if chunks == 0 {
		t.Errorf("the ledger records no chunk crossing on 2026-06-01: %+v", led)
	}
	es, err := f.st.AuditEntries(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range es {
		if a.Kind == audit.KindCheckpoint {
			t.Errorf("the audit log records a checkpoint move the law refused: %s", a.Payload)
		}
	}
}

// TestCheckpointCopyIntoALawfulDayGoesOn: a checkpoint's copy that runs
// past midnight into a day on which its target is still lawful asks the
// law for that day and goes on at once: what crossed on each day is
// recorded as of that day, with that day's rules, and the run resumes at
// the target from this step. The copy stopped on the day change, and the
// run waited out a retry before the checkpoint moved.
func TestCheckpointCopyIntoALawfulDayGoesOn(t *testing.T) {
	f := midnightFixture(t, ruleFrom("test-note-my-from-0602", "advisory", "2026-06-02", "transfer.to == 'MY' && dataset.name == 'people'"))
	r := f.step(t)
	if got := eventsOf(t, f.c, r.ID, "checkpoint-move-failed"); len(got) != 0 {
		t.Errorf("the copy went round a retry: %q", got)
	}
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" || r.Checkpoint.SHA256 != f.ck.SHA256 {
		t.Fatalf("after a copy across midnight into a lawful day: %s, checkpoint %+v (%s); want staging at bravo, resuming from the checkpoint there", r.State, r.Checkpoint, r.Reason)
	}
	led := ckLedger(t, f, r.ID)
	days := map[string]bool{}
	var complete *transfer.Entry
	for i, l := range led {
		days[l.entry.AsOf] = true
		noted := strings.Contains(strings.Join(l.entry.Rules, ","), "test-note-my-from-0602")
		switch l.entry.AsOf {
		case "2026-06-01":
			if noted {
				t.Errorf("%s entry of 2026-06-01 names a rule in force only from 2026-06-02: %+v", l.kind, l.entry)
			}
			for _, o := range l.objects {
				if o.Chunk == nil {
					t.Errorf("the manifest's intent is recorded as of 2026-06-01, before the law was asked about the day it crossed on: %+v", l.entry)
				}
			}
		case "2026-06-02":
			if !noted {
				t.Errorf("%s entry of 2026-06-02 does not name that day's rule: %+v", l.kind, l.entry)
			}
		default:
			t.Errorf("%s entry as of %s: %+v", l.kind, l.entry.AsOf, l.entry)
		}
		if l.kind == transfer.KindTransfer && l.entry.Complete {
			complete = &led[i].entry
		}
	}
	if !days["2026-06-01"] || !days["2026-06-02"] {
		t.Errorf("ledger days %v: want what crossed on 2026-06-01 and on 2026-06-02", days)
	}
	if complete == nil || complete.AsOf != "2026-06-02" {
		t.Errorf("completing record %+v: want the copy complete as of 2026-06-02", complete)
	}
	es, err := f.st.AuditEntries(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	moves := 0
	for _, a := range es {
		if a.Kind == audit.KindCheckpoint {
			moves++
			if !strings.Contains(string(a.Payload), "2026-06-02") {
				t.Errorf("checkpoint move's audit record does not say the day it finished on: %s", a.Payload)
			}
		}
	}
	if moves != 1 {
		t.Errorf("%d checkpoint-move audit records, want 1", moves)
	}
}

// TestCheckpointMoveRecordNamesEachDay: the audit record of a move whose
// copy crossed on 2026-06-01 and 2026-06-02 names both days, as the
// ledger's entries do; it named only the day the move was written on.
func TestCheckpointMoveRecordNamesEachDay(t *testing.T) {
	f := midnightFixture(t, ruleFrom("test-note-my-from-0602", "advisory", "2026-06-02", "transfer.to == 'MY' && dataset.name == 'people'"))
	r := f.step(t)
	if r.State != Staging {
		t.Fatalf("after a copy across midnight into a lawful day: %s (%s); want staging", r.State, r.Reason)
	}
	es, err := f.st.AuditEntries(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	moves := 0
	for _, a := range es {
		if a.Kind != audit.KindCheckpoint {
			continue
		}
		moves++
		var rec struct {
			LawfulBy string   `json:"lawfulBy"`
			Days     []string `json:"days"`
		}
		if err := json.Unmarshal(a.Payload, &rec); err != nil {
			t.Fatal(err)
		}
		if strings.Join(rec.Days, ",") != "2026-06-01,2026-06-02" {
			t.Errorf("checkpoint move's days %q; want 2026-06-01 and 2026-06-02: %s", rec.Days, a.Payload)
		}
		if !strings.Contains(rec.LawfulBy, "2026-06-01") || !strings.Contains(rec.LawfulBy, "2026-06-02") {
			t.Errorf("checkpoint move's lawfulBy %q names not both days the copy crossed on", rec.LawfulBy)
		}
	}
	if moves != 1 {
		t.Errorf("%d checkpoint-move audit records, want 1", moves)
	}
}
