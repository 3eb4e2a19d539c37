package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/screen"
	"meridian.dev/meridian/store"
)

// TestScreenedLawKeepsTheEnginesQueryDates: the law the server plans and
// checks live runs by (lawNowOf: the rules in force, screened) must say
// which of a query's own days can change its answers as the engine says,
// not fall back to every licence's expiry: an organisation listing many
// licences that lift none of the rules in force cost one law session
// for each of their days in every horizon and every live run's check.
func TestScreenedLawKeepsTheEnginesQueryDates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	scr := &screen.Screener{Store: &screen.Store{Dir: filepath.Join(dir, "screening")}}
	org := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}}
	org.Spec.Headquarters = "SG"
	asOf := catalog.MustDate("2026-06-01")
	for i := range 64 {
		org.Spec.Licenses = append(org.Spec.Licenses, catalog.License{Rule: fmt.Sprintf("no-such-rule-%d", i), Expires: catalog.Date{Time: asOf.AddDate(0, 0, 2+i)}})
	}
	q := policy.Query{AsOf: asOf, Org: org}

	law := lawNowOf(rs, scr)().Law
	ql, ok := law.(planner.QueryDatedLaw)
	if !ok {
		t.Fatalf("the server's law (%T) does not say which of a query's days matter", law)
	}
	got := ql.QueryDates(q)
	want := rs.Current().Engine.QueryDates(scr.Query(q))
	if len(got) != len(want) {
		t.Fatalf("the server's law lists %d of the query's days, the engine %d", len(got), len(want))
	}
	if all := policy.QueryDates(q); len(got) >= len(all) {
		t.Errorf("the server's law lists %d days for %d licences lifting no rule: every licence's expiry (%d), not only those that matter", len(got), len(org.Spec.Licenses), len(all))
	}
	if _, ok := law.(planner.SnapshotLaw).Snapshot().(planner.QueryDatedLaw); !ok {
		t.Error("a snapshot of the server's law does not say which of a query's days matter")
	}
}
