package policy

import (
	"strings"
	"testing"
)

// accessPack has an access rule (who may have a dataset at all) and a
// transfer rule on the same data: the first binds wherever the run is,
// the second only when the data moves.
const accessPack = `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: access}
rules:
  - id: org-no-health-data-for-cn
    jurisdiction: ORG
    kind: org-policy
    scope: access
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [policy]
    message: "dataset {dataset.name} may not be given to {org.name} ({org.hq})"
    condition: dataset.class == 'sensitive-personal' && org.hq == 'CN'
  - id: org-health-data-stays-home
    jurisdiction: ORG
    kind: org-policy
    scope: transfer
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [policy]
    message: "dataset {dataset.name} may not go to {transfer.to}"
    condition: dataset.class == 'sensitive-personal'
`

// TestAccessScope: an access rule is judged for every candidate and every
// staging of the dataset, whether or not the data crosses a border, from
// the first (uncached) evaluation to the cached ones; transfer rules still
// run only when the data moves.
func TestAccessScope(t *testing.T) {
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "access.yaml", Data: []byte(accessPack)}}})
	if err != nil {
		t.Fatal(err)
	}
	if ps := Lint(Options{NoBuiltin: true, Files: []File{{Name: "access.yaml", Data: []byte(accessPack)}}}); ps != nil {
		t.Fatalf("lint: %v", ps)
	}
	w := loadTestWorld(t)
	for _, org := range []string{"cn-lab", "us-lab"} {
		s, err := e.Session(w.query(t, "2025-07-20", org, jobSpec{}, 0, "us-health-200k"))
		if err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 2; round++ { // the second round reads the caches
			for _, site := range []string{"us-east-1", "sg-1", "sg-2", "de-frankfurt-1"} {
				d := s.Evaluate(w.candidate(t, site, 0))
				got := ids(d.Denials)
				var want []string
				if org == "cn-lab" {
					want = append(want, "org-no-health-data-for-cn")
				}
				if site != "us-east-1" {
					want = append(want, "org-health-data-stays-home")
				}
				if strings.Join(got, ",") != strings.Join(sorted(want), ",") {
					t.Errorf("%s at %s (round %d): denials %v, want %v", org, site, round, got, want)
				}
				if f := findRule(d.Denials, "org-no-health-data-for-cn"); f != nil && (f.Code != CodeDenied || !strings.Contains(f.Message, "dataset us-health-200k may not be given to cn-lab (CN)")) {
					t.Errorf("access denial %+v: want code denied and the message filled in", f)
				}
			}
		}
		// Staging asks the same question: at home, the access rule alone.
		d := e.EvaluateTransfer(w.query(t, "2025-07-20", org, jobSpec{}, 0), w.datasets["us-health-200k"], "US")
		if want := org == "us-lab"; d.Allowed != want || len(d.Transfers) != 0 {
			t.Errorf("%s staging at home: allowed %v (want %v), transfers %v (want none): %+v", org, d.Allowed, want, d.Transfers, d)
		}
	}
}

// TestAccessScopeFailsClosed: an access rule that reads a fact nobody gave
// (no organisation) denies, naming the fact, at home as abroad.
func TestAccessScopeFailsClosed(t *testing.T) {
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "access.yaml", Data: []byte(accessPack)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	d := e.EvaluateTransfer(w.query(t, "2025-07-20", "", jobSpec{}, 0), w.datasets["us-health-200k"], "US")
	f := findRule(d.Denials, "org-no-health-data-for-cn")
	if d.Allowed || f == nil || f.Code != CodeUndetermined || !strings.Contains(f.Message, "org.hq") {
		t.Fatalf("want a fail-closed denial naming org.hq: %+v", d)
	}
}

// TestAccessScopeFacts: an access rule may read the dataset and who runs
// the job, not where the data goes or the candidate; nor may a transfer
// basis lift it.
func TestAccessScopeFacts(t *testing.T) {
	cases := []struct{ name, old, new, want string }{
		{"transfer", "dataset.class == 'sensitive-personal' && org.hq == 'CN'", "transfer.to == 'CN'", "reads transfer, which is not available here"},
		{"site", "dataset.class == 'sensitive-personal' && org.hq == 'CN'", "site.country == 'CN'", "reads site, which is not available here"},
		{"delivery", "dataset.class == 'sensitive-personal' && org.hq == 'CN'", "delivery.to == 'CN'", "reads delivery, which is not available here"},
		{"message", "may not be given to {org.name} ({org.hq})", "may not go to {transfer.to}", "transfer is not available to access-scope messages"},
		{"basis", "    condition: dataset.class == 'sensitive-personal' && org.hq == 'CN'\n", "    condition: dataset.class == 'sensitive-personal' && org.hq == 'CN'\n    liftedBy: {bases: [eu-scc]}\n", "only transfer-scope rules can be lifted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(accessPack, c.old) {
				t.Fatalf("test setup: %q not in the pack", c.old)
			}
			src := strings.Replace(accessPack, c.old, c.new, 1)
			ps := Lint(Options{NoBuiltin: true, Files: []File{{Name: "access.yaml", Data: []byte(src)}}})
			if len(ps) == 0 || ps[0].Rule != "org-no-health-data-for-cn" || !strings.Contains(ps[0].Message, c.want) {
				t.Fatalf("problems %v: want one naming the rule and %q", ps, c.want)
			}
		})
	}
}
