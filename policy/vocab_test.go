package policy

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/catalog"
)

// TestVocabulary proves the two lists are one: every legal basis a
// Dataset may declare is counted by at least one built-in rule, and every
// basis a built-in rule counts can be declared.
func TestVocabulary(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	accepted := e.AcceptedBases()
	var declarable, counted []string
	declarable = append(declarable, catalog.TransferBases...)
	for b := range accepted {
		counted = append(counted, b)
	}
	sort.Strings(declarable)
	sort.Strings(counted)
	if diff := cmp.Diff(declarable, counted); diff != "" {
		t.Errorf("bases a Dataset may declare (-) and bases the built-in rules count (+) differ:\n%s", diff)
	}
	for b := range catalog.RetiredBases {
		if len(accepted[b]) > 0 {
			t.Errorf("retired basis %s is counted by %v", b, accepted[b])
		}
	}
}

// basisCase declares one basis on a dataset that a rule restricts, so the
// test can see the basis counted.
type basisCase struct {
	basis, rule, origin, class, org, to, asOf string
	subjects                                  int64
}

var basisCases = []basisCase{
	{"eu-scc", "eu-gdpr-ch5", "DE", "personal", "eu-lab", "SG", "2025-07-20", 50000},
	{"eu-bcr", "eu-gdpr-ch5", "DE", "personal", "eu-lab", "SG", "2025-07-20", 50000},
	{"eu-art49-derogation", "eu-gdpr-ch5", "DE", "personal", "eu-lab", "SG", "2025-07-20", 50000},
	{"eu-dpf", "eu-gdpr-ch5", "DE", "personal", "eu-lab", "US", "2025-07-20", 50000},
	{"consent", "eu-gdpr-ch5", "DE", "personal", "eu-lab", "SG", "2025-07-20", 50000},
	{"consent", "cn-pipl-39-consent", "CN", "personal", "cn-lab", "SG", "2025-07-20", 50000},
	{"cn-security-assessment", "cn-cbdf-2024-assessment", "CN", "personal", "cn-lab", "SG", "2025-07-20", 2000000},
	{"cn-security-assessment", "cn-cbdf-2024-important-data", "CN", "important", "cn-lab", "SG", "2025-07-20", 0},
	{"cn-standard-contract", "cn-cbdf-2024-contract", "CN", "personal", "cn-lab", "SG", "2025-07-20", 300000},
	{"cn-certification", "cn-cbdf-2024-contract", "CN", "sensitive-personal", "cn-lab", "SG", "2026-02-01", 5000},
	{"cn-exemption", "cn-cbdf-2024-assessment", "CN", "personal", "cn-lab", "SG", "2025-07-20", 2000000},
	{"vn-tia", "vn-decree13-tia", "VN", "personal", "eu-lab", "SG", "2025-07-20", 10000},
	{"in-permitted", "in-dpdp-s16", "IN", "personal", "eu-lab", "SG", "2025-12-01", 10000},
}

// TestEveryBasisCounts: a compliance officer who declares any basis the
// tool lists sees it counted: the rule that restricts the dataset without
// it is lifted (or no longer applies) with it, and the transfer records it.
func TestEveryBasisCounts(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	covered := map[string]bool{}
	for _, c := range basisCases {
		covered[c.basis] = true
		t.Run(c.basis+"/"+c.rule, func(t *testing.T) {
			ds := &catalog.Dataset{Metadata: catalog.Metadata{Name: "declared"},
				Spec: catalog.DatasetSpec{Origin: c.origin, Classification: c.class, Subjects: c.subjects, SizeBytes: 1e9}}
			q := w.query(t, c.asOf, c.org, jobSpec{}, 0)
			without := e.EvaluateTransfer(q, ds, c.to)
			var before *Finding
			for _, eff := range Effects {
				if f := findRule(bucket(without, eff), c.rule); f != nil {
					before = f
				}
			}
			if before == nil {
				t.Fatalf("without %s, %s does not apply: %+v", c.basis, c.rule, without)
			}
			with := *ds
			with.Spec.TransferBases = []string{c.basis}
			d := e.EvaluateTransfer(q, &with, c.to)
			if findRule(d.Denials, c.rule) != nil {
				t.Fatalf("with %s declared, %s still denies: %+v", c.basis, c.rule, d.Denials)
			}
			var after *Finding
			for _, eff := range Effects {
				if f := findRule(bucket(d, eff), c.rule); f != nil {
					after = f
				}
			}
			if after != nil && !strings.Contains(after.Message, "lifted by basis "+c.basis) {
				t.Errorf("with %s declared, %s does not say the basis counted: %q", c.basis, c.rule, after.Message)
			}
			if len(d.Transfers) != 1 || (after != nil && !strings.Contains(d.Transfers[0].Basis, c.basis)) {
				t.Errorf("the transfer does not record basis %s: %+v", c.basis, d.Transfers)
			}
		})
	}
	for _, b := range catalog.TransferBases {
		if !covered[b] {
			t.Errorf("basis %s has no case showing it counted", b)
		}
	}
}

// TestVocabularyAtLoad: a pack that names a basis, a classification or a
// restricted-party status outside the vocabulary is refused with the
// file, the rule and the field.
func TestVocabularyAtLoad(t *testing.T) {
	for _, c := range []struct{ name, cond, lift, want string }{
		{"lift basis", "dataset.personal", "eu-art49", `liftedBy.bases[0]: "eu-art49" is not a legal basis`},
		{"retired basis", "dataset.personal", "uk-idta", "retired: no built-in rule governs UK transfers"},
		{"basis in condition", "'eu-dfp' in dataset.bases", "", `dataset.bases is compared with "eu-dfp"`},
		{"classification", "dataset.class == 'sensitive'", "", `dataset.class is compared with "sensitive"`},
		{"class list", "dataset.class in ['personal', 'secret']", "", `"secret", which is not in its vocabulary`},
		{"status", "org.restricted != 'sdn'", "", `org.restricted is compared with "sdn"`},
		{"attribute", "'ciio' in org.attributes", "", `org.attributes is compared with "ciio"`},
		{"ledger class", "ledger.subjectsExported('CN', '2025-01-01', 'private') > 0", "", `"private", which is not in its vocabulary`},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: v}
rules:
  - id: vocab-rule
    jurisdiction: ORG
    kind: org-policy
    scope: transfer
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [policy]
    message: "dataset {dataset.name}"
    condition: "` + c.cond + `"
`
			if c.lift != "" {
				src += "    liftedBy: {bases: [" + c.lift + "]}\n"
			}
			_, err := New(Options{NoBuiltin: true, Files: []File{{Name: "v.yaml", Data: []byte(src)}}})
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "v.yaml:5: ") || !strings.Contains(err.Error(), `rule "vocab-rule"`) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want file:line, rule and %q", err, c.want)
			}
		})
	}
}
