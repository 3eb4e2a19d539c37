package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"

	"meridian.dev/meridian/catalog"
)

// testWorld is the test's own catalog: countries, accelerators, and the
// organisations, datasets and sites of testdata/world (never the built-in ones).
type testWorld struct {
	countries map[string]*catalog.Country
	accs      map[string]*catalog.Accelerator
	orgs      map[string]*catalog.Organization
	datasets  map[string]*catalog.Dataset
	sites     map[string]*catalog.Site
}

func loadTestWorld(t testing.TB) *testWorld {
	t.Helper()
	w := &testWorld{
		countries: map[string]*catalog.Country{}, accs: map[string]*catalog.Accelerator{},
		orgs: map[string]*catalog.Organization{}, datasets: map[string]*catalog.Dataset{}, sites: map[string]*catalog.Site{},
	}
	var cs []*catalog.Country
	readYAML(t, "testdata/world/countries.yaml", &cs)
	for _, c := range cs {
		w.countries[c.ISO] = c
	}
	var as []*catalog.Accelerator
	readYAML(t, "testdata/world/accelerators.yaml", &as)
	for _, a := range as {
		w.accs[a.ID] = a
	}
	name := filepath.Join("testdata", "world", "resources.yaml")
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	set, err := catalog.Decode(name, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range set.Organizations {
		w.orgs[o.Metadata.Name] = o
	}
	for _, d := range set.Datasets {
		w.datasets[d.Metadata.Name] = d
	}
	for _, s := range set.Sites {
		w.sites[s.Metadata.Name] = s
	}
	return w
}

func readYAML(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalWithOptions(data, v, yaml.DisallowUnknownField()); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// jobSpec is the part of a TrainingJob the rules read.
type jobSpec struct {
	Name        string   `yaml:"name"`
	Markets     []string `yaml:"markets"`
	OpenWeights bool     `yaml:"openWeights"`
	StateFunded bool     `yaml:"stateFunded"`
	// Base and WeightsDelivery are the job's model provenance.
	Base            *catalog.BaseModel `yaml:"base"`
	WeightsDelivery []string           `yaml:"weightsDelivery"`
}

func (j jobSpec) job() *catalog.TrainingJob {
	name := j.Name
	if name == "" {
		name = "test-job"
	}
	return &catalog.TrainingJob{
		Metadata: catalog.Metadata{Name: name},
		Spec: catalog.TrainingJobSpec{Method: catalog.MethodFullFinetune, Model: catalog.Model{Base: j.Base},
			Release: catalog.Release{Markets: j.Markets, OpenWeights: j.OpenWeights}, StateFunded: j.StateFunded,
			WeightsDelivery: j.WeightsDelivery},
	}
}

// query builds a Query over the test world.
func (w *testWorld) query(t testing.TB, asOf, org string, job jobSpec, flops float64, datasets ...string) Query {
	t.Helper()
	q := Query{
		AsOf: catalog.MustDate(asOf), Job: job.job(), TrainingFLOPs: flops,
		Countries: w.countries, Organizations: w.orgs, Sites: w.sites,
	}
	if org != "" {
		o, ok := w.orgs[org]
		if !ok {
			t.Fatalf("test world has no organisation %q", org)
		}
		q.Org = o
	}
	for _, d := range datasets {
		ds, ok := w.datasets[d]
		if !ok {
			t.Fatalf("test world has no dataset %q", d)
		}
		q.Datasets = append(q.Datasets, ds)
	}
	return q
}

// candidate returns a site's pool and its accelerator.
func (w *testWorld) candidate(t testing.TB, site string, pool int) (*catalog.Site, *catalog.Pool, *catalog.Accelerator) {
	t.Helper()
	s, ok := w.sites[site]
	if !ok {
		t.Fatalf("test world has no site %q", site)
	}
	if pool >= len(s.Spec.Pools) {
		t.Fatalf("site %s has no pool %d", site, pool)
	}
	p := &s.Spec.Pools[pool]
	return s, p, w.accs[p.Accelerator]
}
