package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadRefusesALocationTheStoreContradicts: a dataset whose store lies
// in a site's store (however spelled: another case, a trailing slash, other
// parameters, a path that climbs back in) declared another place as its
// location, and the law judged where the data leaves from by that
// declaration. Such a dataset is refused, naming spec.location and
// spec.store; a location that agrees, or none, loads, and the world's copy
// is at the site; a store that only looks like the site's keeps the
// declared location.
func TestLoadRefusesALocationTheStoreContradicts(t *testing.T) {
	const site = "  network: {egressPerGB: 0.1, gbps: 10}\n  store: s3://lab-data?prefix=sites/s1/&region=ap-southeast-1\n"
	load := func(store, location string) (*World, error) {
		base := mustRead(t)
		doc := strings.Replace(base, "  network: {egressPerGB: 0.1, gbps: 10}\n", site, 1)
		ds := "  classification: public\n  store: " + store + "\n"
		if location != "" {
			ds += "  location: " + location + "\n"
		}
		doc = strings.Replace(doc, "  classification: public\n", ds, 1)
		if doc == base {
			t.Fatal("valid.yaml changed")
		}
		return loadDoc(t, doc)
	}
	for _, store := range []string{
		"s3://lab-data?prefix=sites/s1",
		"s3://LAB-DATA?prefix=Sites/S1/data/",
		"'s3://lab-data?prefix=sites/s1x/../s1/data'",
		"'s3://lab-data?region=eu-west-1&prefix=/sites//s1/d'",
	} {
		for _, loc := range []string{"CN", "SG", "aws-us-east-1"} {
			_, err := load(store, loc)
			if err == nil || !strings.Contains(err.Error(), "spec.location") || !strings.Contains(err.Error(), "spec.store") {
				t.Errorf("store %s, location %s: %v, want a refusal naming spec.location and spec.store", store, loc, err)
			}
		}
		for _, loc := range []string{"", "s-1", "MY"} {
			w, err := load(store, loc)
			if err != nil {
				t.Errorf("store %s, location %q: %v", store, loc, err)
				continue
			}
			if got := w.Datasets["data"].Spec.Location; got != "s-1" {
				t.Errorf("store %s, location %q: the world has location %q, want s-1", store, loc, got)
			}
		}
	}
	for _, store := range []string{"s3://lab-data?prefix=sites/s10", "s3://lab-data2?prefix=sites/s1", "file:///sites/s1"} {
		const declared = "cn-beijing-ascend-1" // a built-in site, in another country than s-1
		w, err := load(store, declared)
		if err != nil {
			t.Errorf("own store %s: %v", store, err)
			continue
		}
		if got := w.Datasets["data"].Spec.Location; got != declared {
			t.Errorf("own store %s: location %q, want the declared %s", store, got, declared)
		}
	}
}

func mustRead(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStoreOnAnotherServerIsNotTheSites: a bucket and prefix spelled as a
// site's, on another S3 server (endpoint), is another place. Taken for the
// site's, a dataset there that omits its location was placed at the site,
// and the law judged its bytes, read from that other server, as leaving
// from the site's country. The same server spelled another way (case, the
// scheme's own port) is still the site's.
func TestStoreOnAnotherServerIsNotTheSites(t *testing.T) {
	const site = "  network: {egressPerGB: 0.1, gbps: 10}\n  store: s3://lab-data?prefix=sites/s1&endpoint=https://s3.site.example\n"
	load := func(store string) (*World, error) {
		base := mustRead(t)
		doc := strings.Replace(base, "  network: {egressPerGB: 0.1, gbps: 10}\n", site, 1)
		doc = strings.Replace(doc, "  classification: public\n", "  classification: public\n  store: "+store+"\n", 1)
		if doc == base {
			t.Fatal("valid.yaml changed")
		}
		return loadDoc(t, doc)
	}
	for store, want := range map[string]string{
		"'s3://lab-data?prefix=sites/s1/d&endpoint=https://S3.Site.Example:443'": "s-1",
		"'s3://lab-data?prefix=sites/s1/d&endpoint=https://s3.site.example/'":    "s-1",
		"'s3://lab-data?prefix=sites/s1/d&endpoint=https://s3.own.example'":      "",
		"'s3://lab-data?prefix=sites/s1/d&endpoint=http://s3.site.example'":      "",
		"'s3://lab-data?prefix=sites/s1/d'":                                      "",
	} {
		w, err := load(store)
		if err != nil {
			t.Errorf("store %s: %v", store, err)
			continue
		}
		if got := w.Datasets["data"].Spec.Location; got != want {
			t.Errorf("store %s: location %q, want %q", store, got, want)
		}
	}
}

// TestInnermostSiteByItsPlace: of two sites whose stores both hold a
// dataset's, the one whose prefix is deeper is where it is, however long
// the other's URL is with its parameters.
func TestInnermostSiteByItsPlace(t *testing.T) {
	outer := &Site{Metadata: Metadata{Name: "outer"}, Spec: SiteSpec{Country: "SG",
		Store: "s3://lab-data?prefix=sites&region=ap-southeast-1&use_path_style=true&anonymous=true"}}
	inner := &Site{Metadata: Metadata{Name: "inner"}, Spec: SiteSpec{Country: "SG", Store: "s3://lab-data?prefix=sites/s1"}}
	d := &Dataset{Metadata: Metadata{Name: "d"}, Spec: DatasetSpec{Origin: "SG", Store: "s3://lab-data?prefix=sites/s1/d"}}
	for _, sites := range [][]*Site{{outer, inner}, {inner, outer}} {
		if got, err := DatasetLocation(d, sites); err != nil || got != "inner" {
			t.Errorf("location %q (%v), want inner", got, err)
		}
	}
}

// TestSiteServerSpelledAsOpenStoreReadsIt: an endpoint OpenStore reads as
// the site's server (given without a scheme, or AWS's own named outright)
// is the site's (AWS's over plain HTTP too: the same bucket answers on
// either scheme). Read otherwise, a dataset in the site's bucket kept the
// location its tenant declared, and the law judged its bytes as leaving
// from a country they were not in.
func TestSiteServerSpelledAsOpenStoreReadsIt(t *testing.T) {
	custom := &Site{Metadata: Metadata{Name: "custom"}, Spec: SiteSpec{Country: "SG", Store: "s3://lab-data?prefix=sites/s1&endpoint=https://s3.site.example"}}
	aws := &Site{Metadata: Metadata{Name: "aws"}, Spec: SiteSpec{Country: "SG", Store: "s3://aws-data?prefix=sites/s2"}}
	sites := []*Site{custom, aws}
	for store, want := range map[string]string{
		"s3://lab-data?prefix=sites/s1/d&endpoint=s3.site.example":                     "custom",
		"s3://lab-data?prefix=sites/s1/d&endpoint=S3.Site.Example:443":                 "custom",
		"s3://lab-data?prefix=sites/s1/d&endpoint=s3.site.example&disable_https=true":  "",
		"s3://aws-data?prefix=sites/s2/d&endpoint=https://s3.amazonaws.com":            "aws",
		"s3://aws-data?prefix=sites/s2/d&endpoint=s3.amazonaws.com":                    "aws",
		"s3://aws-data?prefix=sites/s2/d&endpoint=s3.amazonaws.com&disable_https=true": "aws",
		"s3://aws-data?prefix=sites/s2/d&endpoint=https://s3.own.example":              "",
	} {
		d := &Dataset{Metadata: Metadata{Name: "d"}, Spec: DatasetSpec{Origin: "SG", Store: store}}
		if got, err := DatasetLocation(d, sites); err != nil || got != want {
			t.Errorf("store %s: location %q (%v), want %q", store, got, err, want)
		}
	}
}

// TestS3PrefixDotsAreKeys: S3 keeps "." and ".." in a key as they are, so
// a prefix that climbs out of a site's by its dots still names keys
// beneath the site's prefix. Cleaned as a path only, such a dataset
// escaped the site and kept the location its tenant declared.
func TestS3PrefixDotsAreKeys(t *testing.T) {
	site := &Site{Metadata: Metadata{Name: "s-1"}, Spec: SiteSpec{Country: "SG", Store: "s3://lab-data?prefix=sites/s1"}}
	for store, want := range map[string]string{
		"s3://lab-data?prefix=sites/s1/../elsewhere":  "s-1",
		"s3://lab-data?prefix=sites/s1/./../../other": "s-1",
		"s3://lab-data?prefix=sites/s1x/../s1/data":   "s-1",
		"s3://lab-data?prefix=sites/s2/../s3":         "",
	} {
		d := &Dataset{Metadata: Metadata{Name: "d"}, Spec: DatasetSpec{Origin: "SG", Store: store}}
		if got, err := DatasetLocation(d, []*Site{site}); err != nil || got != want {
			t.Errorf("store %s: location %q (%v), want %q", store, got, err, want)
		}
	}
}
