package catalog

import (
	"strings"
	"testing"
)

// TestLocationIsASite: spec.location names the site where a dataset's data
// is stored; the law reads it only as a site and denies anything else ("not
// a known site"). The loader took a country code there (the origin's or
// another's) and every plan and transfer of the dataset was then denied,
// far from the document. Such a location is refused at load, naming
// spec.location and saying what to write instead; whatever loads is a site
// of the world or no location at all, which is what the law can judge.
func TestLocationIsASite(t *testing.T) {
	load := func(location string) (*World, error) {
		base := mustRead(t)
		doc := strings.Replace(base, "  classification: public\n", "  classification: public\n  location: "+location+"\n", 1)
		if doc == base {
			t.Fatal("valid.yaml changed")
		}
		return loadDoc(t, doc)
	}
	for _, c := range []struct{ loc, want string }{
		{"CN", `"CN" is a country, not a site`}, // the origin: omit it
		{"MY", `"MY" is a country, not a site`}, // the country of site s-1, but not the site
		{"US", `"US" is a country, not a site`}, // elsewhere, not at a site
		{"cn", `no site named "cn"`},            // no country either
		{"s-2", `no site named "s-2"`},          // no such site
	} {
		_, err := load(c.loc)
		if err == nil || !strings.Contains(err.Error(), "spec.location") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("location %s: %v, want a refusal naming spec.location: %s", c.loc, err, c.want)
		}
	}
	w, err := load("s-1")
	if err != nil {
		t.Fatalf("location s-1: %v", err)
	}
	if loc := w.Datasets["data"].Spec.Location; w.Site(loc) == nil {
		t.Errorf("location %q loaded, and it is no site of the world", loc)
	}
}
