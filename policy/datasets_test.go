package policy

import (
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// copies returns n datasets like the test world's ds, named ds-0, ds-1, …
// with origins and classes taken in turn from the world's datasets.
func copies(w *testWorld, n int) []*catalog.Dataset {
	kinds := []string{"eu-customers", "cn-users-50k", "cn-important", "in-users", "cn-users-300k"}
	out := make([]*catalog.Dataset, n)
	for i := range out {
		d := *w.datasets[kinds[i%len(kinds)]]
		d.Metadata.Name = fmt.Sprintf("ds-%d", i)
		d.Spec.Subjects += int64(i)
		out[i] = &d
	}
	return out
}

func hasDenial(d Decision, part string) bool {
	for _, f := range d.Denials {
		if strings.Contains(f.Message, part) {
			return true
		}
	}
	return false
}

// TestQueryDatasetsBounded: the engine bounded a query's datasets only
// through the catalog, which refuses a job of more than 256 datasets or
// one named twice; a caller that built its query another way had every
// dataset judged for every destination country, with each one's totals
// counted over every other (a job of 100,000 datasets took minutes), and
// a dataset named twice counted its subjects twice. The engine refuses
// them itself, failing closed, for candidates and for staging.
func TestQueryDatasetsBounded(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, c := range []struct {
		name string
		dss  []*catalog.Dataset
		want string // a denial's text; "" for none about the datasets
	}{
		{"256 datasets", copies(w, 256), ""},
		{"257 datasets", copies(w, 257), "the query names 257 datasets, more than the 256"},
		{"one named twice", append(copies(w, 3), copies(w, 2)[1]), "dataset ds-1 is named twice in the query"},
	} {
		q := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 0)
		q.Datasets = c.dss
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(site, pool, acc)
		tr := e.EvaluateTransfer(q, c.dss[0], "SG")
		if c.want == "" {
			if hasDenial(d, "datasets") || hasDenial(tr, "datasets") || hasDenial(d, "named twice") {
				t.Errorf("%s: denied for its datasets: %+v %+v", c.name, d.Denials, tr.Denials)
			}
			continue
		}
		if d.Allowed || !hasDenial(d, c.want) {
			t.Errorf("%s: candidate %+v, want a denial %q", c.name, d, c.want)
		}
		if tr.Allowed || !hasDenial(tr, c.want) {
			t.Errorf("%s: staging %+v, want a denial %q", c.name, tr, c.want)
		}
	}
	// A query's dataset asked about as it stands elsewhere (a checkpoint's
	// move places each of its job's datasets at the checkpoint's site) is
	// judged in that dataset's place: it was denied as named twice, so no
	// checkpoint ever moved under the engine.
	q := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 0)
	q.Datasets = copies(w, 3)
	moved := *q.Datasets[1]
	moved.Spec.Location = "sg-1"
	if tr := e.EvaluateTransfer(q, &moved, "SG"); hasDenial(tr, "named twice") || hasDenial(tr, "datasets") || hasDenial(tr, "differs") {
		t.Errorf("a query's ds-1 moved to sg-1: %+v", tr.Denials)
	}
	// Another dataset under a query's dataset's name is not judged in its
	// place, which would drop the query's (maybe stricter) facts.
	other := *q.Datasets[1]
	other.Spec.Location = "sg-1"
	other.Spec.Classification = catalog.ClassPublic
	if q.Datasets[1].Spec.Classification == catalog.ClassPublic {
		other.Spec.Classification = catalog.ClassPersonal
	}
	if tr := e.EvaluateTransfer(q, &other, "SG"); tr.Allowed || !hasDenial(tr, "differs from the query's dataset") {
		t.Errorf("another dataset named ds-1: %+v", tr)
	}
}

// TestDatasetFactsLinear: each dataset's facts totalled the subjects of
// its origin over every dataset of the query, so the facts of a query's
// datasets took time (and allocations) quadratic in their number. The
// totals are made once a session: the facts of one dataset cost the same
// among 8 datasets as among 256, and the totals are what counting every
// dataset once gives.
func TestDatasetFactsLinear(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	allocs := map[int]float64{}
	for _, n := range []int{8, 256} {
		q := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 0)
		q.Datasets = copies(w, n)
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		outside := copies(w, n+1)[n] // staged, not among the query's
		for _, ds := range append(q.Datasets, outside) {
			want := map[string]int64{}
			for _, d := range q.Datasets {
				if d.Spec.Origin == ds.Spec.Origin {
					want[d.Spec.Classification] += d.Spec.Subjects
				}
			}
			if ds == outside {
				want[ds.Spec.Classification] += ds.Spec.Subjects
			}
			m := s.datasetFacts(ds)
			if m["originSubjects"] != want[catalog.ClassPersonal] || m["originSensitiveSubjects"] != want[catalog.ClassSensitivePersonal] ||
				m["originDeidentifiedSubjects"] != want[catalog.ClassDeidentified] {
				t.Fatalf("%d datasets: %s: totals %v %v %v, want %v", n, ds.Metadata.Name, m["originSubjects"], m["originSensitiveSubjects"], m["originDeidentifiedSubjects"], want)
			}
		}
		allocs[n] = testing.AllocsPerRun(20, func() { s.datasetFacts(q.Datasets[1]) })
	}
	if allocs[256] > allocs[8] {
		t.Errorf("one dataset's facts: %.0f allocations among 8 datasets, %.0f among 256", allocs[8], allocs[256])
	}
}
