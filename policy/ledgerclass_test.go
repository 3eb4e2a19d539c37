package policy

import (
	"strings"
	"testing"
)

// TestLedgerCountsEachClassOfADataset: a dataset the ledger records
// under one class and now registered under another is two sets of
// people to the thresholds, not one. The totals kept the larger record
// of each dataset name whatever its class: 600,000 personal exported
// earlier in the year hid 20,000 sensitive under the same name now, so
// the sensitive total read 0 and the 10,000-person assessment threshold
// never fired.
func TestLedgerCountsEachClassOfADataset(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	earlier := ledgerRows{{Org: "cn-lab", Dataset: "cn-users-600k-a", Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-02-01"}}
	now := *w.datasets["cn-users-600k-a"]
	now.Spec.Classification = "sensitive-personal"
	now.Spec.Subjects = 20000
	for _, planned := range []bool{false, true} {
		var q Query
		if planned {
			q = w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
			q.Datasets = append(q.Datasets, &now)
		} else {
			q = w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
		}
		q.Exports = earlier
		d := e.EvaluateTransfer(q, &now, "SG")
		f := findRule(d.Denials, "cn-cbdf-2024-assessment")
		if f == nil {
			t.Fatalf("planned=%v: 20,000 sensitive must need an assessment: allowed=%v denials=%+v obligations=%+v", planned, d.Allowed, d.Denials, d.Obligations)
		}
	}
	// The same dataset under the same class is still counted once.
	same := *w.datasets["cn-users-600k-a"]
	q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
	q.Exports = earlier
	if d := e.EvaluateTransfer(q, &same, "SG"); findRule(d.Denials, "cn-cbdf-2024-assessment") != nil {
		t.Fatalf("the same 600,000 again must not reach 1,000,000: %+v", d.Denials)
	}
}

// TestLedgerRecordOfUnknownClassFailsClosed: a ledger record whose class
// is outside the vocabulary (a word an older version accepted, "Personal"
// or "pii") matched no class a rule counts, so its people were nobody's
// and 600,000 of them no longer brought a second 600,000 to the
// 1,000,000-person assessment. Whose data it was cannot be determined:
// the total fails, and the rules that read it deny.
func TestLedgerRecordOfUnknownClassFailsClosed(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	for _, class := range []string{"Personal", "pii", ""} {
		q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
		q.Exports = ledgerRows{{Org: "cn-lab", Dataset: "cn-users-600k-a", Origin: "CN", Class: class, Subjects: 600000, Date: "2025-02-01"}}
		d := e.EvaluateTransfer(q, w.datasets["cn-users-600k-b"], "SG")
		if d.Allowed {
			t.Fatalf("class %q: a record of unknown class must not count as nobody: allowed, obligations %+v", class, d.Obligations)
		}
		f := findRule(d.Denials, "cn-cbdf-2024-assessment")
		if f == nil || f.Code != CodeUndetermined || !strings.Contains(f.Message, "class") {
			t.Fatalf("class %q: want the assessment undetermined, naming the class: %+v", class, d.Denials)
		}
	}
}
