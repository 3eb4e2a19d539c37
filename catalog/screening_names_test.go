package catalog

import (
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
