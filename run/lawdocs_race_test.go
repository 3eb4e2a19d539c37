package run

import (
	"context"
	"encoding/json"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// TestDocumentUpdateRacingLeaderChange: a leader that takes over reads the
// log for owners' updates the last leader may not have judged. A law check
// recorded after an update, but begun before it (its record names the
// entries it had read), did not judge it: the new leader checks again. A
// check that had read the update did judge it, and one recorded by an
// older version, which names nothing, is taken to have judged nothing.
func TestDocumentUpdateRacingLeaderChange(t *testing.T) {
	c, _ := steppedLocal(t)
	ctx := context.Background()
	org := func(attrs string) []Document {
		return []Document{{Name: "org.yaml", Content: "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec: {headquarters: SG, attributes: [" + attrs + "]}\n"}}
	}
	if _, err := c.Apply(ctx, "t1", org("government"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, "t1", org("government, regulated-sector"), true); err != nil {
		t.Fatal(err)
	}
	es, err := c.cfg.Store.AuditSelect(ctx, store.AuditQuery{Kinds: []string{KindRegister}, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	var update int64
	for _, e := range es {
		var p struct{ Action string }
		if json.Unmarshal(e.Payload, &p) == nil && p.Action == "updated" {
			update = e.Seq
		}
	}
	if update == 0 {
		t.Fatalf("no update among %d register entries", len(es))
	}
	check := func(payload map[string]any) {
		t.Helper()
		rec, err := audit.NewRecord(KindLawCheck, "", payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.cfg.Store.AppendAudit(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	due := func() string {
		t.Helper()
		leader := New(c.cfg) // a replica taking over, reading the log afresh
		if err := leader.docUpdates(ctx); err != nil {
			t.Fatal(err)
		}
		return leader.docDue
	}

	check(map[string]any{"why": "recorded by an older version"})
	if due() == "" {
		t.Error("a check that names no entries it had read was taken to have judged the update")
	}
	check(map[string]any{"why": "begun before the update", "documentsThrough": update - 1})
	if due() == "" {
		t.Error("a check begun before the update, recorded after it, was taken to have judged it")
	}
	check(map[string]any{"why": "begun after the update", "documentsThrough": update})
	if d := due(); d != "" {
		t.Errorf("a check that had read the update left it due: %s", d)
	}
}
