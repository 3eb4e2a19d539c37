package run

import (
	"context"
	"slices"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// labWithAffiliates is lab's Organization declaring affiliates.
func labWithAffiliates(affiliates string) Document {
	return Document{Name: "lab.yaml", Content: "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec: {headquarters: SG, affiliates: [" + affiliates + "]}\n"}
}

// TestAffiliationHistoryFromSealedRecords: lab declared sister its
// affiliate and dropped it (`apply --update`); the row keeps only the
// drop, so a staging's group read from the registrations alone no longer
// joined them for the rest of the window, though the link was in force in
// it. The sealed register records now name an Organization's affiliates,
// and a server started afresh reads from them the link in force on a
// window's days, and none in a window after the drop.
func TestAffiliationHistoryFromSealedRecords(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.witnessed(f.st)
	if _, err := c.Apply(ctx, "t1", []Document{labWithAffiliates("sister")}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, "t1", []Document{labOrg("SG")}, true); err != nil {
		t.Fatal(err)
	}
	today := catalog.Date{Time: time.Now().UTC().Truncate(24 * time.Hour)}
	day := func(n int) catalog.Date { return catalog.Date{Time: today.Time.AddDate(0, 0, n)} }
	h := f.reopened(t).affiliations()
	got, err := h.Affiliated(ctx, "t1", day(-30), day(30))
	if err != nil || !slices.Equal(got, [][2]string{{"lab", "sister"}}) {
		t.Fatalf("a window with the declaration in it: %v, %v; want [lab sister]", got, err)
	}
	if got, err := h.Affiliated(ctx, "t2", day(-30), day(30)); err != nil || len(got) != 0 {
		t.Errorf("another tenant's window: %v, %v; want none", got, err)
	}
	if got, err := h.Affiliated(ctx, "t1", day(5), day(30)); err != nil || len(got) != 0 {
		t.Errorf("a window after the drop: %v, %v; want none", got, err)
	}
}

// TestAffiliationHistoryOfTheDefaultTenant: the default tenant's register
// records are read under the name its queries carry
// (catalog.DefaultTenant), whichever name its records were written with.
func TestAffiliationHistoryOfTheDefaultTenant(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	if _, err := f.witnessed(f.st).Apply(ctx, "", []Document{labWithAffiliates("sister")}, false); err != nil {
		t.Fatal(err)
	}
	today := catalog.Date{Time: time.Now().UTC().Truncate(24 * time.Hour)}
	for _, tenant := range []string{"", catalog.DefaultTenant} {
		got, err := f.reopened(t).affiliations().Affiliated(ctx, tenant, today, today)
		if err != nil || !slices.Equal(got, [][2]string{{"lab", "sister"}}) {
			t.Errorf("tenant %q: %v, %v; want [lab sister]", tenant, got, err)
		}
	}
}
