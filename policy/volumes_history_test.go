package policy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"meridian.dev/meridian/catalog"
)

// groupRow is a ledger record with the group its export was judged with
// (Export.Group).
type groupRow struct {
	ledgerRow
	Group string
}

// groupRows is an in-memory Exports that answers as the transfer
// ledger does: the records of orgs, and of any organisation whose
// recorded group names one of them.
type groupRows []groupRow

func (l groupRows) Exported(_ context.Context, _ string, orgs []string, origin string, since, until catalog.Date) ([]Export, error) {
	var out []Export
	for _, r := range l {
		d := catalog.MustDate(r.Date)
		if r.Origin != origin || d.Before(since) || d.After(until) {
			continue
		}
		if slices.Contains(orgs, r.Org) || GroupNames(r.Group, orgs) {
			out = append(out, Export{Org: r.Org, Dataset: r.Dataset, Class: r.Class, Subjects: r.Subjects, Group: r.Group})
		}
	}
	return out, nil
}

// TestDroppedAffiliateStillCountsInItsWindow: an organisation (other-lab)
// exported 300,000 people, declared cn-lab its affiliate and exported
// 300,000 more as cn-lab's group, then dropped the affiliate (`apply
// --update`): the registrations no longer link the two. cn-lab's 600,000
// next were counted alone, under the 1,000,000 threshold. The group of a
// window is every affiliation recorded in it: all of other-lab's exports
// of the year count (1,200,000), so the assessment is required; the next
// year, with no record of the link, they do not.
func TestDroppedAffiliateStillCountsInItsWindow(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	ledger := groupRows{
		{ledgerRow: ledgerRow{Org: "other-lab", Dataset: "before-it-declared", Origin: "CN", Class: "personal", Subjects: 300000, Date: "2025-02-01"}},
		{ledgerRow: ledgerRow{Org: "other-lab", Dataset: "as-the-group", Origin: "CN", Class: "personal", Subjects: 300000, Date: "2025-03-01"}, Group: "cn-lab,other-lab"},
	}
	q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
	if slices.Contains(OrgGroup(q.Org, q.Organizations), "other-lab") {
		t.Fatal("the registrations must not link other-lab to cn-lab: the test is of the recorded link")
	}
	q.Exports = ledger
	d := e.EvaluateTransfer(q, w.datasets["cn-users-600k-b"], "SG")
	f := findRule(d.Denials, "cn-cbdf-2024-assessment")
	if f == nil {
		t.Fatalf("the group's 1,200,000 of the year must need an assessment: %+v", d)
	}
	if !strings.Contains(f.Message, "1200000 personal") || !strings.Contains(f.Message, "before-it-declared of other-lab") {
		t.Errorf("the finding must count every export of the group's window: %q", f.Message)
	}
	next := w.query(t, "2026-07-20", "cn-lab", jobSpec{}, 0)
	next.Exports = ledger
	if d := e.EvaluateTransfer(next, w.datasets["cn-users-600k-b"], "SG"); findRule(d.Denials, "cn-cbdf-2024-assessment") != nil {
		t.Errorf("a link recorded last year is no part of this year's group: %+v", d.Denials)
	}
}

// failingSecondRead answers its first read and fails every later one.
type failingSecondRead struct {
	groupRows
	mu    sync.Mutex
	reads int
}

func (l *failingSecondRead) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]Export, error) {
	l.mu.Lock()
	l.reads++
	n := l.reads
	l.mu.Unlock()
	if n > 1 {
		return nil, errors.New("audit store unreachable")
	}
	return l.groupRows.Exported(ctx, tenant, orgs, origin, since, until)
}

// TestRecordedGroupReadFailsClosed: a recorded affiliation found, the
// read of the organisation it adds fails: the total is not counted from
// the first read's part of the group, it fails closed.
func TestRecordedGroupReadFailsClosed(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
	q.Exports = &failingSecondRead{groupRows: groupRows{
		{ledgerRow: ledgerRow{Org: "other-lab", Dataset: "as-the-group", Origin: "CN", Class: "personal", Subjects: 1000, Date: "2025-03-01"}, Group: "cn-lab,other-lab"},
	}}
	d := e.EvaluateTransfer(q, w.datasets["cn-users-600k-b"], "SG")
	f := findRule(d.Denials, "cn-cbdf-2024-assessment")
	if d.Allowed || f == nil || f.Code != CodeUndetermined || !strings.Contains(f.Message, "unreachable") {
		t.Errorf("want the assessment rule to fail closed on the failed read: %+v", d)
	}
}

// TestWindowGroupRefusesUnaskedRecords: a record of an organisation not
// asked for that names none of them in its group is an error, as before.
func TestWindowGroupRefusesUnaskedRecords(t *testing.T) {
	stray := allRows{{Org: "other-lab", Dataset: "x", Origin: "CN", Class: "personal", Subjects: 1, Date: "2025-03-01"}}
	day := catalog.MustDate("2025-07-20")
	if _, _, err := WindowGroup(context.Background(), stray, "", []string{"cn-lab"}, "CN", day, day); err == nil || !strings.Contains(err.Error(), "not asked for") {
		t.Errorf("want a record not asked for refused, got %v", err)
	}
}
