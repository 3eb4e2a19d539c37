package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOrganizationScreeningNamesBounded: screening compares every name of
// an organisation with every name on the imported list, so an
// organisation with thousands of aliases (a few KB each, well within a
// request's body) costs the server minutes to hours per plan. Aliases and
// addresses are bounded, the error naming the field; the bound itself is
// accepted.
func TestOrganizationScreeningNamesBounded(t *testing.T) {
	doc := func(field string, n int) string {
		var b strings.Builder
		b.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec:\n  headquarters: DE\n  " + field + ":\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "    - Example Frontier Model Lab %d\n", i)
		}
		return b.String()
	}
	for _, field := range []string{"aliases", "addresses"} {
		if _, err := loadDoc(t, doc(field, MaxScreeningNames)); err != nil {
			t.Errorf("%s: %d accepted? %v", field, MaxScreeningNames, err)
		}
		_, err := loadDoc(t, doc(field, MaxScreeningNames+1))
		if err == nil || !strings.Contains(err.Error(), "spec."+field) {
			t.Errorf("%s: %d: got %v, want an error naming spec.%s", field, MaxScreeningNames+1, err, field)
		}
	}
}

// loadDoc loads one file holding doc, with the built-in catalog.
func loadDoc(t *testing.T, doc string) (*World, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "org.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(testKeys, "", path)
}

// TestLongScreeningNameNamesItsField: a name over 1,024 bytes was reported
// as "spec.legalName, aliases or addresses: entry 3", counting through the
// three lists; the error names the field and index the user wrote.
func TestLongScreeningNameNamesItsField(t *testing.T) {
	long := strings.Repeat("n", 1025)
	doc := "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec:\n  headquarters: DE\n" +
		"  legalName: " + long + "\n  aliases: [a, b]\n  addresses: [c, " + long + "]\n"
	_, err := loadDoc(t, doc)
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("got %v, want two errors", err)
	}
	for i, want := range []struct {
		field string
		line  int
	}{{"spec.legalName", 6}, {"spec.addresses[1]", 8}} {
		if es[i].Field != want.field || es[i].Line != want.line || !strings.Contains(es[i].Msg, "1025 bytes") {
			t.Errorf("error %d: %s:%d %q, want %s on line %d", i, es[i].Field, es[i].Line, es[i].Msg, want.field, want.line)
		}
	}
}

// TestOrganizationScreeningTextBounded: 64 aliases of a kilobyte each
// made one screening against a 10,000-entry list take over ten minutes,
// as its cost grows with the length of every name compared. The legal
// name and aliases together are bounded, the error naming the field and
// the bound.
func TestOrganizationScreeningTextBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec:\n  headquarters: DE\n  aliases:\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "    - Example Frontier Model Laboratory of Applied Research Nr %d\n", i)
	}
	_, err := loadDoc(t, b.String())
	if err == nil || !strings.Contains(err.Error(), "spec.aliases") || !strings.Contains(err.Error(), fmt.Sprint(MaxScreeningText)) {
		t.Errorf("got %v, want an error naming spec.aliases and the bound %d", err, MaxScreeningText)
	}
}

// TestFactListsBounded: the lists the law reads as facts are bounded
// (MaxFactItems), as the policy engine bounds a rule's cost for facts of
// that size; a job naming a weights-delivery country half a million times
// cost seconds of rule evaluation per plan. The bound itself is accepted;
// over it, the error names the field.
func TestFactListsBounded(t *testing.T) {
	list := func(item string, n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+", ", n), ", ") + "]"
	}
	doc := func(orgSpec, jobSpec string) string {
		return "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec:\n  headquarters: DE\n" + orgSpec +
			"---\napiVersion: meridian.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: j}\nspec:\n  organization: lab\n  model: {parameters: 1e9}\n" +
			"  method: pretrain\n  tokens: 1e9\n" + jobSpec
	}
	for _, c := range []struct{ field, org, job string }{
		{"spec.attributes", "  attributes: %s\n", ""},
		{"spec.affiliates", "  affiliates: %s\n", ""},
		{"spec.licenses", "  licenses: %s\n", ""},
		{"spec.weightsDelivery", "", "  weightsDelivery: %s\n"},
		{"spec.release.markets", "", "  release: {markets: %s}\n"},
	} {
		item := map[string]string{"spec.attributes": "state-funded", "spec.affiliates": "other-lab", "spec.licenses": "{rule: r1}"}[c.field]
		if item == "" {
			item = "US"
		}
		for _, n := range []int{MaxFactItems, MaxFactItems + 1} {
			o, j := c.org, c.job
			if o != "" {
				o = fmt.Sprintf(o, list(item, n))
			} else {
				j = fmt.Sprintf(j, list(item, n))
			}
			_, err := loadDoc(t, doc(o, j))
			switch {
			case n == MaxFactItems && err != nil:
				t.Errorf("%s: %d items refused: %v", c.field, n, err)
			case n > MaxFactItems && (err == nil || !strings.Contains(err.Error(), c.field+": ")):
				t.Errorf("%s: %d items: got %v, want an error naming %s", c.field, n, err, c.field)
			}
		}
	}
	bases := doc("", "  datasets: [d]\n") + "---\napiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: d}\nspec: {origin: DE, classification: public, transferBases: " + list("eu-scc", MaxFactItems+1) + "}\n"
	if _, err := loadDoc(t, bases); err == nil || !strings.Contains(err.Error(), "spec.transferBases: ") {
		t.Errorf("a dataset with %d transfer bases: got %.300v, want an error naming spec.transferBases", MaxFactItems+1, err)
	}
	// The job's datasets: each is judged for every candidate's country,
	// and counted with the others of its origin.
	var datasets strings.Builder
	names := make([]string, MaxFactItems+1)
	for i := range names {
		names[i] = fmt.Sprintf("d%d", i)
		fmt.Fprintf(&datasets, "---\napiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: %s}\nspec: {origin: DE, classification: public}\n", names[i])
	}
	for _, n := range []int{MaxFactItems, MaxFactItems + 1} {
		_, err := loadDoc(t, doc("", "  datasets: ["+strings.Join(names[:n], ", ")+"]\n")+datasets.String())
		switch {
		case n == MaxFactItems && err != nil:
			t.Errorf("spec.datasets: %d datasets refused: %.300v", n, err)
		case n > MaxFactItems && (err == nil || !strings.Contains(err.Error(), "spec.datasets: ")):
			t.Errorf("spec.datasets: %d datasets: got %.300v, want an error naming spec.datasets", n, err)
		}
	}
	twice := doc("", "  datasets: [d0, d1, d0]\n") + datasets.String()
	if _, err := loadDoc(t, twice); err == nil || !strings.Contains(err.Error(), `spec.datasets[2]: "d0" is listed already (spec.datasets[0])`) {
		t.Errorf("a job naming a dataset twice: got %.300v, want an error naming spec.datasets[2]", err)
	}
	long := strings.Replace(doc("", ""), "model: {parameters: 1e9}", "model: {parameters: 1e9, base: {name: "+strings.Repeat("b", MaxFactItems+1)+"}}", 1)
	if _, err := loadDoc(t, long); err == nil || !strings.Contains(err.Error(), "spec.model.base.name") {
		t.Errorf("a base model name of %d bytes: got %v, want an error naming spec.model.base.name", MaxFactItems+1, err)
	}
}
