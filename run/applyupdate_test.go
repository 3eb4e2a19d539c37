package run

import (
	"context"
	"strings"
	"testing"

	"meridian.dev/meridian/store"
)

// TestApplyUpdateOverDeletedRowIsAnUpdate: a registered Organization's
// row deleted outside Meridian, while a sealed register record still
// names it, and the tenant's `apply --update` of other contents
// (headquarters moved from SG to US, which changes what the law allows).
// The register record said "registered", so the other replicas' law
// checks, which react to "updated" (docUpdates), neither judged the live
// runs by the new facts nor dropped their cached worlds. It is now
// "updated", as over a row; the same contents mending the row change no
// fact and stay "registered".
func TestApplyUpdateOverDeletedRowIsAnUpdate(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	if _, err := f.witnessed(f.st).Apply(ctx, "t1", []Document{labOrg("SG")}, false); err != nil {
		t.Fatal(err)
	}
	other := f.reopened(t) // another replica, reading the register records
	due := func() string {
		t.Helper()
		if err := other.docUpdates(ctx); err != nil {
			t.Fatal(err)
		}
		d := other.docDue
		other.docDue = ""
		return d
	}
	if d := due(); d != "" {
		t.Fatalf("after the first registration: due %q, want none", d)
	}
	del := func() {
		t.Helper()
		if _, err := f.st.DB().ExecContext(ctx, `DELETE FROM resources WHERE tenant = 't1' AND kind = 'Organization' AND name = 'lab'`); err != nil {
			t.Fatal(err)
		}
	}
	del()
	if _, err := f.reopened(t).Apply(ctx, "t1", []Document{labOrg("SG")}, false); err != nil {
		t.Fatalf("the recorded contents mending the row: %v", err)
	}
	if d := due(); d != "" {
		t.Fatalf("after the recorded contents mended the row: due %q, want none", d)
	}
	del()
	if _, err := f.reopened(t).Apply(ctx, "t1", []Document{labOrg("US")}, true); err != nil {
		t.Fatalf("apply --update over the deleted row: %v", err)
	}
	if d := due(); !strings.Contains(d, "Organization lab of tenant t1 was updated") {
		t.Fatalf("after apply --update over the deleted row: due %q, want the update of Organization lab", d)
	}
}
