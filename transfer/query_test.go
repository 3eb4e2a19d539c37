package transfer

import (
	"math"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
	"meridian.dev/meridian/policy"
)

func TestQuery(t *testing.T) {
	a := &catalog.Organization{}
	a.Metadata.Name = "a"
	b := &catalog.Organization{}
	b.Metadata.Name = "b"
	ds := &catalog.Dataset{}
	ds.Metadata.Name = "d1"
	s1, s2 := &catalog.Site{}, &catalog.Site{}
	s1.Metadata.Name, s2.Metadata.Name = "s1", "s2"
	job := &catalog.TrainingJob{}
	job.Spec.Organization = "b"
	job.Spec.Datasets = []string{"d1", "missing"}
	w := &catalog.World{Countries: map[string]*catalog.Country{"SG": {}}, Sites: []*catalog.Site{s1, s2},
		Organizations: map[string]*catalog.Organization{"a": a, "b": b}, Datasets: map[string]*catalog.Dataset{"d1": ds}}
	day, _ := catalog.ParseDate("2026-03-01")

	q := Query(w, day, a, ds)
	if q.Org != a || q.AsOf != day || len(q.Datasets) != 1 || q.Datasets[0] != ds || q.Job != nil {
		t.Errorf("query: %+v", q)
	}
	// A group's exports are counted across its members: the law sees them.
	if len(q.Organizations) != 2 || q.Organizations["b"] != b || q.Countries["SG"] == nil {
		t.Errorf("organisations %v countries %v", q.Organizations, q.Countries)
	}
	if len(q.Sites) != 2 || q.Sites["s1"] != s1 || q.Sites["s2"] != s2 {
		t.Errorf("sites: %v", q.Sites)
	}
	if q := Query(w, day, nil, ds); q.Org != nil {
		t.Errorf("no organisation named: %+v", q.Org)
	}

	jq := JobQuery(w, job, day)
	if jq.Job != job || jq.Org != b || len(jq.Datasets) != 1 || jq.Datasets[0] != ds || len(jq.Sites) != 2 {
		t.Errorf("job query: %+v", jq)
	}
}

// TestJobQueryCompute: a job's transfers are judged with its compute, the
// whole job's when a re-plan plans less. A transfer rule on job.flops met
// no fact before, and denied every staging and checkpoint move of the job
// whatever its size (the law fails closed).
func TestJobQueryCompute(t *testing.T) {
	e, err := policy.New(policy.Options{NoBuiltin: true, Files: []policy.File{{Name: "big.yaml", Data: []byte(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: big}
rules:
  - id: test-big-runs-stay
    title: Data of very large runs stays home
    jurisdiction: ORG
    kind: data-transfer
    scope: transfer
    effect: deny
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: ["test pack of transfer/query_test.go"]
    message: dataset {dataset.name} would move to {transfer.to}
    condition: "job.flops > 1e25"
`)}}})
	if err != nil {
		t.Fatal(err)
	}
	ds := &catalog.Dataset{}
	ds.Metadata.Name = "d1"
	ds.Spec.Origin, ds.Spec.Classification = "SG", catalog.ClassPublic
	org := &catalog.Organization{}
	org.Metadata.Name = "lab"
	org.Spec.Headquarters = "SG"
	w := &catalog.World{Countries: map[string]*catalog.Country{"SG": {}, "MY": {}},
		Organizations: map[string]*catalog.Organization{"lab": org}, Datasets: map[string]*catalog.Dataset{"d1": ds}}
	job := &catalog.TrainingJob{}
	job.Spec.Organization, job.Spec.Datasets = "lab", []string{"d1"}
	job.Spec.Model.Parameters, job.Spec.Tokens = 7e9, 1e12 // 4.2e22 FLOPs
	day, _ := catalog.ParseDate("2026-03-01")
	q := JobQuery(w, job, day)
	if want := estimate.TrainingFLOPs(&job.Spec); q.TrainingFLOPs != want {
		t.Fatalf("query compute %g, want the job's %g", q.TrainingFLOPs, want)
	}
	if dec := e.EvaluateTransfer(q, ds, "MY"); !dec.Allowed {
		t.Errorf("a 4e22 FLOPs job's data: denied %+v", dec.Denials)
	}
	// The remainder of a 1e26 FLOPs job is judged as the whole job.
	job.Spec.LawFLOPs = 1e26
	if dec := e.EvaluateTransfer(JobQuery(w, job, day), ds, "MY"); dec.Allowed || len(dec.Denials) == 0 || dec.Denials[0].Rule != "test-big-runs-stay" {
		t.Errorf("the remainder of a 1e26 FLOPs job's data: %+v", dec)
	}
	// A compute that is not a number (a NaN parameter count, a recorded
	// compute gone NaN or infinite) is not passed on: max carried a NaN to
	// the law. It is unknown, and the rule that needs it fails closed.
	for _, c := range []struct {
		name        string
		params, law float64
	}{{"NaN parameters", math.NaN(), 0}, {"NaN recorded compute", 7e9, math.NaN()}, {"infinite recorded compute", 7e9, math.Inf(1)}} {
		job.Spec.Model.Parameters, job.Spec.LawFLOPs = c.params, c.law
		q := JobQuery(w, job, day)
		if q.TrainingFLOPs != 0 {
			t.Errorf("%s: query compute %v, want 0 (unknown)", c.name, q.TrainingFLOPs)
		}
		if dec := e.EvaluateTransfer(q, ds, "MY"); dec.Allowed || len(dec.Denials) == 0 || !strings.Contains(dec.Denials[0].Message, "job.flops is not known") {
			t.Errorf("%s: want the rule on job.flops to fail closed: %+v", c.name, dec)
		}
	}
}
