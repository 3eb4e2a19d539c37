package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// TestRunWrittenOutsideMeridian: whoever can write the database but has
// no audit key rewrote a live run's stored documents (its job's workload,
// datasets, method) or the tenant its row names; every later law check
// judged, and every attempt started, the rewritten job, while the log
// verified: only the plan record written with the run is sealed. That
// record now names a digest of the run's tenant, job and documents, and
// a run's world is built only from documents that hash to it: the law
// check does not judge it lawful and the run's steps fail it before an
// attempt starts, naming it changed outside Meridian.
func TestRunWrittenOutsideMeridian(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.witnessed(f.st)
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	// A server started afresh on the database: nothing of the run cached.
	fresh := func() *Controller { return f.reopened(t) }
	stored := func(c *Controller, r *Run) *Run {
		t.Helper()
		row, err := c.cfg.Store.GetRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		out, err := fromRow(row)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if c := fresh(); true {
		if _, _, err := c.worldJob(stored(c, r)); err != nil {
			t.Fatalf("the run as submitted: %v", err)
		}
		if out, err := c.recheckRun(ctx, stored(c, r), f.lawNow()); err != nil || out != "lawful" {
			t.Fatalf("law check of the run as submitted: %q %v", out, err)
		}
	}
	var data string
	if err := f.st.DB().QueryRowContext(ctx, `SELECT data FROM runs WHERE id = ?`, r.ID).Scan(&data); err != nil {
		t.Fatal(err)
	}
	setData := func(d string) {
		t.Helper()
		if _, err := f.st.DB().ExecContext(ctx, `UPDATE runs SET data = ? WHERE id = ?`, d, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(what string, r *Run, recheck bool) {
		t.Helper()
		c := fresh()
		if _, _, err := c.worldJob(stored(c, r)); err == nil || !strings.Contains(err.Error(), "changed outside Meridian") || !strings.Contains(err.Error(), r.ID) {
			t.Errorf("%s: the run's world: %v, want a refusal naming the run and changed outside Meridian", what, err)
		}
		// The law check does not judge the rewritten job lawful: the run
		// leaves its place, and its next step fails it with the reason.
		if recheck {
			if out, err := c.recheckRun(ctx, stored(c, r), f.lawNow()); out == "lawful" || (err != nil && !strings.Contains(err.Error(), "changed outside Meridian")) {
				t.Errorf("%s: law check: %q %v, want the run not judged lawful", what, out, err)
			}
		}
		for range 3 {
			if _, err := c.Step(ctx, r.ID); err != nil {
				t.Logf("%s: step: %v", what, err)
			}
		}
		got := stored(c, r)
		if got.State != Failed || !strings.Contains(got.Reason, "changed outside Meridian") || got.Handle != "" {
			t.Errorf("%s: the run is %s (%s, handle %q), want failed before an attempt started, naming changed outside Meridian", what, got.State, got.Reason, got.Handle)
		}
	}

	// (a) The job's workload rewritten in the stored documents.
	var d map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		t.Fatal(err)
	}
	var docs []Document
	if err := json.Unmarshal(d["documents"], &docs); err != nil || len(docs) != 1 {
		t.Fatalf("stored documents %s: %v", d["documents"], err)
	}
	docs[0].Content = strings.Replace(docs[0].Content, "TEST_TRAINER", "EVIL", 1)
	if !strings.Contains(docs[0].Content, "EVIL") {
		t.Fatalf("job document %s does not hold the workload as expected", docs[0].Content)
	}
	d["documents"], _ = json.Marshal(docs)
	rewritten, _ := json.Marshal(d)
	setData(string(rewritten))
	refused("documents rewritten", r, true)

	// (b) Another run's row moved to another tenant: its documents are
	// judged with that tenant's registered resources, and run as its.
	r2, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DB().ExecContext(ctx, `UPDATE runs SET tenant = 't2' WHERE id = ?`, r2.ID); err != nil {
		t.Fatal(err)
	}
	refused("tenant rewritten", r2, false)
}

// TestRunWitnessRecordsOfOlderRuns: a run whose submission's plan record
// names no digest (recorded before records named one) is taken as stored;
// a run with no sealed plan record of its submission (a row added by
// hand, or the record forged without the key) is refused.
func TestRunWitnessRecordsOfOlderRuns(t *testing.T) {
	ctx := context.Background()
	st, _ := testStore(t)
	w := &runWitness{chain: audit.NewChain(testAuditKey)}
	other := audit.NewChain([]byte("another key 0123"))
	create := func(id, reason string, forged bool) *Run {
		t.Helper()
		rec, err := audit.NewRecord(audit.KindPlan, id, map[string]any{"reason": reason})
		if err != nil {
			t.Fatal(err)
		}
		r := &Run{ID: id, Tenant: "t1", Job: "tiny", State: Planned, Data: Data{Documents: []Document{jobDoc(1, 1)}}}
		row, err := toRow(r)
		if err != nil {
			t.Fatal(err)
		}
		ch := store.Change{Audit: []audit.Record{rec}}
		if forged {
			ch.Audit = nil
		}
		if _, _, err := st.CreateRun(ctx, row, "", ch); err != nil {
			t.Fatal(err)
		}
		return r
	}
	old := create("old", "submitted", false)
	if err := w.confirm(ctx, st, old, old.Documents); err != nil {
		t.Errorf("a run recorded before the digest: %v, want it taken as stored", err)
	}
	hand := create("hand", "submitted", true)
	if err := w.confirm(ctx, st, hand, hand.Documents); err == nil || !strings.Contains(err.Error(), "no sealed plan record") {
		t.Errorf("a run with no plan record: %v, want a refusal", err)
	}
	moved := create("moved", "released from hold", false)
	if err := w.confirm(ctx, st, moved, moved.Documents); err == nil || !strings.Contains(err.Error(), "not its submission's") {
		t.Errorf("a run whose submission record is gone: %v, want a refusal", err)
	}
	// Under another key, the records are not sealed: refused.
	wo := &runWitness{chain: other}
	if err := wo.confirm(ctx, st, old, old.Documents); err == nil || !strings.Contains(err.Error(), "no sealed plan record") {
		t.Errorf("a record not sealed under the key: %v, want a refusal", err)
	}
}

// TestRunWitnessKeepsChangedBounded: what the witness keeps of runs found
// changed outside Meridian, for the runs list to say without reading the
// log, is kept past a run's end (prune) but for at most maxChangedKept
// runs; a later confirmation that finds the run as written forgets it,
// and a failed read of the log changes nothing.
func TestRunWitnessKeepsChangedBounded(t *testing.T) {
	ctx := context.Background()
	w := &runWitness{chain: audit.NewChain(testAuditKey)}
	r := &Run{ID: "r0", Tenant: "t1", Job: "tiny", State: Failed}
	changed := runChanged(r, "rewritten")
	w.note(r.ID, false, changed)
	w.prune(map[string]bool{})
	if got := w.shown(ctx, nil, r, false); !strings.Contains(got, "rewritten") {
		t.Fatalf("a run found changed, after it ended: %q, want the reason", got)
	}
	w.note(r.ID, false, &storeReadError{errors.New("down")})
	if got := w.shown(ctx, nil, r, false); !strings.Contains(got, "rewritten") {
		t.Errorf("after a failed read: %q, want the reason kept", got)
	}
	w.note(r.ID, false, nil)
	if got := w.shown(ctx, nil, r, false); got != "" {
		t.Errorf("after it was confirmed as written: %q, want nothing", got)
	}
	for i := range maxChangedKept + 100 {
		w.note(fmt.Sprintf("r%d", i), i%2 == 0, changed)
	}
	if n := len(w.changed); n > maxChangedKept {
		t.Errorf("keeps %d runs found changed, want at most %d", n, maxChangedKept)
	}
}
