package run

import (
	"context"
	"errors"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// TestRunWhoseRecordDoesNotReadFailsOnlyItself: one run whose stored
// record does not decode (written to the database by other means) failed
// its tenant's whole list of runs, every tenant's queue and every
// what-if. It is listed by its
// columns, saying its record does not read, and a what-if names it as
// undetermined, and the queue's order (every tenant's view of it) leaves it
// out; the other runs are listed, judged and ordered as before.
func TestRunWhoseRecordDoesNotReadFailsOnlyItself(t *testing.T) {
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.controller(func(cfg *Config) {
		cfg.Backends = func(*catalog.Site, string) (backend.Backend, error) { return nil, errors.New("test: no site") }
	})
	ctx := context.Background()
	var ids []string
	for range 3 {
		r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 1000)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	for _, id := range ids {
		r, err := c.Get(ctx, "t1", id)
		if err != nil {
			t.Fatal(err)
		}
		if held, err := c.hold(ctx, r, "test: waits", policy.CodeNotNow, "", 0); err != nil || !held {
			t.Fatalf("hold %s: %v %v", id, held, err)
		}
	}
	bad := ids[1]
	for _, data := range []string{`[1, 2]`, `{"rank": "first"}`} {
		if _, err := f.st.DB().ExecContext(ctx, `UPDATE runs SET data = ? WHERE id = ?`, data, bad); err != nil {
			t.Fatal(err)
		}
		for name, list := range map[string]func() ([]*Run, error){
			"List":     func() ([]*Run, error) { return c.List(ctx, "t1") },
			"ListPage": func() ([]*Run, error) { return c.ListPage(ctx, "t1", "", 10) },
			"ListLive": func() ([]*Run, error) { return c.ListLive(ctx, "t1") },
		} {
			runs, err := list()
			if err != nil || len(runs) != 3 {
				t.Fatalf("data %s: %s: %d runs, %v; want all 3", data, name, len(runs), err)
			}
			for i, r := range runs {
				if r.ID != ids[i] {
					t.Errorf("data %s: %s: run %d is %s, want %s", data, name, i, r.ID, ids[i])
				}
				if unread := strings.Contains(r.Reason, "does not read"); unread != (r.ID == bad) {
					t.Errorf("data %s: %s: run %s reason %q", data, name, r.ID, r.Reason)
				}
			}
		}
		c.orderWrites.wrote("") // the queue's order is computed again
		held, _, _, err := c.heldOrder(ctx, "")
		if err != nil || len(held) != 2 {
			t.Fatalf("data %s: the queue's order: %d held runs, %v; want the 2 that read", data, len(held), err)
		}
		rep, err := c.WhatIf(ctx, c.lawNow(), c.cfg.Plan, c.today())
		if err != nil {
			t.Fatalf("data %s: what-if: %v", data, err)
		}
		if len(rep.Runs) != 3 {
			t.Fatalf("data %s: what-if reports %d runs, want 3", data, len(rep.Runs))
		}
		for _, wr := range rep.Runs {
			if wr.Run == bad && wr.Outcome != "undetermined" {
				t.Errorf("data %s: what-if says %q of the run whose record does not read", data, wr.Outcome)
			}
		}
	}
}
