package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/catalog"
)

// TestEvaluateTransfer asks the data-staging question directly: may this
// dataset move to that country on that date, under which basis?
func TestEvaluateTransfer(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	dpf := *w.datasets["eu-customers"]
	dpf.Metadata.Name = "eu-customers-dpf"
	dpf.Spec.TransferBases = []string{"eu-dpf"}
	w.datasets[dpf.Metadata.Name] = &dpf
	cases := []struct {
		name, asOf, org, dataset, to string
		allowed                      bool
		denials, obligations         []string
		transfer                     *Transfer
	}{
		{name: "EEA to adequate Japan", asOf: "2025-07-20", org: "eu-lab", dataset: "eu-customers", to: "JP", allowed: true,
			transfer: &Transfer{Dataset: "eu-customers", From: "DE", To: "JP", Basis: BasisNoneRequired}},
		{name: "EEA to UK under the renewed decision", asOf: "2025-12-20", org: "eu-lab", dataset: "eu-customers", to: "GB", allowed: true,
			transfer: &Transfer{Dataset: "eu-customers", From: "DE", To: "GB", Basis: BasisNoneRequired}},
		{name: "EEA to UK after both decisions end", asOf: "2032-01-01", org: "eu-lab", dataset: "eu-customers", to: "GB", denials: []string{"eu-gdpr-ch5"},
			transfer: &Transfer{Dataset: "eu-customers", From: "DE", To: "GB"}},
		{name: "EEA to US without DPF certification", asOf: "2025-07-20", org: "eu-lab", dataset: "eu-customers", to: "US", denials: []string{"eu-gdpr-ch5"},
			transfer: &Transfer{Dataset: "eu-customers", From: "DE", To: "US"}},
		{name: "EEA to US for a DPF-certified recipient", asOf: "2025-07-20", org: "eu-lab", dataset: "eu-customers-dpf", to: "US", allowed: true,
			transfer: &Transfer{Dataset: "eu-customers-dpf", From: "DE", To: "US", Basis: BasisNoneRequired}},
		{name: "EEA to US before the DPF", asOf: "2023-01-10", org: "eu-lab", dataset: "eu-customers-dpf", to: "US", denials: []string{"eu-gdpr-ch5"},
			transfer: &Transfer{Dataset: "eu-customers-dpf", From: "DE", To: "US"}},
		{name: "inside the EEA", asOf: "2025-07-20", org: "eu-lab", dataset: "eu-customers", to: "NO", allowed: true,
			transfer: &Transfer{Dataset: "eu-customers", From: "DE", To: "NO", Basis: BasisNoneRequired}},
		{name: "no move when the data is already there", asOf: "2025-07-20", org: "eu-lab", dataset: "eu-customers", to: "DE", allowed: true},
		{name: "data stored abroad moves from its site's country", asOf: "2025-07-20", org: "eu-lab", dataset: "stored-in-sg", to: "JP", allowed: true,
			transfer: &Transfer{Dataset: "stored-in-sg", From: "SG", To: "JP", Basis: BasisNoneRequired}},
		{name: "China 50,000 people in 2025 is exempt", asOf: "2025-07-20", org: "cn-lab", dataset: "cn-users-50k", to: "SG", allowed: true,
			obligations: []string{"cn-pipl-39-consent"}, transfer: &Transfer{Dataset: "cn-users-50k", From: "CN", To: "SG", Basis: BasisNoneRequired}},
		{name: "China 300,000 people in 2023 needed an assessment", asOf: "2023-07-01", org: "cn-lab", dataset: "cn-users-300k", to: "SG",
			denials: []string{"cn-secassess-2022"}, obligations: []string{"cn-pipl-39-consent"}, transfer: &Transfer{Dataset: "cn-users-300k", From: "CN", To: "SG"}},
		{name: "China 300,000 people in 2025 with a standard contract", asOf: "2025-07-20", org: "cn-lab", dataset: "cn-users-300k-contract", to: "SG", allowed: true,
			obligations: []string{"cn-cbdf-2024-contract", "cn-pipl-39-consent"}, transfer: &Transfer{Dataset: "cn-users-300k-contract", From: "CN", To: "SG", Basis: "cn-standard-contract"}},
		{name: "China 2,000,000 people with an assessment", asOf: "2025-07-20", org: "cn-lab", dataset: "cn-users-2m-assessed", to: "SG", allowed: true,
			obligations: []string{"cn-cbdf-2024-assessment", "cn-pipl-39-consent"}, transfer: &Transfer{Dataset: "cn-users-2m-assessed", From: "CN", To: "SG", Basis: "cn-security-assessment"}},
		{name: "bulk US health data staged in the US for a China-headquartered lab", asOf: "2025-07-20", org: "cn-lab", dataset: "us-health-200k", to: "US",
			denials: []string{"us-doj-dsp-2025"}},
		{name: "bulk US health data staged in the US for a US lab", asOf: "2025-07-20", org: "us-lab", dataset: "us-health-200k", to: "US", allowed: true},
		{name: "bulk US health data sent to China by a US lab", asOf: "2025-07-20", org: "us-lab", dataset: "us-health-200k", to: "CN",
			denials: []string{"us-doj-dsp-2025-destination"}, transfer: &Transfer{Dataset: "us-health-200k", From: "US", To: "CN"}},
		{name: "unknown destination fails closed", asOf: "2025-07-20", org: "eu-lab", dataset: "eu-customers", to: "ZZ", denials: []string{EngineRule},
			transfer: &Transfer{Dataset: "eu-customers", From: "DE", To: "ZZ"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := w.query(t, c.asOf, c.org, jobSpec{}, 0)
			d := e.EvaluateTransfer(q, w.datasets[c.dataset], c.to)
			if d.Allowed != c.allowed {
				t.Errorf("allowed %v, want %v: %+v", d.Allowed, c.allowed, d)
			}
			if diff := cmp.Diff(sorted(c.denials), ids(d.Denials)); diff != "" {
				t.Errorf("denials (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(sorted(c.obligations), ids(d.Obligations)); diff != "" {
				t.Errorf("obligations (-want +got):\n%s", diff)
			}
			var want []Transfer
			if c.transfer != nil {
				want = []Transfer{*c.transfer}
			}
			if diff := cmp.Diff(want, d.Transfers); diff != "" {
				t.Errorf("transfers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClassification checks the 3A090 definitions of the built-in pack on
// chips at and around the thresholds, and that Hong Kong counts as China
// even when the country table gives it no groups.
func TestClassification(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	chip := func(tpp, pd float64) *catalog.Accelerator {
		return &catalog.Accelerator{ID: "test-chip", Origin: "US", TPP: catalog.Fact{Value: &tpp}, PerformanceDensity: catalog.Fact{Value: &pd}, ScaleUpGBs: catalog.Fact{Value: &pd}}
	}
	cases := []struct {
		name string
		acc  *catalog.Accelerator
		want string
	}{
		{"H100", w.accs["nvidia-h100-sxm"], "3A090.a"},
		{"A100 just above 4800", w.accs["nvidia-a100-80gb"], "3A090.a"},
		{"H20 below both bands", w.accs["nvidia-h20"], "not-controlled"},
		{"TPP 4800 exactly", chip(4800, 1), "3A090.a"},
		{"TPP 1600 with PD 5.92", chip(1600, 5.92), "3A090.a"},
		{"TPP 1700 with PD 4", chip(1700, 4), "3A090.b"},
		{"TPP 3000 with PD 2", chip(3000, 2), "3A090.b"},
		{"TPP 3000 with PD 1.5", chip(3000, 1.5), "not-controlled"},
		{"TPP 1599 with PD 10", chip(1599, 10), "not-controlled"},
	}
	s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21))
	if err != nil {
		t.Fatal(err)
	}
	site := w.sites["sg-1"]
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vars := s.candidateVars(site, &site.Spec.Pools[0], c.acc)
			if errs := s.evalDefs(vars.def, vars); errs["eccn"] != nil {
				t.Fatal(errs["eccn"])
			}
			if got := vars.def["eccn"]; got != c.want {
				t.Errorf("eccn %v, want %s", got, c.want)
			}
		})
	}
	t.Run("Hong Kong as China", func(t *testing.T) {
		countries := map[string]*catalog.Country{}
		for k, v := range w.countries {
			countries[k] = v
		}
		countries["HK"] = &catalog.Country{ISO: "HK", Name: "Hong Kong"}
		hk := *w.sites["sg-1"]
		hk.Metadata.Name, hk.Spec.Country = "hk-1", "HK"
		q := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21)
		q.Countries = countries
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(&hk, &hk.Spec.Pools[0], w.accs["nvidia-h100-sxm"])
		if findRule(d.Denials, "us-ear-3a090-destination-d5") == nil {
			t.Fatalf("H100 that reached Hong Kong in 2024 must be denied as China: %+v", d)
		}
	})
}

// TestUnknownClassificationDenies: a dataset whose classification is not
// in the vocabulary (a spelling the catalog refuses, or one an older
// version accepted, from a store) was no personal data to any rule:
// 50,000 people's data moved from the EU to the US, which the same
// dataset classified personal may not. The engine denies, naming the
// dataset and its classification.
func TestUnknownClassificationDenies(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	for _, class := range []string{"Personal", "pii", ""} {
		ds := *w.datasets["eu-customers"]
		ds.Spec.Classification = class
		q := w.query(t, "2025-07-20", "eu-lab", jobSpec{}, 0)
		d := e.EvaluateTransfer(q, &ds, "US")
		f := findRule(d.Denials, EngineRule)
		if d.Allowed || f == nil || !strings.Contains(f.Message, fmt.Sprintf("classification %q", class)) {
			t.Errorf("class %q: allowed %v, denials %+v; want the engine's denial naming the classification", class, d.Allowed, d.Denials)
		}
	}
}

// TestOversizedDatasetBasesDeny: dataset.bases is a fact like the
// organisation's and job's lists (TestOversizedFactsDeny): a dataset
// listing a basis 300 times was judged as any other.
func TestOversizedDatasetBasesDeny(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	ds := *w.datasets["eu-customers-scc"]
	ds.Spec.TransferBases = make([]string, maxFactSize+44)
	for i := range ds.Spec.TransferBases {
		ds.Spec.TransferBases[i] = "eu-scc"
	}
	d := e.EvaluateTransfer(w.query(t, "2025-07-20", "eu-lab", jobSpec{}, 0), &ds, "US")
	f := findRule(d.Denials, EngineRule)
	if d.Allowed || f == nil || !strings.Contains(f.Message, "dataset.bases has 300 items") {
		t.Errorf("allowed %v, denials %+v; want the engine's denial naming dataset.bases", d.Allowed, d.Denials)
	}
}

// TestAdequacyNeedsAdoptedStatus: only an adopted adequacy decision
// makes a country adequate. A decision of no status (a country table that
// did not come through the catalog, which refuses it) was read as
// adopted, and personal data left the EEA for the country with no basis;
// one of a status outside the vocabulary was not. Both now read as no
// decision, and the transfer is denied.
func TestAdequacyNeedsAdoptedStatus(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	for _, status := range []string{"", "Adopted", catalog.AdequacyDraft, catalog.AdequacyInvalidated} {
		q := w.query(t, "2025-07-20", "eu-lab", jobSpec{}, 0)
		countries := make(map[string]*catalog.Country, len(q.Countries))
		for k, v := range q.Countries {
			countries[k] = v
		}
		sg := *countries["SG"]
		sg.Adequacy = []catalog.AdequacyDecision{{Scope: catalog.ScopeFull, From: catalog.MustDate("2020-01-01"), Status: status, Source: "s"}}
		countries["SG"] = &sg
		q.Countries = countries
		if d := e.EvaluateTransfer(q, w.datasets["eu-customers"], "SG"); d.Allowed || findRule(d.Denials, "eu-gdpr-ch5") == nil {
			t.Errorf("personal data to a country whose adequacy decision has status %q: %+v, want denied by eu-gdpr-ch5", status, d)
		}
	}
	// Adopted, it is adequate.
	q := w.query(t, "2025-07-20", "eu-lab", jobSpec{}, 0)
	if d := e.EvaluateTransfer(q, w.datasets["eu-customers"], "JP"); !d.Allowed {
		t.Errorf("personal data to Japan, adequate: %+v", d)
	}
}
