package policy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// allRows is an Exports that answers with every record of the ledger,
// whoever's it is and whatever organisations were asked for.
type allRows []ledgerRow

func (l allRows) Exported(_ context.Context, _ string, _ []string, origin string, since, until catalog.Date) ([]Export, error) {
	var out []Export
	for _, r := range l {
		out = append(out, Export{Org: r.Org, Dataset: r.Dataset, Class: r.Class, Subjects: r.Subjects})
	}
	return out, nil
}

// TestLedgerRecordOfAnOrgNotAskedFor: the totals counted, and the
// finding listed, every record the transfer ledger answered with, so a
// ledger that answered with another organisation's exports (another
// tenant's, whose dataset names and head counts are its own) put them in
// the tenant's totals and its findings ("their-patients of other-lab:
// 600000 personal"). A record of an organisation the engine did not ask
// for now fails the total, closed, without naming it.
func TestLedgerRecordOfAnOrgNotAskedFor(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
	q.Exports = allRows{{Org: "other-lab", Dataset: "their-patients", Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-03-01"}}
	d := e.EvaluateTransfer(q, w.datasets["cn-users-600k-b"], "SG")
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || strings.Contains(string(out), "other-lab") || strings.Contains(string(out), "their-patients") {
		t.Errorf("want denied, naming neither the organisation nor its dataset: %s", out)
	}
	f := findRule(d.Denials, "cn-cbdf-2024-assessment")
	if f == nil || f.Code != CodeUndetermined || !strings.Contains(f.Message, "not asked for") {
		t.Errorf("want the assessment rule to fail closed on the record: %s", out)
	}
}
