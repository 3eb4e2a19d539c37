package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// privateSites serves a catalog with a site private to tenant a's lab,
// whose pool a's lab owns.
type privateSites struct {
	Controller
	site *catalog.Site
}

func (p privateSites) Sites() ([]*catalog.Site, error)         { return []*catalog.Site{p.site}, nil }
func (p privateSites) Site(name string) (*catalog.Site, error) { return p.site, nil }

// TestCatalogSitesHideOtherTenantsOrgs: GET /v1/catalog/sites and
// /v1/catalog/sites/{name} showed every tenant the operator's whole
// entry, so tenant b read that tenant a has an organisation called
// secret-lab ("accessOrganizations": ["a/secret-lab"], "owner":
// "organization:a/secret-lab"). Tenant b now reads another tenant's
// organisation in its place; tenant a still reads its own.
func TestCatalogSitesHideOtherTenantsOrgs(t *testing.T) {
	site := &catalog.Site{Spec: catalog.SiteSpec{Country: "SG", Access: catalog.AccessPrivate,
		AccessOrganizations: []string{"a/secret-lab", "b/ops"},
		Pools:               []catalog.Pool{{Accelerator: "nvidia-h100-sxm", Count: 8, Owner: "organization:a/secret-lab"}}}}
	site.Metadata.Name = "sg-private"
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { return privateSites{c, site} }})
	get := func(path, token string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !json.Valid(data) {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, data)
		}
		return string(data)
	}
	for _, path := range []string{"/v1/catalog/sites", "/v1/catalog/sites/sg-private"} {
		b := get(path, tokB)
		if strings.Contains(b, "secret-lab") || !strings.Contains(b, `"b/ops"`) || strings.Count(b, "another tenant") != 2 {
			t.Errorf("tenant b, GET %s: %s; want a's organisation unnamed (twice) and its own b/ops", path, b)
		}
		a := get(path, tokA)
		if !strings.Contains(a, `"a/secret-lab"`) || !strings.Contains(a, `"organization:a/secret-lab"`) || strings.Contains(a, "b/ops") {
			t.Errorf("tenant a, GET %s: %s; want its own organisation named, b's not", path, a)
		}
	}
	if site.Spec.AccessOrganizations[0] != "a/secret-lab" || site.Spec.Pools[0].Owner != "organization:a/secret-lab" {
		t.Errorf("the answer changed the catalog's site: %+v", site.Spec)
	}
}
