package run

import (
	"slices"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/transfer"
)

// TestRunStagingCountsAffiliatesNow: a run's staging whose world was read
// before the tenant declared an affiliate of its organisation was judged
// with the world's group alone: the affiliate's exports were in no total
// of it, and its ledger entry named no group. The staging now counts the
// affiliates of the world and of the registration now, and its entry
// records that group (so a later drop of the affiliate does not shrink
// the window's totals).
func TestRunStagingCountsAffiliatesNow(t *testing.T) {
	law := transfer.BasisLaw{}
	e, r := stagedAfterEdit(t, law, testData{name: "corpus-g", origin: "SG", class: catalog.ClassPersonal, subjects: 3000, stored: true}, func(doc string) string {
		return doc + "\n---\napiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec: {headquarters: SG, affiliates: [sister]}\n"
	}, func() {})
	if r.State != Succeeded {
		t.Fatalf("ended %s: %s", r.State, r.Reason)
	}
	tr := e.transfers(r.ID)
	if len(tr) != 1 {
		t.Fatalf("ledger %+v, want one staging", tr)
	}
	if !slices.Equal(tr[0].Group, []string{"lab", "sister"}) {
		t.Errorf("the ledger recorded the group %q, want lab's with the affiliate declared since: [lab sister]", tr[0].Group)
	}
}
