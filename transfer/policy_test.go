package transfer

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// TestStageWithPolicyEngine stages through the real policy engine and its
// built-in packs: PIPL-band personal data from CN needs a standard contract
// from 2024-03-22 on.
func TestStageWithPolicyEngine(t *testing.T) {
	eng, countries := builtinLaw(t)
	for _, iso := range []string{"CN", "MY"} {
		if countries[iso] == nil {
			t.Fatalf("built-in countries lack %s", iso)
		}
	}
	f := newFixture(t, 2, 300<<10, "")
	f.ds.Spec.Subjects = 200000
	f.ds.Spec.TransferBases = nil
	st := f.stager()
	st.Law = eng
	req := f.request()
	// The exporter must be known: whether it is a CIIO, and whose exports
	// the yearly volumes count, depend on it.
	lab := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}}
	req.Query = policy.Query{AsOf: catalog.MustDate("2026-01-15"), Countries: countries, Org: lab}

	_, err := st.Stage(context.Background(), req)
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("Stage without a basis: %v, want a denial", err)
	}
	if !slices.ContainsFunc(de.Denials, func(f policy.Finding) bool { return f.Rule == "cn-cbdf-2024-contract" && f.Source != "" }) {
		t.Fatalf("denials %+v lack cn-cbdf-2024-contract with a source", de.Denials)
	}

	f.ds.Spec.TransferBases = []string{"cn-standard-contract"}
	res, err := st.Stage(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Basis != "cn-standard-contract" || res.From != "CN" || res.To != "MY" || !slices.Contains(res.Rules, "cn-cbdf-2024-contract") {
		t.Fatalf("ledger entry %+v", res.Entry)
	}
	// Every transfer rule in force was evaluated, including ones that said
	// nothing about this move; an expired one was not.
	for _, id := range []string{"cn-cbdf-2024-contract", "eu-gdpr-ch5", "my-pdpa-129"} {
		if !slices.Contains(res.Evaluated, id) {
			t.Errorf("evaluated rules %v lack %s", res.Evaluated, id)
		}
	}
	if slices.Contains(res.Evaluated, "cn-secassess-2022") {
		t.Errorf("expired rule cn-secassess-2022 listed as evaluated")
	}
}

// TestStageCoveredPersonAtHome: bulk US health records staged at a US site
// do not cross a border, but a China-headquartered lab that runs the job
// gets them there: 28 CFR 202 refuses the staging and nothing reaches the
// site. A US lab stages them, and the ledger lists the access rule among
// those the staging was judged by.
func TestStageCoveredPersonAtHome(t *testing.T) {
	eng, countries := builtinLaw(t)
	f := newFixture(t, 2, 300<<10, "")
	f.ds.Spec.Origin, f.ds.Spec.Classification, f.ds.Spec.Subjects, f.ds.Spec.TransferBases = "US", catalog.ClassSensitivePersonal, 200000, nil
	f.site.Spec.Country = "US"
	st := f.stager()
	st.Law = eng
	req := f.request()
	lab := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}}
	req.Query = policy.Query{AsOf: catalog.MustDate("2025-07-20"), Countries: countries, Org: lab}
	_, err := st.Stage(context.Background(), req)
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("Stage for a covered person: %v, want a denial", err)
	}
	if !slices.ContainsFunc(de.Denials, func(f policy.Finding) bool { return f.Rule == "us-doj-dsp-2025" && f.Code == policy.CodeDenied }) {
		t.Fatalf("denials %+v lack us-doj-dsp-2025", de.Denials)
	}
	if entries, err := os.ReadDir(f.siteDir); err == nil && len(entries) > 0 {
		t.Fatalf("a refused staging wrote to the site: %v", entries)
	}

	req.Query.Org = &catalog.Organization{Metadata: catalog.Metadata{Name: "us-lab"}, Spec: catalog.OrganizationSpec{Headquarters: "US"}}
	res, err := st.Stage(context.Background(), req)
	if err != nil {
		t.Fatalf("Stage for a US lab: %v", err)
	}
	if !slices.Contains(res.Evaluated, "us-doj-dsp-2025") {
		t.Errorf("evaluated rules %v lack the access rule us-doj-dsp-2025", res.Evaluated)
	}
}

// TestStageBulkAcrossStagings: a China-headquartered lab stages 9,999 US
// health records at a US site (inside the DOJ band: an advisory), then
// another 9,999 of a different dataset five months later. The first never
// left the US, but the lab was given it: 19,998 in 12 months is bulk, so
// the second staging is refused and nothing of it reaches the site. Thirteen
// months after the first, the second alone is inside the band again.
func TestStageBulkAcrossStagings(t *testing.T) {
	eng, countries := builtinLaw(t)
	f := newFixture(t, 2, 64<<10, "")
	f.ds.Metadata.Name = "health-a"
	f.ds.Spec.Origin, f.ds.Spec.Classification, f.ds.Spec.Subjects, f.ds.Spec.TransferBases = "US", catalog.ClassSensitivePersonal, 9999, nil
	f.add(t)
	f.site.Spec.Country = "US"
	st := f.stager()
	st.Law = eng
	lab := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}}
	req := f.request()
	req.Query = policy.Query{Countries: countries, Org: lab, Exports: FileLedgerExports(f.ledger.Path)}
	st.Now = func() time.Time { return time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC) }
	res, err := st.Stage(context.Background(), req)
	if err != nil {
		t.Fatalf("the first 9,999 are inside the band: %v", err)
	}
	if !slices.ContainsFunc(res.Decision.Advisories, func(f policy.Finding) bool { return f.Rule == "us-doj-dsp-2025" }) {
		t.Fatalf("the first 9,999 must draw the band's advisory: %+v", res.Decision)
	}

	second := *f.ds
	second.Metadata.Name = "health-b"
	f.ds = &second
	f.add(t)
	req.Dataset = &second
	st.Now = func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }
	_, err = st.Stage(context.Background(), req)
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("the second 9,999 within 12 months: %v, want a denial", err)
	}
	i := slices.IndexFunc(de.Denials, func(f policy.Finding) bool { return f.Rule == "us-doj-dsp-2025" })
	if i < 0 {
		t.Fatalf("denials %+v lack us-doj-dsp-2025", de.Denials)
	}
	if m := de.Denials[i].Message; !strings.Contains(m, "19998 sensitive-personal") || !strings.Contains(m, "health-a of lab: 9999 sensitive-personal, ledger, staged in US") {
		t.Errorf("the denial does not show what the ledger counted: %q", m)
	}
	recs, err := readFileLedger(f.ledger.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Payload), "health-b") {
			t.Fatalf("a refused staging wrote to the ledger: %s", r.Payload)
		}
	}

	q := req.Query
	q.AsOf = catalog.MustDate("2027-02-16")
	if d := eng.EvaluateTransfer(q, &second, "US"); !d.Allowed {
		t.Fatalf("13 months after the first, the second alone is inside the band: %+v", d.Denials)
	}
}

// builtinLaw is the built-in policy engine and countries, as a server
// starts with them.
func builtinLaw(t *testing.T) (*policy.Engine, map[string]*catalog.Country) {
	t.Helper()
	eng, err := policy.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	countries, err := catalog.BuiltinCountries()
	if err != nil {
		t.Fatal(err)
	}
	return eng, countries
}
