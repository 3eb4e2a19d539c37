package run

import (
	"strings"
	"sync"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/transfer"
)

// classLaw is BasisLaw that records, once on, the classes it was asked
// about for one dataset: of the dataset judged and of the query's copy of
// it; and that, once on, denies every transfer of it from origin deny.
type classLaw struct {
	name, deny string
	mu         sync.Mutex
	on         bool
	seen       []string
}

func (l *classLaw) EvaluateTransfer(q policy.Query, ds *catalog.Dataset, to string) policy.Decision {
	l.mu.Lock()
	on := l.on
	if on && ds.Metadata.Name == l.name {
		for _, d := range q.Datasets {
			if d.Metadata.Name == l.name {
				l.seen = append(l.seen, ds.Spec.Classification+"/"+d.Spec.Classification)
			}
		}
	}
	l.mu.Unlock()
	if on && ds.Metadata.Name == l.name && ds.Spec.Origin == l.deny {
		return policy.Decision{Denials: []policy.Finding{{Rule: "no-" + l.deny, Message: "nothing leaves " + l.deny, Source: "test"}}}
	}
	return transfer.BasisLaw{}.EvaluateTransfer(q, ds, to)
}

func (l *classLaw) turnOn() {
	l.mu.Lock()
	l.on = true
	l.mu.Unlock()
}

// TestRunStagingCountsTheStricterClass: a run's staging whose world was
// read before the tenant updated its dataset from personal to public was
// judged and counted as registered now: the law was asked about public
// data and the ledger counted no one's. The staging now takes the more
// sensitive of the two classes: the law is asked about personal data
// and the ledger records it as personal, with its people.
func TestRunStagingCountsTheStricterClass(t *testing.T) {
	law := &classLaw{name: "corpus-c"}
	e, r := stagedAfterEdit(t, law, testData{name: "corpus-c", origin: "SG", class: catalog.ClassPersonal, subjects: 3000, stored: true}, func(doc string) string {
		doc = strings.Replace(doc, "classification: personal", "classification: public", 1)
		return strings.Replace(doc, "\n  subjects: 3000", "", 1)
	}, law.turnOn)
	if r.State != Succeeded {
		t.Fatalf("ended %s: %s", r.State, r.Reason)
	}
	law.mu.Lock()
	seen := law.seen
	law.mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the law was not asked about the staging")
	}
	for _, s := range seen {
		if s != "personal/personal" {
			t.Errorf("the law was asked about %s data (judged/in the query), want personal for both", s)
		}
	}
	tr := e.transfers(r.ID)
	if len(tr) != 1 {
		t.Fatalf("ledger %+v, want one staging", tr)
	}
	if tr[0].Classification != catalog.ClassPersonal || tr[0].Subjects != 3000 {
		t.Errorf("the ledger recorded %s data of %d subjects, want personal of 3000", tr[0].Classification, tr[0].Subjects)
	}
	if !hasEvent(e.events(r.ID), "staging: ", "the staging counts it as personal") {
		t.Errorf("no event says which class the staging counted: %v", e.events(r.ID))
	}
}

// TestRunStagingJudgedFromBothOrigins: a dataset whose origin the tenant
// moved while the run's staging waited was judged from the origin
// registered now alone: data the law lets no one move from CN left as
// data from SG. The law must now allow the staging from both origins: it
// is refused, naming CN, and nothing is sent.
func TestRunStagingJudgedFromBothOrigins(t *testing.T) {
	law := &classLaw{name: "corpus-o", deny: "CN"}
	e, r := stagedAfterEdit(t, law, testData{name: "corpus-o", origin: "CN", class: catalog.ClassPersonal, subjects: 3000, bases: []string{"cn-standard-contract"}, stored: true}, func(doc string) string {
		return strings.Replace(doc, "origin: CN", "origin: SG", 1)
	}, law.turnOn)
	if r.State != Failed || !strings.Contains(r.Reason, "rule no-CN") || !strings.Contains(r.Reason, "from CN") {
		t.Fatalf("ended %s: %s; want refused from CN by rule no-CN", r.State, r.Reason)
	}
	if tr := e.transfers(r.ID); len(tr) != 0 {
		t.Errorf("ledger %+v, want nothing sent", tr)
	}
}
