package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/catalog"
)

const goodRule = `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: t}
rules:
  - id: r1
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [policy]
    message: "site {site.country}"
    condition: site.country == 'SG'
`

// TestParsePackErrors checks that each kind of bad rule file is refused with
// the file, the line and the field named.
func TestParsePackErrors(t *testing.T) {
	cases := []struct {
		name, old, new string
		want           []string
	}{
		{"bad kind", "kind: org-policy", "kind: vibes", []string{"t.yaml:7:", `rule "r1": kind`, `"vibes"`, "export-control"}},
		{"bad effect", "effect: deny", "effect: block", []string{"t.yaml:8:", "rule \"r1\": effect:", "deny, obligation, advisory"}},
		{"bad confidence", "confidence: confirmed", "confidence: sure", []string{"t.yaml:11:", ": confidence:", "unconfirmed"}},
		{"bad enforcement", "enforcement: in-force", "enforcement: maybe", []string{"t.yaml:", "enforcement", "suspended-until"}},
		{"bad suspension date", "enforcement: in-force", "enforcement: suspended-until soon", []string{"suspended-until YYYY-MM-DD"}},
		{"no sources", "    sources: [policy]\n", "", []string{"sources:", "required"}},
		{"message without fact", `message: "site {site.country}"`, `message: "no"`, []string{"t.yaml:13:", "message:", "{var.field}"}},
		{"unknown field", "    kind: org-policy\n", "    kind: org-policy\n    colour: red\n", []string{"t.yaml", "colour"}},
		{"bad id", "id: r1", "id: R_1", []string{"id:", `"R_1"`}},
		{"until before from", "effectiveFrom: 2024-01-01", "effectiveFrom: 2024-01-01\n    effectiveUntil: 2023-01-01", []string{"effectiveUntil", "not after"}},
		{"bad date", "effectiveFrom: 2024-01-01", "effectiveFrom: 2024-13-01", []string{"t.yaml", "YYYY-MM-DD"}},
		{"wrong kind of file", "kind: RulePack", "kind: Site", []string{"t.yaml:2:", "kind", "RulePack"}},
		{"basis lift on candidate rule", "    condition: site.country == 'SG'\n", "    condition: site.country == 'SG'\n    liftedBy: {bases: [eu-scc]}\n", []string{"liftedBy.bases", "transfer-scope"}},
		{"two documents", "", "---\n" + goodRule, []string{"exactly one YAML document"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := goodRule
			if c.old == "" {
				src = goodRule + c.new
			} else {
				if !strings.Contains(src, c.old) {
					t.Fatalf("test setup: %q not in the good rule", c.old)
				}
				src = strings.Replace(src, c.old, c.new, 1)
			}
			_, err := ParsePack("t.yaml", []byte(src))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := ParsePack("t.yaml", []byte(goodRule)); err != nil {
		t.Fatalf("the good rule is refused: %v", err)
	}
}

// TestCompileErrors checks errors found when conditions are compiled.
func TestCompileErrors(t *testing.T) {
	cases := []struct{ name, old, new, want string }{
		{"syntax", "condition: site.country == 'SG'", "condition: site.country ==", "condition:"},
		{"not bool", "condition: site.country == 'SG'", "condition: site.country", ""},
		{"wrong scope variable", "condition: site.country == 'SG'", "condition: dataset.personal", "reads dataset, which is not available here"},
		{"undefined definition", "condition: site.country == 'SG'", "condition: def.nothing", "def.nothing, which no pack defines"},
		{"message variable out of scope", `message: "site {site.country}"`, `message: "data {dataset.name}"`, "dataset is not available to candidate-scope messages"},
		{"unknown fact", "condition: site.country == 'SG'", "condition: site.contry == 'SG'", "site.contry, which is not a fact"},
		{"unknown fact in message", `message: "site {site.country}"`, `message: "site {site.cuntry}"`, "site.cuntry, which is not a fact"},
		{"word not in vocabulary", "condition: site.country == 'SG'", "condition: org.restricted == 'entity_list'", `"entity_list", which is not in its vocabulary`},
		{"undefined threshold", "condition: site.country == 'SG'", "condition: acc.tpp > threshold.nope", "threshold.nope, which no pack defines"},
		{"too costly", "condition: site.country == 'SG'", "condition: site.groups.all(a, site.groups.all(b, site.groups.all(c, a + b + c != '')))", "too costly"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := strings.Replace(goodRule, c.old, c.new, 1)
			if err := os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := New(Options{Dirs: []string{dir}, NoBuiltin: true})
			if c.name == "not bool" {
				// A dyn-typed condition compiles; a non-bool value fails closed at run time.
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "t.yaml:5") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want the rule's line (t.yaml:5) and %q", err, c.want)
			}
		})
	}
	t.Run("duplicate of a built-in id", func(t *testing.T) {
		dir := t.TempDir()
		src := strings.Replace(goodRule, "id: r1", "id: eu-gdpr-ch5", 1)
		if err := os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := New(Options{Dirs: []string{dir}})
		if err == nil || !strings.Contains(err.Error(), "id: already used at built-in:packs/40-data-transfer.yaml") {
			t.Fatalf("want a duplicate-id error naming the built-in file: %v", err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		if _, err := New(Options{Dirs: []string{filepath.Join(t.TempDir(), "nope")}}); err == nil {
			t.Fatal("accepted")
		}
	})
}

// TestEnforcementAt checks dated enforcement, including a suspension that ends.
func TestEnforcementAt(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ rule, date, state string }{
		{"us-ear-affiliates-2025", "2025-09-28", StateNotYet},
		{"us-ear-affiliates-2025", "2025-09-29", StateActive},
		{"us-ear-affiliates-2025", "2025-11-09", StateActive},
		{"us-ear-affiliates-2025", "2025-11-10", "suspended until 2026-11-10"},
		{"us-ear-affiliates-2025", "2026-11-09", "suspended until 2026-11-10"},
		{"us-ear-affiliates-2025", "2026-11-10", StateActive},
		{"us-ear-aidiff-2025-tier3", "2025-01-12", StateNotYet},
		{"us-ear-aidiff-2025-tier3", "2025-01-13", StateActive},
		{"us-ear-aidiff-2025-tier3", "2025-05-13", StateNotEnforced},
		{"us-eo-14110-reporting", "2025-01-19", StateActive},
		{"us-eo-14110-reporting", "2025-01-20", StateExpired},
	}
	for _, c := range cases {
		t.Run(c.rule+"@"+c.date, func(t *testing.T) {
			r, _ := e.Rule(c.rule)
			got := r.Status(catalog.MustDate(c.date))
			if got.State != c.state || got.Active != (c.state == StateActive) {
				t.Errorf("state %q active %v, want %q", got.State, got.Active, c.state)
			}
		})
	}
}

// TestRulesListing checks Rules is sorted, complete and marks non-confirmed
// deny rules as advisories.
func TestRulesListing(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	list := e.Rules(catalog.MustDate("2025-12-01"))
	kinds := map[string]bool{}
	for i, r := range list {
		if i > 0 && list[i-1].ID >= r.ID {
			t.Errorf("not sorted at %s", r.ID)
		}
		kinds[r.Kind] = true
		if r.Source == "" {
			t.Errorf("%s has no source", r.ID)
		}
		rule, _ := e.Rule(r.ID)
		if rule.Effect == Deny && rule.Confidence != Confirmed && r.Effect != Advisory {
			t.Errorf("%s: %s deny rule listed as %s", r.ID, rule.Confidence, r.Effect)
		}
	}
	var missing []string
	for _, k := range RuleKinds {
		if k != KindOrgPolicy && !kinds[k] {
			missing = append(missing, k)
		}
	}
	if diff := cmp.Diff([]string(nil), missing); diff != "" {
		t.Errorf("built-in packs lack rule kinds: %s", diff)
	}
}

// FuzzParsePack feeds arbitrary bytes to the rule-file parser and the
// compiler: they may refuse, never panic.
func FuzzParsePack(f *testing.F) {
	f.Add([]byte(goodRule))
	entries, err := builtinPacks.ReadDir("packs")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, _ := builtinPacks.ReadFile("packs/" + e.Name())
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePack("fuzz.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatal("a pack returned with an error")
			}
			return
		}
		_, _ = compile([]*Pack{p})
	})
}
