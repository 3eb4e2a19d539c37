package policy

import (
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// ruleCase exercises one built-in rule: it must fire (with effect want) on
// date in, must not appear on date out (outside its window or not
// enforced), and, when lift is set, must become an obligation once the
// licence (lift == "licence") or the datasets liftDatasets are used.
type ruleCase struct {
	rule         string
	want         Effect
	in, out      string
	org          string
	site         string
	pool         int
	datasets     []string
	job          jobSpec
	flops        float64
	lift         string
	liftDatasets []string
}

var ruleCases = []ruleCase{
	{rule: "us-ear-aci-2022-china", want: Deny, in: "2025-07-20", out: "2022-09-01", org: "cn-lab", site: "cn-hangzhou-1", pool: 2, lift: "licence"},
	{rule: "us-ear-3a090-destination-d5", want: Deny, in: "2025-07-20", out: "2023-11-01", org: "cn-lab", site: "cn-hangzhou-1", pool: 1, lift: "licence"},
	{rule: "us-ear-3a090-destination-d1-d4", want: Obligation, in: "2025-07-20", out: "2023-11-01", org: "us-lab", site: "vn-hanoi-1"},
	{rule: "us-ear-3a090-hq", want: Deny, in: "2025-07-20", out: "2023-11-01", org: "cn-lab", site: "my-johor-sub", lift: "licence"},
	{rule: "us-bis-2025-05-iaas-red-flag", want: Advisory, in: "2025-07-20", out: "2025-05-01", org: "cn-lab", site: "my-johor-rent"},
	{rule: "us-bis-h20-letter-2025", want: Deny, in: "2025-07-20", out: "2025-04-01", org: "cn-lab", site: "cn-hangzhou-1", pool: 3, lift: "licence"},
	{rule: "us-ear-h200-case-by-case", want: Advisory, in: "2026-03-01", out: "2025-12-01", org: "cn-lab", site: "cn-hangzhou-1", pool: 4},
	{rule: "us-bis-gp10-ascend", want: Deny, in: "2025-06-01", out: "2025-05-01", org: "us-lab", site: "my-ascend-1", lift: "licence"},
	{rule: "us-ear-aidiff-2025-tier3", want: Deny, in: "2025-03-01", out: "2025-06-01", org: "cn-lab", site: "cn-hangzhou-1", pool: 5, lift: "licence"},
	{rule: "us-ear-aidiff-2025-tier2", want: Obligation, in: "2025-03-01", out: "2025-06-01", org: "us-lab", site: "sg-2"},
	{rule: "us-ear-aidiff-4e091", want: Obligation, in: "2025-03-01", out: "2025-06-01", org: "us-lab", site: "de-frankfurt-1", flops: 2e26},
	{rule: "us-ear-aidiff-4e091-delivery", want: Deny, in: "2025-03-01", out: "2025-06-01", org: "us-lab", site: "de-frankfurt-1", flops: 2e26, job: jobSpec{WeightsDelivery: []string{"SG"}}, lift: "licence"},
	{rule: "eu-ai-act-modification", want: Obligation, in: "2025-08-10", out: "2025-07-01", org: "eu-lab", site: "de-frankfurt-1", flops: 1e24,
		job: jobSpec{Markets: []string{"EU"}, Base: &catalog.BaseModel{Name: "qwen2.5-7b", Origin: "CN", License: "apache-2.0", OpenWeights: true, TrainingFLOPs: 1.8e24}}},
	{rule: "us-ear-entity-list", want: Deny, in: "2025-07-20", out: "2019-01-01", org: "listed-lab", site: "sg-1", lift: "licence"},
	{rule: "us-ear-affiliates-2025", want: Deny, in: "2025-10-15", out: "2025-12-15", org: "affiliate-lab", site: "sg-1", lift: "licence"},
	{rule: "my-sta-aichip-2025", want: Advisory, in: "2025-07-20", out: "2025-07-01", org: "us-lab", site: "my-johor-rent"},
	{rule: "sg-enforcement-2025", want: Advisory, in: "2025-07-20", out: "2025-01-01", org: "us-lab", site: "sg-1"},
	{rule: "cn-domestic-dc-2025", want: Advisory, in: "2025-12-01", out: "2025-11-04", org: "cn-state-lab", site: "cn-hangzhou-1"},
	{rule: "cn-h20-guidance-2025", want: Advisory, in: "2025-08-15", out: "2025-07-01", org: "cn-lab", site: "cn-hangzhou-1", pool: 3},
	{rule: "eu-gdpr-ch5", want: Deny, in: "2025-07-20", out: "2018-01-01", org: "eu-lab", site: "sg-1", datasets: []string{"eu-customers"}, lift: "basis", liftDatasets: []string{"eu-customers-scc"}},
	{rule: "cn-pipl-39-consent", want: Obligation, in: "2025-07-20", out: "2021-10-01", org: "cn-lab", site: "sg-1", datasets: []string{"cn-users-50k"}, lift: "basis", liftDatasets: []string{"cn-users-50k-consent"}},
	{rule: "cn-csl-37-ciio", want: Deny, in: "2025-07-20", out: "2017-05-31", org: "cn-lab-ciio", site: "sg-1", datasets: []string{"cn-users-50k"}, lift: "basis", liftDatasets: []string{"cn-users-2m-assessed"}},
	{rule: "cn-cbdf-2024-important-data", want: Deny, in: "2025-07-20", out: "2024-03-21", org: "cn-lab", site: "sg-1", datasets: []string{"cn-important"}, lift: "basis", liftDatasets: []string{"cn-important-assessed"}},
	{rule: "cn-secassess-2022", want: Deny, in: "2023-01-15", out: "2024-04-01", org: "cn-lab", site: "sg-1", datasets: []string{"cn-users-300k"}, lift: "basis", liftDatasets: []string{"cn-users-2m-assessed"}},
	{rule: "cn-scc-2023", want: Advisory, in: "2023-08-01", out: "2024-04-01", org: "cn-lab", site: "sg-1", datasets: []string{"cn-users-50k"}},
	{rule: "cn-cbdf-2024-assessment", want: Deny, in: "2025-07-20", out: "2024-03-01", org: "cn-lab", site: "sg-1", datasets: []string{"cn-users-2m"}, lift: "basis", liftDatasets: []string{"cn-users-2m-assessed"}},
	{rule: "cn-cbdf-2024-contract", want: Deny, in: "2025-07-20", out: "2024-03-01", org: "cn-lab", site: "sg-1", datasets: []string{"cn-users-300k"}, lift: "basis", liftDatasets: []string{"cn-users-300k-contract"}},
	{rule: "ru-242fz-localisation", want: Obligation, in: "2025-07-20", out: "2015-01-01", org: "eu-lab", site: "sg-1", datasets: []string{"ru-users"}},
	{rule: "ru-23fz-2025", want: Advisory, in: "2025-07-20", out: "2025-06-01", org: "eu-lab", site: "sg-1", datasets: []string{"ru-users"}},
	{rule: "in-dpdp-s16", want: Advisory, in: "2025-12-01", out: "2025-11-01", org: "eu-lab", site: "sg-1", datasets: []string{"in-users"}, lift: "basis", liftDatasets: []string{"in-users-permitted"}},
	{rule: "vn-decree13-tia", want: Obligation, in: "2025-07-20", out: "2023-06-01", org: "eu-lab", site: "sg-1", datasets: []string{"vn-users"}, lift: "basis", liftDatasets: []string{"vn-users-tia"}},
	{rule: "vn-data-law-2025", want: Advisory, in: "2025-07-20", out: "2025-06-01", org: "eu-lab", site: "sg-1", datasets: []string{"vn-important"}},
	{rule: "id-pp71-public-scope", want: Advisory, in: "2025-07-20", out: "2019-01-01", org: "eu-lab", site: "sg-1", datasets: []string{"id-users"}},
	{rule: "my-pdpa-129", want: Obligation, in: "2025-07-20", out: "2025-03-01", org: "eu-lab", site: "sg-1", datasets: []string{"my-users"}},
	{rule: "us-doj-dsp-2025", want: Deny, in: "2025-07-20", out: "2025-03-01", org: "cn-lab", site: "us-east-1", datasets: []string{"us-health-200k"}},
	{rule: "us-doj-dsp-2025-deidentified", want: Advisory, in: "2025-07-20", out: "2025-03-01", org: "cn-lab", site: "us-east-1", datasets: []string{"us-deid-200k"}},
	{rule: "us-doj-dsp-2025-destination", want: Deny, in: "2025-07-20", out: "2025-03-01", org: "us-lab", site: "cn-hangzhou-1", datasets: []string{"us-health-200k"}},
	{rule: "eu-ai-act-art53", want: Obligation, in: "2025-08-10", out: "2025-07-01", org: "eu-lab", site: "de-frankfurt-1", job: jobSpec{Markets: []string{"EU"}}, flops: 5e23},
	{rule: "eu-ai-act-art52-notify", want: Obligation, in: "2025-08-10", out: "2025-07-01", org: "eu-lab", site: "de-frankfurt-1", job: jobSpec{Markets: []string{"DE"}}, flops: 3e25},
	{rule: "us-eo-14110-reporting", want: Obligation, in: "2024-06-01", out: "2025-02-01", org: "us-lab", site: "de-frankfurt-1", flops: 2e26},
	{rule: "cn-genai-2023-filing", want: Obligation, in: "2025-07-20", out: "2023-08-01", org: "cn-lab", site: "cn-hangzhou-1", job: jobSpec{Markets: []string{"CN"}}},
}

func findRule(fs []Finding, id string) *Finding {
	for i := range fs {
		if fs[i].Rule == id {
			return &fs[i]
		}
	}
	return nil
}

func bucket(d Decision, e Effect) []Finding {
	switch e {
	case Deny:
		return d.Denials
	case Obligation:
		return d.Obligations
	}
	return d.Advisories
}

func (w *testWorld) decide(t *testing.T, e *Engine, c ruleCase, asOf string, org *catalog.Organization, datasets []string) Decision {
	t.Helper()
	q := w.query(t, asOf, c.org, c.job, c.flops, datasets...)
	if org != nil {
		q.Org = org
	}
	s, err := e.Session(q)
	if err != nil {
		t.Fatal(err)
	}
	return s.Evaluate(w.candidate(t, c.site, c.pool))
}

func TestBuiltinRules(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	covered := map[string]bool{}
	for _, c := range ruleCases {
		covered[c.rule] = true
		t.Run(c.rule, func(t *testing.T) {
			r, ok := e.Rule(c.rule)
			if !ok {
				t.Fatalf("no built-in rule %s", c.rule)
			}
			in := w.decide(t, e, c, c.in, nil, c.datasets)
			f := findRule(bucket(in, c.want), c.rule)
			if f == nil {
				t.Fatalf("on %s: %s not among the %ss: %+v", c.in, c.rule, c.want, in)
			}
			if !strings.HasPrefix(f.Message, c.rule+": ") || !strings.Contains(f.Message, "(source: "+r.Sources[0]+")") {
				t.Errorf("message does not name rule and source: %q", f.Message)
			}
			if strings.Contains(f.Message, "<unknown") || strings.Contains(f.Message, "could not determine") {
				t.Errorf("message has an unresolved fact: %q", f.Message)
			}
			if c.want == Deny && in.Allowed {
				t.Errorf("a denial but Allowed is true")
			}
			if c.want == Advisory && r.Effect == Deny && f.Confidence == Confirmed {
				t.Errorf("a deny rule shown as advisory must be a non-confirmed one")
			}
			out := w.decide(t, e, c, c.out, nil, c.datasets)
			for _, eff := range Effects {
				if findRule(bucket(out, eff), c.rule) != nil {
					t.Errorf("on %s (outside its window or enforcement) %s still appears as %s", c.out, c.rule, eff)
				}
			}
			if st := r.Status(catalog.MustDate(c.out)); st.Active {
				t.Errorf("Status on %s says active", c.out)
			}
			if st := r.Status(catalog.MustDate(c.in)); !st.Active || st.State != StateActive {
				t.Errorf("Status on %s = %+v, want active", c.in, st)
			}
			switch c.lift {
			case "licence":
				o := *w.orgs[c.org]
				o.Spec.Licenses = []catalog.License{{Rule: c.rule, Expires: catalog.MustDate("2030-01-01")}}
				lifted := w.decide(t, e, c, c.in, &o, c.datasets)
				assertLifted(t, lifted, c.rule, "licence recorded for "+c.rule)
				o.Spec.Licenses = []catalog.License{{Rule: c.rule, Expires: catalog.MustDate("2020-01-01")}}
				expired := w.decide(t, e, c, c.in, &o, c.datasets)
				if f := findRule(expired.Denials, c.rule); f == nil || !strings.Contains(f.Message, "expired on 2020-01-01") {
					t.Errorf("an expired licence must not lift the denial and must be named: %+v", expired.Denials)
				}
			case "basis":
				lifted := w.decide(t, e, c, c.in, nil, c.liftDatasets)
				assertLifted(t, lifted, c.rule, "basis ")
				if len(lifted.Transfers) != 1 || lifted.Transfers[0].Basis == "" || lifted.Transfers[0].Basis == BasisNoneRequired {
					t.Errorf("transfer must record the basis that lifted it: %+v", lifted.Transfers)
				}
			}
		})
	}
	for _, st := range e.Rules(catalog.MustDate("2025-01-01")) {
		if !covered[st.ID] {
			t.Errorf("built-in rule %s has no case in ruleCases", st.ID)
		}
	}
}

func assertLifted(t *testing.T, d Decision, rule, by string) {
	t.Helper()
	if findRule(d.Denials, rule) != nil {
		t.Fatalf("%s still denies after lifting: %+v", rule, d.Denials)
	}
	// A lifted denial becomes an obligation; a lifted obligation or
	// advisory stays one, with the lifted message.
	f := findRule(d.Obligations, rule)
	if f == nil {
		f = findRule(d.Advisories, rule)
	}
	if f == nil {
		t.Fatalf("%s not found after lifting: %+v", rule, d)
	}
	if !strings.Contains(f.Message, "lifted by "+by) {
		t.Errorf("obligation does not say what lifted it (%q): %q", by, f.Message)
	}
}
