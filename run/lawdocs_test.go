package run

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// regulatedPack denies sites in country to organisations that declare
// themselves a regulated sector.
func regulatedPack(id, country string) policy.File {
	return policy.File{Name: id + ".yaml", Data: []byte(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: ` + id + `}
rules:
  - id: ` + id + `
    title: Regulated organisations keep out of ` + country + `
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: ["test pack of run/lawdocs_test.go"]
    message: "{org.name} is a regulated organisation and site {site.name} is in {site.country}"
    condition: "site.country == '` + country + `' && 'regulated-sector' in org.attributes"
`)}
}

// TestDocumentUpdateMovesRun: an owner's audited update of a registered
// Organization that makes a live run's placement unlawful moves the run,
// though no rule and no rule date changed; the update is made through
// another replica's controller, so the leader learns of it from the store.
func TestDocumentUpdateMovesRun(t *testing.T) {
	e, rs := lawEnv(t, nil)
	ctx := context.Background()
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{regulatedPack("test-regulated-not-sg", "SG")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.c.Nudge()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(1500, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" {
		t.Fatalf("placed at %s, want alpha (SG)", r.Site)
	}
	r = e.waitFor("a checkpoint", 30*time.Second, func(r *Run) bool { return r.Checkpoint != nil && r.Checkpoint.Step >= 20 }, r.ID)
	other := New(e.c.cfg) // another replica serving the tenant's update
	org := Document{Name: "org.yaml", Content: "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec: {headquarters: SG, attributes: [regulated-sector]}\n"}
	if _, err := other.Apply(ctx, "t1", []Document{org}, true); err != nil {
		t.Fatal(err)
	}
	e.c.Nudge()
	r = e.waitFor("moved off alpha", 30*time.Second, func(r *Run) bool { return r.Site == "bravo" || r.State.Final() }, r.ID)
	if r.Site != "bravo" {
		t.Fatalf("ended %s at %s: %s", r.State, r.Site, r.Reason)
	}
	var move *store.Event
	for _, ev := range lawEvents(t, e, r.ID) {
		if ev.Kind == "law-move" {
			move = &ev
		}
	}
	if move == nil {
		t.Fatal("no law-move event")
	}
	var data struct{ Rule string }
	json.Unmarshal([]byte(move.Data), &data)
	if data.Rule != "test-regulated-not-sg" {
		t.Errorf("law-move names rule %q: %s", data.Rule, move.Reason)
	}
	// The check the update caused names the log entries it had read, the
	// update among them, for a leader that takes over later.
	es, err := e.st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{KindRegister, KindLawCheck}, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	var update int64
	checked := false
	for _, a := range es {
		var p struct {
			Action, Why string
			Through     *int64 `json:"documentsThrough"`
		}
		json.Unmarshal(a.Payload, &p)
		switch {
		case a.Kind == KindRegister && p.Action == "updated":
			update = a.Seq
		case a.Kind == KindLawCheck && update > 0 && strings.Contains(p.Why, "was updated"):
			if p.Through == nil || *p.Through < update {
				t.Errorf("the check the update caused names entries through %v, want %d or later", p.Through, update)
			}
			checked = true
		}
	}
	if !checked {
		t.Error("no recorded law check names the update")
	}
}
