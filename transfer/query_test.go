package transfer

import (
	"testing"

	"meridian.dev/meridian/catalog"
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
