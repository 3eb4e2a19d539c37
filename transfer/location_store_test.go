package transfer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// locationLaw allows every move and remembers the location each dataset
// it was asked about had.
type locationLaw struct {
	mu   sync.Mutex
	seen []string
}

func (l *locationLaw) EvaluateTransfer(q policy.Query, ds *catalog.Dataset, to string) policy.Decision {
	l.mu.Lock()
	l.seen = append(l.seen, ds.Spec.Location)
	l.mu.Unlock()
	return BasisLaw{}.EvaluateTransfer(q, ds, to)
}

// withOriginSite adds to req's query a catalog site in the origin country
// (cn-shanghai-1) whose store is originStore, beside the destination.
func withOriginSite(f *fixture, req *Request, originStore string) {
	origin := &catalog.Site{Metadata: catalog.Metadata{Name: "cn-shanghai-1"}, Spec: catalog.SiteSpec{Country: "CN", Store: originStore}}
	req.Query.Sites = map[string]*catalog.Site{origin.Metadata.Name: origin, f.site.Metadata.Name: f.site}
}

func siteEmpty(t *testing.T, dir string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(entries) == 0
}

// TestStageRefusesALocationTheStoreContradicts: a tenant names the
// destination site as its dataset's location while the dataset's store is
// in the origin site's store. The law saw no export and the data left China
// anyway. The staging is now refused, naming both fields, before the law is
// asked and before anything reaches the site, however the site's store is
// spelled.
func TestStageRefusesALocationTheStoreContradicts(t *testing.T) {
	for _, spell := range []func(home string) string{
		func(home string) string { return filepath.Dir(strings.TrimPrefix(home, "file://")) }, // the parent, as a path
		func(home string) string { return home + "/" },
		func(home string) string {
			return strings.ToUpper(home[:4]) + "://" + filepath.Dir(strings.TrimPrefix(home, "file://")) + "//./"
		},
		func(home string) string { return "file://localhost" + strings.TrimPrefix(home, "file://") },
	} {
		f := newFixture(t, 1, 1000, "")
		store := spell(f.home)
		if !strings.Contains(store, "://") {
			store = "file://" + store
		}
		req := f.request()
		withOriginSite(f, &req, store)
		for _, loc := range []string{"my-johor-1", "MY"} {
			f.ds.Spec.Location = loc
			law := &locationLaw{}
			st := f.stager()
			st.Law = law
			_, err := st.Stage(context.Background(), req)
			if err == nil || !strings.Contains(err.Error(), "spec.location") || !strings.Contains(err.Error(), "spec.store") {
				t.Fatalf("site store %s, location %s: Stage = %v, want a refusal naming spec.location and spec.store", store, loc, err)
			}
			if len(law.seen) != 0 {
				t.Fatalf("site store %s: the law was asked about locations %q", store, law.seen)
			}
			if !siteEmpty(t, f.siteDir) {
				t.Fatalf("site store %s, location %s: data reached the site", store, loc)
			}
		}
	}
}

// TestStageLocationOfASiteStore: a dataset in the origin site's store
// stages when its location names that site or is omitted, and the law is
// asked about the site either way; a dataset in the tenant's own store
// (no site's: a look-alike prefix of a site's directory is not it) keeps
// its declared location.
func TestStageLocationOfASiteStore(t *testing.T) {
	for _, tc := range []struct {
		name, declared, want string
		siteStore            func(home string) string
	}{
		{"declared", "cn-shanghai-1", "cn-shanghai-1", func(home string) string { return home }},
		{"omitted", "", "cn-shanghai-1", func(home string) string { return filepath.Dir(home) + "/" }},
		{"country", "CN", "cn-shanghai-1", func(home string) string { return home }},
		{"own store", "", "", func(home string) string { return strings.TrimSuffix(home, "home") + "hom" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 1, 1000, "")
			req := f.request()
			withOriginSite(f, &req, tc.siteStore(f.home))
			f.ds.Spec.Location = tc.declared
			law := &locationLaw{}
			st := f.stager()
			st.Law = law
			if _, err := st.Stage(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			if len(law.seen) == 0 || law.seen[0] != tc.want {
				t.Fatalf("the law saw locations %q, want %q", law.seen, tc.want)
			}
			if f.ds.Spec.Location != tc.declared {
				t.Fatalf("the request's dataset was changed: location %q", f.ds.Spec.Location)
			}
			f.verifyAtSite(t)
		})
	}
}
