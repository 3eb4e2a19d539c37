package policy

import (
	"fmt"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestScreeningNoMatchKeepsDeclaredStatus: screening compares names with
// a list. Finding no match there does not clear a restricted-party status
// the organisation declares: the list may lag, and an affiliate of a
// listed party (>= 50 % owned) is not on it by name at all. A declared
// status stands unless screening finds a stricter one.
func TestScreeningNoMatchKeepsDeclaredStatus(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, c := range []struct{ org, asOf, rule string }{
		{"listed-lab", "2025-07-20", "us-ear-entity-list"},
		{"affiliate-lab", "2026-12-01", "us-ear-affiliates-2025"},
	} {
		q := w.query(t, c.asOf, c.org, jobSpec{}, 1e21)
		q.Screening = &Screening{Status: catalog.RestrictedNone, Source: "screened against a list: no match"}
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(site, pool, acc)
		if findRule(d.Denials, c.rule) == nil {
			t.Errorf("%s declares itself restricted, screening found no name match: %s does not deny (allowed %v)", c.org, c.rule, d.Allowed)
		}
	}
}

// TestUnknownDeclaredStatusFailsClosed: the restricted-party status an
// organisation declares is what the rules read when screening finds no
// stricter one. A status outside the vocabulary ("Entity-List", from a
// caller that did not load the organisation through the catalog, which
// refuses it) matched no rule's 'entity-list', and the listed party was
// allowed US chips. It now denies, naming the status, with or without a
// screening that found no match.
func TestUnknownDeclaredStatusFailsClosed(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, status := range []string{"Entity-List", "entity_list", "listed", "undetermined"} {
		for _, sc := range []*Screening{nil, {Status: catalog.RestrictedNone, Source: "screened against a list: no match"}} {
			q := w.query(t, "2025-07-20", "listed-lab", jobSpec{}, 1e21)
			o := *q.Org
			o.Spec.RestrictedParty = status
			q.Org, q.Screening = &o, sc
			s, err := e.Session(q)
			if err != nil {
				t.Fatal(err)
			}
			if d := s.Evaluate(site, pool, acc); d.Allowed || !hasDenial(d, fmt.Sprintf("restricted-party status %q", status)) {
				t.Errorf("declared status %q, screening %v: %+v, want a denial naming the status", status, sc, d)
			}
			if d := e.EvaluateTransfer(q, w.datasets["eu-customers"], "JP"); d.Allowed || !hasDenial(d, fmt.Sprintf("restricted-party status %q", status)) {
				t.Errorf("declared status %q, screening %v: a transfer %+v, want a denial naming the status", status, sc, d)
			}
		}
	}
}

// TestUnknownVocabularyWordsFailClosed: the rules compare an
// organisation's attributes, a job's method and its base model's licence
// with the vocabulary's words. A word outside it, from a caller that did
// not load the document through the catalog (which refuses it), matched
// none: a critical-information-infrastructure operator writing "CN-CIIO"
// exported Chinese personal data without the CAC assessment the CIIO rule
// asks. Each now denies every candidate and transfer, naming the fact.
func TestUnknownVocabularyWordsFailClosed(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, c := range []struct {
		name, want string
		edit       func(q *Query)
	}{
		{"attribute", `org.attributes holds "CN-CIIO"`, func(q *Query) {
			o := *q.Org
			o.Spec.Attributes = []string{"CN-CIIO"}
			q.Org = &o
		}},
		{"method", `job.method holds "LoRA"`, func(q *Query) { q.Job.Spec.Method = "LoRA" }},
		{"base licence", `job.baseLicense holds "Apache-2.0"`, func(q *Query) {
			q.Job.Spec.Model.Base = &catalog.BaseModel{Name: "qwen", License: "Apache-2.0"}
		}},
	} {
		q := w.query(t, "2025-07-20", "cn-lab-ciio", jobSpec{}, 1e21, "cn-users-600k-a")
		c.edit(&q)
		if d := e.EvaluateTransfer(q, w.datasets["cn-users-600k-a"], "SG"); d.Allowed || !hasDenial(d, c.want) {
			t.Errorf("%s: a transfer %+v, want a denial naming %s", c.name, d, c.want)
		}
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		if d := s.Evaluate(site, pool, acc); d.Allowed || !hasDenial(d, c.want) {
			t.Errorf("%s: a candidate %+v, want a denial naming %s", c.name, d, c.want)
		}
	}
}
