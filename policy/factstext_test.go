package policy

import (
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/textsafe"
)

// TestAttackControlCharactersInMessages: a finding's message shows facts a
// tenant or a site writes (a job's name, a site's city, an organisation's
// affiliates), and messages are printed to terminals and kept in logs. An
// escape sequence, a line break or a right-to-left override in such a
// fact went into every message that showed it as it was. The catalog
// refuses such text, but the engine does not rely on its facts having come
// through it: the message now shows the fact quoted.
func TestAttackControlCharactersInMessages(t *testing.T) {
	pack := strings.Replace(goodRule, `message: "site {site.country}"`,
		`message: "job {job.name} at {site.city} of {org.affiliates}, {job.weightsDelivery}"`, 1)
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "m.yaml", Data: []byte(pack)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	q := w.query(t, "2025-07-20", "us-lab", jobSpec{Name: "j\x1b[2Jx", WeightsDelivery: []string{"SG\u2028forged"}}, 1e21)
	org := *q.Org
	org.Spec.Affiliates = []string{"a\u202eb", "plain"}
	q.Org = &org
	s, err := e.Session(q)
	if err != nil {
		t.Fatal(err)
	}
	site, pool, acc := w.candidate(t, "sg-1", 0)
	city := *site
	city.Spec.City = "Singapore\nr2: allowed"
	for _, d := range []Decision{s.Evaluate(&city, pool, acc), s.evaluate(&city, pool, acc)} {
		f := findRule(d.Denials, "r1")
		if f == nil {
			t.Fatalf("r1 did not fire: %+v", d)
		}
		if i := textsafe.Index(f.Message); i >= 0 {
			t.Errorf("the message holds %U: %q", []rune(f.Message[i:])[0], f.Message)
		}
		for _, want := range []string{`"j\x1b[2Jx"`, `"Singapore\nr2: allowed"`, `"a\u202eb", plain`, `"SG\u2028forged"`} {
			if !strings.Contains(f.Message, want) {
				t.Errorf("the message does not show %s quoted: %q", want, f.Message)
			}
		}
	}
}

// TestAttackOversizedDatasetFacts: a dataset's facts (its name, origin,
// location, the items of its bases) had no bound in the engine: one of
// megabytes was read by the transfer and access rules as it was,
// unmetered, and copied into every finding that showed it, for every
// destination country of a plan. Such a dataset is now denied by the
// engine, naming the fact, in a message that does not carry it.
func TestAttackOversizedDatasetFacts(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	big := strings.Repeat("x", 1<<20)
	for _, c := range []struct {
		fact string
		set  func(d *catalog.Dataset)
	}{
		{"dataset.name", func(d *catalog.Dataset) { d.Metadata.Name = big }},
		{"dataset.origin", func(d *catalog.Dataset) { d.Spec.Origin = big }},
		{"dataset.location", func(d *catalog.Dataset) { d.Spec.Location = big }},
		{"dataset.bases has an item", func(d *catalog.Dataset) { d.Spec.TransferBases = []string{"scc", big} }},
	} {
		ds := *w.datasets[firstDataset(w)]
		c.set(&ds)
		q := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21)
		q.Datasets = []*catalog.Dataset{&ds}
		d := e.EvaluateTransfer(q, &ds, "SG")
		if d.Allowed || !engineDenies(d, c.fact) {
			t.Errorf("%s of 1 MiB: want the engine's denial naming it: %.500v", c.fact, d)
		}
		for _, f := range append(d.Denials, append(d.Obligations, d.Advisories...)...) {
			if len(f.Message) > 4096 {
				t.Errorf("%s of 1 MiB: a finding of %d bytes: %.200s", c.fact, len(f.Message), f.Message)
			}
		}
	}
}

// TestAttackControlCharactersInEngineFindings: the engine's own findings
// name what a tenant or a site wrote (an organisation, a dataset, a pool's
// owner) with %s, so an escape sequence or a line break in a name went to
// the terminal and the log as it was. They now show it escaped. A name's
// bytes that are not UTF-8 are shown as Go escapes them, \xNN; they were
// written as U+FFFD, which told the reader neither that the name was not
// text nor what it held.
func TestAttackControlCharactersInEngineFindings(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	for _, c := range []struct{ name, hq, want string }{
		{"lab\x1b]0;pwned\x07\nrecorded: allowed", "ZZ\u202e", `lab\x1b]0;pwned\a\nrecorded: allowed`},
		{"lab\xff\xfe", "ZZ", `lab\xff\xfe`},
	} {
		q := w.query(t, "2025-07-20", "", jobSpec{}, 1e21)
		q.Org = &catalog.Organization{Metadata: catalog.Metadata{Name: c.name}, Spec: catalog.OrganizationSpec{Headquarters: c.hq}}
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(w.candidate(t, "de-frankfurt-1", 0))
		if d.Allowed || !engineDenies(d, c.want) {
			t.Errorf("want an engine denial naming the organisation %s: %+v", c.want, d.Denials)
		}
		for _, f := range d.Denials {
			if i := textsafe.Index(f.Message); i >= 0 {
				t.Errorf("%s: the message holds %U: %q", f.Rule, []rune(f.Message[i:])[0], f.Message)
			}
		}
	}
}
